"""The `xp` command line, end to end through the installed console script and Typer's runner."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xpollinate.cli.main import app

runner = CliRunner()


def _env(home: Path, source: Path | None = None) -> dict[str, str]:
    env = {"XP_HOME": str(home)}
    if source:
        env["XP_SOURCE_DIR"] = str(source)
    return env


def test_console_script_help() -> None:
    exe = Path(sys.executable).with_name("xp")
    result = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("data", "assoc", "candidates"):
        assert command in result.stdout


def test_data_build_and_info(tmp_path: Path, fixture_source: Path) -> None:
    env = _env(tmp_path, fixture_source)
    first = runner.invoke(app, ["data", "build"], env=env)
    assert first.exit_code == 0, first.output
    assert "built in" in first.output
    second = runner.invoke(app, ["data", "build"], env=env)
    assert second.exit_code == 0 and "up to date" in second.output
    info = runner.invoke(app, ["data", "info"], env=env)
    assert info.exit_code == 0
    assert "baskets with both OG and GM" in info.output and "600" in info.output
    as_json = runner.invoke(app, ["data", "info", "--json", "-"], env=env)
    assert as_json.exit_code == 0 and json.loads(as_json.output)["counts"]["baskets"] == 600  # JSON only on stdout
    stats = runner.invoke(app, ["cache", "stats", "--json", "-"], env=env)
    assert stats.exit_code == 0 and json.loads(stats.output)["entries"] == 0


def test_candidates_table_and_json(tmp_path: Path, fixture_home: Path, fixture_source: Path) -> None:
    out = tmp_path / "coffee.json"
    result = runner.invoke(
        app,
        [
            "candidates",
            "--anchor",
            "ground coffee",
            "--min-count",
            "5",
            "--pt-min-support",
            "0",
            "--k",
            "5",
            "--json",
            str(out),
        ],
        env=_env(fixture_home, fixture_source),
    )
    assert result.exit_code == 0, result.output
    assert "Coffee Filters" in result.output
    payload = json.loads(out.read_text())
    assert payload["anchor"]["product_type"] == "GROUND COFFEE"
    assert payload["candidates"][0]["product_type"] == "COFFEE FILTERS"
    assert len(payload["candidates"]) <= 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["candidates", "--anchor", "99999999"], "no item with id 99999999"),
        (["candidates", "--anchor", "zzqx"], "nothing in the catalog matches"),
        (["candidates", "--anchor", "coffee", "--pt-min-support", "1.5"], "pt_basket.min_support"),
        (["candidates", "--anchor", "coffee", "--window-weeks", "0"], "window_weeks"),
        (["data", "build", "--weeks", "9-3"], "weeks"),
    ],
)
def test_bad_input_exits_2_with_a_message(
    args: list[str], message: str, fixture_home: Path, fixture_source: Path
) -> None:
    result = runner.invoke(app, args, env=_env(fixture_home, fixture_source))
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_missing_store_message(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "info"], env=_env(tmp_path / "empty"))
    assert result.exit_code == 2 and "xp data build" in result.output


def test_version_and_exit_codes_are_documented() -> None:
    from importlib.metadata import version

    from typer.testing import CliRunner

    from xpollinate.cli.main import app

    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and res.output.strip() == f"xpollinate {version('xpollinate')}"
    res = CliRunner().invoke(app, ["--help"])
    text = " ".join(res.output.split())
    assert "Exit codes: 0 success; 1 a batch" in text and "2 a usage" in text
    res = CliRunner().invoke(app, ["run", "--match-k", "0", "--anchor", "x"])
    assert res.exit_code == 2


def _complete(words: str) -> list[str]:
    """What the console script's bash completion offers for the last word of `words`."""
    exe = Path(sys.executable).with_name("xp")
    env = {"_XP_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(len(words.split(" ")) - 1)}
    result = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, env={**env, "PATH": "/usr/bin"})
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_choices_are_listed_completed_and_checked_by_flag() -> None:
    assert _complete("xp run --plan ") == ["lean", "paper"]
    assert _complete("xp batch --executor ") == ["local", "dask"]
    assert _complete("xp ranker train --model t") == ["transformer"]
    assert "--install-completion" in runner.invoke(app, ["--help"]).output
    assert "theme|naive" in runner.invoke(app, ["run", "--help"], terminal_width=200).output
    bad = runner.invoke(app, ["batch", "--grounding", "web"])
    said = " ".join(bad.output.replace("│", " ").split())  # rich wraps the error in a box
    assert bad.exit_code == 2 and "Invalid value for '--grounding'" in said and "'catalog', 'free'" in said


def test_cli_choices_match_the_code_they_select() -> None:
    from typing import get_args, get_type_hints

    from xpollinate.cli.ranker import Arch, train_cmd
    from xpollinate.ranking.model import ARCHS
    from xpollinate.ranking.train import SCHEDULES

    assert get_args(Arch) == ARCHS
    schedule = get_type_hints(train_cmd, include_extras=True)["schedule"]
    assert get_args(get_args(schedule)[0]) == SCHEDULES
