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
