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
