from __future__ import annotations

from typer.testing import CliRunner

from xpollinate.cli.prompts import app

runner = CliRunner()


def test_list_shows_every_version_with_its_hash() -> None:
    res = runner.invoke(app, ["list"])
    assert res.exit_code == 0, res.output
    from xpollinate.prompts import default_registry

    for t in default_registry().all():
        assert t.ref in res.output and t.short_hash in res.output
    assert "CHANGED" not in res.output


def test_show_prints_declaration_and_text() -> None:
    res = runner.invoke(app, ["show", "evaluator@v2"])
    assert res.exit_code == 0, res.output
    assert "{anchor_item} (str, <= 300 chars)" in res.output
    assert "CROSS-CATEGORY DISCOVERY POTENTIAL (40% weight)" in res.output


def test_diff_and_errors() -> None:
    res = runner.invoke(app, ["diff", "theme@v1", "theme@v2"])
    assert res.exit_code == 0 and "+++ theme@v2" in res.output
    res = runner.invoke(app, ["show", "theme@v7"])
    assert res.exit_code == 2 and "theme has theme@v1, theme@v2" in res.output
