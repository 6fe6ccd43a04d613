"""`xp run` refuses bad input with a message naming the problem (exit 2, no traceback), before any
model or index is loaded; a non-grocery anchor is refused unless asked for, then run with a warning."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from xpollinate.cli.main import app

runner = CliRunner()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--anchor", ""], "anchor: empty"),
        (["--anchor", "   \t "], "anchor: empty"),
        (["--anchor", "coffee " * 60], "at most 200"),
        (["--anchor", "99999999"], "no item with id 99999999"),
        (["--anchor", "zzqx"], "nothing in the catalog matches"),
        (["--anchor", "11"], "not grocery; pass --allow-non-grocery"),  # coffee filters: GM
        (["--anchor", "coffee", "--graph", "fancy"], "'--graph': Value error, 'fancy' is not one of 'theme', 'naive'"),
        (
            ["--anchor", "coffee", "--evaluator", "sometimes"],
            "'--evaluator': Value error, 'sometimes' is not one of 'per_rec', 'batched'",
        ),
        (["--anchor", "coffee", "--plan", "quick"], "'--plan': Value error, 'quick' is not one of 'lean', 'paper'"),
        (
            ["--anchor", "coffee", "--grounding", "web"],
            "'--grounding': Value error, 'web' is not one of 'catalog', 'free'",
        ),
        (["--anchor", "coffee", "--plan", "paper", "--grounding", "catalog"], "the paper plan generates free text"),
        (["--anchor", "coffee", "--match-k", "0"], "--match-k"),
        (["--anchor", "coffee", "--naive-n", "500"], "--naive-n"),
        (["--anchor", "coffee", "--picks", "0"], "--picks"),
        (["--anchor", "coffee", "--llm", "nosuch:model"], "nosuch"),
    ],
)
def test_bad_run_input_exits_2_with_a_message(args: list[str], message: str, fixture_home: Path) -> None:
    result = runner.invoke(app, ["run", *args], env={"XP_HOME": str(fixture_home)})
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.replace("│", " ").split())  # rich wraps usage errors in a box
    assert message in said
    assert "Traceback" not in result.output


def test_non_grocery_anchor_runs_with_a_warning_when_allowed(fixture_home: Path) -> None:
    # The fixture run directory has no catalog index: the run gets past the anchor check (warning) and
    # stops at the index with the command that builds it.
    result = runner.invoke(
        app,
        ["run", "--anchor", "11", "--allow-non-grocery", "--llm", "local-small"],
        env={"XP_HOME": str(fixture_home)},
    )
    assert "warning: anchor 11 is gm, not grocery" in result.output
    assert result.exit_code == 2 and "xp index build" in result.output
