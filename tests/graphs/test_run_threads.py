"""`xp run --thread ID`: a checkpointed run with its history, resume after a failure, replay, clear errors for
unknown or foreign threads, and `--review` answered at the terminal (typer's CliRunner input), on the fixture
store with the lean plan's scripted parts (a fresh scripted model per command, no response cache)."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.graphs.lean import lean_deps, lean_script
from tests.graphs.scripted import ScriptedProvider, scripted_llm
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.graphs.checkpoints import Checkpoints, history
from xpollinate.graphs.item_xp import build_graph
from xpollinate.review import import_labels
from xpollinate.xpstore.item_xp_store import ItemXPStore

runner = CliRunner()
JUDGE = "that is used together with"  # only the judge's prompt (relevance@v1) says this


class Parts:
    """What `xp run` loads, swapped for the scripted model and the lean stand-ins; one provider per command."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: DataStore) -> None:
        self.script: Callable[[str, str], Any] = lean_script
        self.providers: list[ScriptedProvider] = []
        self.prompts: list[str] = []
        monkeypatch.setattr("xpollinate.cli.run.DataStore.open", classmethod(lambda cls, home=None: store))
        monkeypatch.setattr("xpollinate.cli.run.role_llms", self.role_llms)
        monkeypatch.setattr("xpollinate.cli.run.default_deps", lambda store, llm, **kw: lean_deps(llm))

    def role_llms(self, roles: Any, settings: Any = None, **_: Any) -> dict[str, Any]:
        llm = self.get_llm(roles.generator)
        return {"generator": llm, "evaluator": llm, "judge": llm}

    def get_llm(self, spec: str | None = None) -> Any:
        def script(schema: str, prompt: str) -> Any:
            self.prompts.append(prompt)
            return self.script(schema, prompt)

        llm, provider = scripted_llm(script)
        self.providers.append(provider)
        return llm

    @property
    def last(self) -> ScriptedProvider:
        return self.providers[-1]


@pytest.fixture
def parts(monkeypatch: pytest.MonkeyPatch, fixture_store: DataStore) -> Parts:
    return Parts(monkeypatch, fixture_store)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "xp-home"  # the autouse fixture of tests/conftest.py points XP_HOME here


def xp(*args: str, input: str | None = None) -> Any:
    result = runner.invoke(app, ["run", *args], input=input)
    assert "Traceback" not in result.output, result.output
    return result


def graph_for_history(checkpoints: Checkpoints) -> Any:
    llm, _ = scripted_llm(lean_script)
    return build_graph("theme", lean_deps(llm), checkpointer=checkpoints.saver)


def test_thread_run_history_complete_and_errors(parts: Parts, home: Path) -> None:
    first = xp("--anchor", "1", "--thread", "t1")
    assert first.exit_code == 0, first.output
    assert "thread t1: new" in first.output and sum(parts.last.calls.values()) > 0
    assert (home / "checkpoints.sqlite").is_file()

    listed = xp("--thread", "t1", "--history")  # no --anchor: the thread's own
    assert listed.exit_code == 0, listed.output
    for node in ("context", "shortlist", "recommend x4", "judge", "combine"):
        assert node in listed.output
    assert sum(parts.last.calls.values()) == 0  # listing runs nothing

    again = xp("--thread", "t1")
    assert again.exit_code == 0 and "complete" in again.output
    assert sum(parts.last.calls.values()) == 0
    run_id = re.search(r"\(run (theme-\w+)\)", again.output).group(1)  # type: ignore[union-attr]
    assert ItemXPStore(home / "item_xp.sqlite").recommendations(1, run_id)  # stored again, the same run

    for args, message in [
        (("--thread", "nope", "--history"), "unknown thread 'nope'"),
        (("--thread", "nope"), "unknown thread 'nope'"),
        (("--anchor", "3", "--thread", "t1"), "holds the run of anchor 1, not 3"),
        (("--anchor", "1", "--thread", "t1", "--picks", "3"), "config.picks 4 vs 3"),
        (("--anchor", "1", "--thread", "t1", "--review"), "review null vs true"),
        (("--thread", "t1", "--from-checkpoint", "bogus"), "has no checkpoint 'bogus'"),
        (("--anchor", "1", "--history"), "--history needs --thread"),
        (("--anchor", "1", "--review"), "--review needs --thread"),
        (("--anchor", "1", "--from-checkpoint", "x"), "--from-checkpoint needs --thread"),
        ((), "--anchor: missing"),
    ]:
        result = xp(*args)
        assert result.exit_code == 2, (args, result.output)
        assert message in " ".join(result.output.split()), (args, result.output)


