from __future__ import annotations

from typer.testing import CliRunner

from xpollinate.cli.main import app


def test_ranker_help_and_bad_options() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["ranker", "--help"])
    assert res.exit_code == 0 and "prepare" in res.output and "train" in res.output and "eval" in res.output
    res = runner.invoke(app, ["ranker", "train", "--model", "gpt"])
    assert res.exit_code == 2 and "'--model': Value error, 'gpt' is not one of 'xp', 'transformer'" in " ".join(
        res.output.replace("│", " ").split()
    )
    res = runner.invoke(app, ["ranker", "train", "--loss", "focal"])
    assert res.exit_code == 2 and "'--loss': Value error, 'focal' is not one of" in " ".join(
        res.output.replace("│", " ").split()
    )


def test_ranker_use_lists_runs_and_moves_current(fixture_run, rank_home, monkeypatch) -> None:
    from xpollinate.ranking.artifacts import current_run

    monkeypatch.setenv("XP_HOME", str(rank_home))
    runner = CliRunner()
    name = current_run(rank_home).name
    res = runner.invoke(app, ["ranker", "use"])
    assert res.exit_code == 0 and f"* {name}" in res.output
    res = runner.invoke(app, ["ranker", "use", "no-such-run"])
    assert res.exit_code == 2 and "no saved ranker run 'no-such-run'" in res.output and name in res.output
    res = runner.invoke(app, ["ranker", "use", name])
    assert res.exit_code == 0 and current_run(rank_home).name == name


def test_ranker_train_prints_each_epoch_and_refuses_a_bad_schedule(fixture_run, rank_home, monkeypatch) -> None:
    from xpollinate.ranking.artifacts import current_run, set_current

    monkeypatch.setenv("XP_HOME", str(rank_home))
    runner = CliRunner()
    res = runner.invoke(app, ["ranker", "train", "--schedule", "step"])
    assert res.exit_code == 2 and "'--schedule': Value error, 'step' is not one of" in " ".join(
        res.output.replace("│", " ").split()
    )
    res = runner.invoke(app, ["ranker", "train", "--dropout", "1.5"])
    assert res.exit_code == 2 and "--dropout" in res.output
    before = current_run(rank_home).name
    try:
        res = runner.invoke(
            app,
            [
                "ranker",
                "train",
                "--model",
                "identity",
                "--epochs",
                "2",
                "--patience",
                "5",
                "--schedule",
                "cosine",
                "--workers",
                "2",
                "--dropout",
                "0",
                "--train-until",
                "8",
                "--val-until",
                "10",
            ],
        )
        assert res.exit_code == 0, res.output
        # one line per epoch as it ends (a log file gets them too, where a progress bar only draws at the end)
        assert "epoch 1: loss" in res.output and "epoch 2: loss" in res.output and "validation NDCG@4" in res.output
        assert res.output.count("epoch 1: loss") == 1 and "epoch 2 of 2)" in res.output  # only rank 0 reports
        assert res.output.count(" s validating; epoch ") == 2  # each epoch's validation time
        assert "identity+cos+pop-listwise-basket-c50-s0-e2-p5-do0" in res.output
    finally:
        set_current(before, rank_home)


def test_ranker_eval_breaks_down_the_chosen_variant_and_refuses_an_unknown_one(
    fixture_run, rank_home, monkeypatch
) -> None:
    monkeypatch.setenv("XP_HOME", str(rank_home))
    runner = CliRunner()
    res = runner.invoke(app, ["ranker", "eval", "--variant", "xp+cos e99", "--train-until", "8", "--val-until", "10"])
    assert res.exit_code == 2 and "--variant: no saved runs of 'xp+cos e99'" in res.output and "xp+pop e1" in res.output
    res = runner.invoke(
        app, ["ranker", "eval", "--variant", "xp+pop e1", "--train-until", "8", "--val-until", "10"], terminal_width=200
    )
    assert res.exit_code == 0, res.output
    assert "Table 15: lift % of xp+pop e1/listwise by cart size" in res.output and "Table 8" in res.output
    table15 = res.output.split("Table 15")[1].split("Cart context")[0]
    assert "<10" in table15 or "10-20" in table15  # at least one cart-size bucket of the fixture's test carts
    assert "Cart context 50 vs 30 (xp+pop e1/listwise)" in res.output


def test_ranker_prepare_merges_a_stored_runs_item_xp_and_refuses_one_that_saw_later_weeks(
    rank_home, monkeypatch
) -> None:
    from tests.graphs.lean import lean_deps, lean_script
    from tests.graphs.scripted import scripted_llm
    from tests.graphs.test_item_xp_graph import ANCHOR
    from xpollinate.graphs.item_xp import build_graph
    from xpollinate.graphs.runner import run_anchor
    from xpollinate.xpstore.item_xp_store import ItemXPStore, store_path

    monkeypatch.setenv("XP_HOME", str(rank_home))
    llm, _ = scripted_llm(lean_script)
    outcome, _ = run_anchor(build_graph("theme", lean_deps(llm)), llm, ANCHOR)
    path = store_path()
    store = ItemXPStore(path)
    try:
        for run, until in (("late", 41), ("held", 8)):
            store.start_run(run, "theme", "scripted:script-1", {"history_until_week": until}, "build-x")
            store.save(run, outcome)
        runner = CliRunner()
        args = ["ranker", "prepare", "--train-until", "8", "--val-until", "10", "--item-xp-run"]
        res = runner.invoke(app, [*args, "late"])
        assert (
            res.exit_code == 2
            and "up to week 41" in res.output
            and "--history-until-week 8" in " ".join(res.output.split())
        )
        res = runner.invoke(app, [*args, "nope"])
        assert res.exit_code == 2 and "no run 'nope'" in res.output
        res = runner.invoke(app, [*args, "held"])
        assert res.exit_code == 0, res.output
        assert "Item XP of 1 anchors" in res.output
    finally:
        store.close()
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
