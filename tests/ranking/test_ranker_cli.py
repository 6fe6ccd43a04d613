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
    before = current_run(rank_home).name
    try:
        res = runner.invoke(app, ["ranker", "train", "--model", "identity", "--epochs", "2", "--patience", "5",
                                  "--schedule", "cosine", "--workers", "2", "--train-until", "8", "--val-until", "10"])
        assert res.exit_code == 0, res.output
        # one line per epoch as it ends (a log file gets them too, where a progress bar only draws at the end)
        assert "epoch 1: loss" in res.output and "epoch 2: loss" in res.output and "validation NDCG@4" in res.output
        assert res.output.count("epoch 1: loss") == 1 and "(epoch 2 of 2)" in res.output  # only rank 0 reports
        assert "identity+cos+pop-listwise-basket-c50-s0-e2-p5" in res.output
    finally:
        set_current(before, rank_home)
