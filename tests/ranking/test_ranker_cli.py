from __future__ import annotations

from typer.testing import CliRunner

from xpollinate.cli.main import app


def test_ranker_help_and_bad_options() -> None:
    runner = CliRunner()
    res = runner.invoke(app, ["ranker", "--help"])
    assert res.exit_code == 0 and "prepare" in res.output and "train" in res.output and "eval" in res.output
    res = runner.invoke(app, ["ranker", "train", "--model", "gpt"])
    assert res.exit_code == 2 and "--model: 'gpt'" in res.output
    res = runner.invoke(app, ["ranker", "train", "--loss", "focal"])
    assert res.exit_code == 2 and "--loss: 'focal'" in res.output


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
    assert res.exit_code == 2 and "--schedule: 'step'" in res.output
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
