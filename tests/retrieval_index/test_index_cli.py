"""`xp index build|search` through Typer's runner (the sub-app, as `cli/main.py` registers it)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from xpollinate.cli import index

runner = CliRunner()
xp = typer.Typer()
xp.add_typer(index.app, name="index")


@pytest.fixture
def home(tmp_path: Path, fixture_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A run directory holding a copy of the fixture store and nothing else."""
    shutil.copytree(fixture_home / "data", tmp_path / "data")
    monkeypatch.setenv("XP_HOME", str(tmp_path))
    return tmp_path


def test_build_then_search_with_expansion(home: Path) -> None:
    first = runner.invoke(xp, ["index", "build"])
    assert first.exit_code == 0, first.output
    assert "catalog index built: 6 GM items" in first.output
    again = runner.invoke(xp, ["index", "build"])
    assert again.exit_code == 0 and "up to date" in again.output
    found = runner.invoke(xp, ["index", "search", "coffee filter paper", "--k", "2", "--expand"])
    assert found.exit_code == 0, found.output
    lines = [line for line in found.output.splitlines() if "│" in line]
    assert "Coffee Filters" in lines[0] and "query" in lines[0]
    assert any("same pt of" in line or "neighbour pt of" in line for line in lines[2:])


def test_search_without_index_says_how_to_build(home: Path) -> None:
    result = runner.invoke(xp, ["index", "search", "egg poacher", "--model", "mpnet"])
    assert result.exit_code == 2
    assert "xp index build --model mpnet" in result.output


def test_unknown_model_is_refused(home: Path) -> None:
    result = runner.invoke(xp, ["index", "build", "--model", "bert"])
    assert result.exit_code == 2
    assert "minilm" in result.output and "mpnet" in result.output