def test_resume_after_a_failure_and_replay(parts: Parts, home: Path) -> None:
    crashed: list[bool] = []

    def crash_once(schema: str, prompt: str) -> Any:
        if JUDGE in prompt and not crashed:
            crashed.append(True)
            raise RuntimeError("judge backend went away")
        return lean_script(schema, prompt)

    parts.script = crash_once
    failed = xp("--anchor", "1", "--thread", "t2")
    assert failed.exit_code == 2
    text = " ".join(failed.output.split())
    assert "judge backend went away" in text and "`xp run --thread t2` resumes it" in text

    parts.script = lean_script
    parts.prompts.clear()
    resumed = xp("--thread", "t2")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming at judge" in resumed.output
    assert parts.last.calls["ThemeNames"] == 0 and parts.last.calls["Picks"] == 0
    assert parts.prompts and all(JUDGE in p for p in parts.prompts)  # the judge's calls only
    assert "items (model" in resumed.output

    with Checkpoints.open(home) as cps:
        rows = history(graph_for_history(cps), "t2")
    before_combine = next(r for r in rows if r.next == ("combine",))
    replayed = xp("--thread", "t2", "--from-checkpoint", before_combine.checkpoint_id)
    assert replayed.exit_code == 0, replayed.output
    assert f"replaying from checkpoint {before_combine.checkpoint_id}" in replayed.output
    assert sum(parts.last.calls.values()) == 0  # combine makes no model call


def answers(*lines: str) -> str:
    return "\n".join(lines) + "\n"


def test_review_at_the_terminal(parts: Parts, home: Path) -> None:
    # a bad answer is asked again; item 1 rejected (matching), item 2 rejected with no source, the rest approved
    typed = answers("maybe", "r", "matching", "r", "nonsense", "", *["a"] * 20)
    result = xp("--anchor", "1", "--thread", "t3", "--review", input=typed)
    assert result.exit_code == 0, result.output
    assert "answer a (approve) or r (reject)" in result.output
    assert "answer one of matching, expansion, llm, or Enter" in result.output
    match = re.search(r"review: (\d+) approved, 2 rejected \(not stored\); decisions in (\S+\.csv)", result.output)
    assert match, result.output
    sheet = Path(match.group(2))
    rows = list(csv.DictReader(sheet.read_text().splitlines()))
    assert [r["label"] for r in rows[:2]] == ["0", "0"] and {r["label"] for r in rows[2:]} == {"1"}
    assert [r["error_source"] for r in rows[:2]] == ["matching", ""]
    assert len(rows) == int(match.group(1)) + 2

    run_id = re.search(r"\(run (theme-\w+)\)", result.output).group(1)  # type: ignore[union-attr]
    stored = ItemXPStore(home / "item_xp.sqlite").recommendations(1, run_id)
    assert [r["item_id"] for r in stored] == [int(r["item_id"]) for r in rows[2:]]  # the rejected are not stored

    imported = runner.invoke(app, ["review", "import", str(sheet)])
    assert imported.exit_code == 0, imported.output
    assert import_labels(sheet).labelled == len(rows)


def test_review_paused_at_end_of_input_asks_again_next_time(parts: Parts) -> None:
    paused = xp("--anchor", "1", "--thread", "t4", "--review", input="")
    assert paused.exit_code == 1
    assert "paused at the review step: `xp run --thread t4` asks again" in paused.output
    calls = sum(parts.last.calls.values())
    assert calls > 0

    done = xp("--thread", "t4", input=answers(*["a"] * 20))
    assert done.exit_code == 0, done.output
    assert "thread t4: paused at the review step" in done.output
    assert sum(parts.last.calls.values()) == 0  # everything before the review came from the checkpoints
    assert re.search(r"review: \d+ approved, 0 rejected", done.output)
