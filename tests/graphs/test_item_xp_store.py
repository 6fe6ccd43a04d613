"""Runner + item-XP store: one anchor's outcome written atomically and read back with its audit."""

import sqlite3
from pathlib import Path

import pytest

from tests.graphs.scripted import scripted_llm
from tests.graphs.test_item_xp_graph import ANCHOR, PAPER, deps, script
from xpollinate.graphs.item_xp import build_graph
from xpollinate.graphs.runner import run_anchor
from xpollinate.xpstore.item_xp_store import ItemXPStore


def test_run_and_store_round_trip(tmp_path: Path) -> None:
    llm, _ = scripted_llm(script)
    seen: list[str] = []
    outcome, state = run_anchor(
        build_graph("theme", deps(llm), PAPER), llm, ANCHOR, on_node=lambda n, u: seen.append(n)
    )
    assert seen[0] == "context" and seen.count("recommend") == 4 and seen[-1] == "combine"
    assert outcome.audit["usage"]["requests"] > 0 and outcome.audit["usage"]["cache_hits"] == 0
    assert outcome.audit["dropped_by_reason"]["evaluate: evaluator score below threshold"] == 1

    store = ItemXPStore(tmp_path / "xp.sqlite")
    store.start_run("r1", "theme", "scripted:script-1", {"prompts": "default"}, "build-x")
    store.save("r1", outcome)
    rows = store.recommendations(ANCHOR.item_id)
    assert [r["item_id"] for r in rows] == [r.item_id for r in outcome.results]
    assert rows[0]["rank"] == 1 and rows[0]["band"] == "Excellent"
    assert store.finished("r1") == {ANCHOR.item_id}
    saved = store.anchor("r1", ANCHOR.item_id)
    assert saved["audit"]["provenance"]["judge"]["prompt"] == "judge@v2"
    assert saved["scorer_id"] == "test:overlap"

    # saving the same anchor again replaces it rather than duplicating rows
    store.save("r1", outcome)
    assert len(store.recommendations(ANCHOR.item_id, "r1")) == len(outcome.results)


def test_failed_write_leaves_nothing_half_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    llm, _ = scripted_llm(script)
    outcome, _ = run_anchor(build_graph("theme", deps(llm), PAPER), llm, ANCHOR)
    store = ItemXPStore(tmp_path / "xp.sqlite")
    store.start_run("r1", "theme", "x", {}, "b")
    bad = outcome.results[-1].model_copy(update={"band": None})  # violates NOT NULL mid-insert
    outcome.results.append(bad)
    with pytest.raises(sqlite3.IntegrityError, match="NOT NULL"):
        store.save("r1", outcome)
    assert store.anchor("r1", ANCHOR.item_id) is None and store.recommendations(ANCHOR.item_id) == []


def test_lean_outcome_keeps_sources_and_old_stores_gain_the_column(tmp_path: Path) -> None:
    import sqlite3

    from tests.graphs.lean import lean_deps, lean_script

    llm, _ = scripted_llm(lean_script)
    outcome, _ = run_anchor(build_graph("theme", lean_deps(llm)), llm, ANCHOR)
    store = ItemXPStore(tmp_path / "xp.sqlite")
    store.start_run("lean", "theme", "scripted:script-1", {}, "build-x")
    store.save("lean", outcome)
    assert {r["source"] for r in store.recommendations(ANCHOR.item_id, "lean")} == {r.source for r in outcome.results}
    store.close()
    # a store written before items had a source: the column is added, its rows read as the model's
    old = tmp_path / "old.sqlite"
    with sqlite3.connect(old) as db:
        db.executescript("""CREATE TABLE recommendations (run_id TEXT NOT NULL, anchor_id INTEGER NOT NULL, rank INTEGER NOT NULL,
            item_id INTEGER NOT NULL, item_text TEXT NOT NULL, product_type TEXT NOT NULL, theme TEXT,
            recommendation TEXT NOT NULL, explanation TEXT NOT NULL, evaluator_score REAL, similarity REAL NOT NULL,
            expanded INTEGER NOT NULL, ce REAL NOT NULL, llm REAL NOT NULL, combined REAL NOT NULL, band TEXT NOT NULL,
            judge_reasoning TEXT NOT NULL, PRIMARY KEY (run_id, anchor_id, rank));
            INSERT INTO recommendations VALUES ('r0', 1, 1, 11, 'x', 'COFFEE FILTERS', NULL, 'Coffee Filters', '', NULL,
            0.9, 0, 0.9, 0.9, 0.81, 'Excellent', '');""")
    migrated = ItemXPStore(old)
    assert migrated.recommendations(1, "r0")[0]["source"] == "llm"
    migrated.close()
