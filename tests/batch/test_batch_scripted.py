"""The batch driver with the scripted chat model: shared judge verdicts, failures recorded per
anchor, resume, incremental mode, a full disk, and the store left consistent."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from tests.batch.scripted_parts import ScriptedParts, anchors, job
from xpollinate.batch.driver import check_writable, run_batch
from xpollinate.batch.executors import LocalExecutor
from xpollinate.batch.jobs import shared_parts
from xpollinate.batch.scored import as_dicts
from xpollinate.errors import XPError
from xpollinate.graphs.deps import role_settings
from xpollinate.graphs.item_xp import ItemXPConfig, build_graph
from xpollinate.graphs.runner import run_anchor
from xpollinate.records import Anchor
from xpollinate.xpstore.item_xp_store import ItemXPStore


def store_consistent(path: Path) -> None:
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        bad = db.execute(
            """SELECT a.run_id, a.anchor_id, a.n_results, COUNT(r.rank) FROM anchors a
               LEFT JOIN recommendations r ON r.run_id = a.run_id AND r.anchor_id = a.anchor_id
               GROUP BY a.run_id, a.anchor_id HAVING a.n_results != COUNT(r.rank)"""
        ).fetchall()
        assert bad == []


def test_batch_runs_resumes_and_shares_judge_verdicts(tmp_path: Path) -> None:
    parts = ScriptedParts(str(tmp_path / "cache"))
    store = ItemXPStore(tmp_path / "xp.sqlite")
    batch = job(parts)
    result = run_batch([batch], anchors(6), LocalExecutor(2), store, show_progress=False, summary_dir=tmp_path / "runs")
    s = result.summary
    assert (s.done, s.failed, s.skipped_finished) == (6, 0, 0)
    assert store.finished(batch.run_id) == {a.item_id for a in anchors(6)}
    # 3 distinct product types over 6 anchors: every judge triplet of a repeated PT comes from the cache
    judge = s.judge_sharing()
    assert judge["cache_hits"] > 0 and judge["cache_hits"] >= judge["requests"] / 3
    assert s.usage["calls"] == s.usage["requests"] - s.usage["cache_hits"]
    assert s.usage["input_tokens"] > 0 and result.summary_path is not None and result.summary_path.is_file()
    provider = shared_parts(parts).llm.provider
    made = sum(provider.calls.values())  # type: ignore[attr-defined]
    assert made == s.usage["calls"]

    # the stored outcome equals a plain run_anchor of the same anchor (one pipeline)
    deps = shared_parts(parts)
    plain, _ = run_anchor(
        build_graph("theme", deps, ItemXPConfig(plan="paper", history_pts=0)), deps.llm, anchors(6)[0]
    )
    stored = store.recommendations(anchors(6)[0].item_id, batch.run_id)
    assert [(r["item_id"], r["combined"]) for r in stored] == [(r.item_id, r.combined) for r in plain.results]
    audit = store.anchor(batch.run_id, anchors(6)[0].item_id)["audit"]
    scored = as_dicts(audit["scored"])
    assert any(r["band"] == "Poor" for r in scored)  # Poor pairs kept for the quality reports
    assert {r["item_id"] for r in scored if r["band"] != "Poor"} == {r["item_id"] for r in stored}

    again = run_batch([batch], anchors(6), LocalExecutor(2), store, show_progress=False)
    assert (again.summary.skipped_finished, again.summary.done, again.summary.usage["requests"]) == (6, 0, 0)
    assert sum(provider.calls.values()) == made  # type: ignore[attr-defined]
    store_consistent(store.path)


def test_failures_are_recorded_per_anchor_and_the_batch_goes_on(tmp_path: Path) -> None:
    parts = ScriptedParts(str(tmp_path / "cache"), broken=True)
    store = ItemXPStore(tmp_path / "xp.sqlite")
    items = anchors(3) + [
        Anchor(item_id=7, text="Garbage Anchor", product_type="GROUND COFFEE"),
        Anchor(item_id=8, text="Explode Anchor", product_type="GROUND COFFEE"),
    ]
    batch = job(parts)
    s = run_batch([batch], items, LocalExecutor(2), store, show_progress=False).summary
    assert (s.done, s.failed) == (3, 2)
    reasons = {f["anchor_id"]: f["reason"] for f in s.failures}
    assert "context invalid_output" in reasons[7]
    assert reasons[8].startswith("RuntimeError: matcher exploded")
    row = store.anchor(batch.run_id, 8)
    assert row["status"] == "failed" and "matcher exploded" in row["error"] and "Traceback" in row["audit"]["traceback"]
    assert 7 not in store.finished(batch.run_id)
    # failed anchors are retried on the next run, unless told not to
    retry = run_batch([batch], items, LocalExecutor(1), store, show_progress=False)
    assert (retry.summary.skipped_finished, retry.summary.failed) == (3, 2)
    skip = run_batch([batch], items, LocalExecutor(1), store, show_progress=False, retry_failed=False)
    assert skip.summary.attempted == 0
    store_consistent(store.path)


def test_incremental_skips_unchanged_anchors_only(tmp_path: Path) -> None:
    parts = ScriptedParts(str(tmp_path / "cache"))
    store = ItemXPStore(tmp_path / "xp.sqlite")
    week1 = job(parts, data_build="week1")
    run_batch([week1], anchors(4), LocalExecutor(2), store, show_progress=False)
    # next week: a new data build (new run id), two new anchors; same prompts -> only the new anchors run
    week2 = job(parts, data_build="week2")
    s = run_batch([week2], anchors(6), LocalExecutor(2), store, show_progress=False, incremental=True).summary
    assert (s.skipped_unchanged, s.done) == (4, 2)
    assert store.finished(week2.run_id) == {a.item_id for a in anchors(6)[4:]}
    # a changed prompt version: every anchor runs again
    from xpollinate.batch.prompt_refs import prompt_set

    changed = job(
        parts, config=ItemXPConfig(plan="paper", history_pts=0, prompts=prompt_set(["theme@v1"])), data_build="week2"
    )
    changed.settings["prompt_hashes"] = {"theme": "v1-hash"}
    s2 = run_batch([changed], anchors(6), LocalExecutor(2), store, show_progress=False, incremental=True).summary
    assert (s2.skipped_unchanged, s2.attempted) == (0, 6)


def test_ab_jobs_interleave_in_counterbalanced_order(tmp_path: Path) -> None:
    parts = ScriptedParts(str(tmp_path / "cache"))
    store = ItemXPStore(tmp_path / "xp.sqlite")
    a, b = job(parts, "theme"), job(parts, "naive")
    s = run_batch([a, b], anchors(8), LocalExecutor(1), store, show_progress=False, seed=3).summary
    assert s.done == 16
    first = [store.anchor(a.run_id, x.item_id)["audit"]["arm_position"] for x in anchors(8)]
    assert set(first) == {0, 1}  # each arm runs first for some anchors


def test_disk_full_stops_with_a_clear_error_and_keeps_the_store(tmp_path: Path) -> None:
    parts = ScriptedParts(str(tmp_path / "cache"))
    store = ItemXPStore(tmp_path / "xp.sqlite")
    batch = job(parts)
    run_batch([batch], anchors(2), LocalExecutor(1), store, show_progress=False)
    pages = store._db.execute("PRAGMA page_count").fetchone()[0]
    store._db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite's own SQLITE_FULL from here on
    with pytest.raises(XPError, match="disk is full.*re-run the same command to resume"):
        run_batch([batch], anchors(6), LocalExecutor(1), store, show_progress=False)
    store.close()
    store_consistent(tmp_path / "xp.sqlite")
    reopened = ItemXPStore(tmp_path / "xp.sqlite")
    assert reopened.finished(batch.run_id) == {a.item_id for a in anchors(2)}
    s = run_batch([batch], anchors(6), LocalExecutor(1), reopened, show_progress=False).summary  # room again: resumes
    assert (s.skipped_finished, s.done) == (2, 4)


def test_unwritable_run_directory_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(XPError, match="cannot create directory"):
        check_writable(blocker / "home")


def test_a_separate_judge_model_judges_and_is_counted(tmp_path: Path) -> None:
    parts = ScriptedParts(str(tmp_path / "cache"), separate_judge=True)
    store = ItemXPStore(tmp_path / "xp.sqlite")
    s = run_batch([job(parts)], anchors(3), LocalExecutor(2), store, show_progress=False).summary
    deps = shared_parts(parts)
    assert deps.llm.provider.calls["JudgeEvaluation"] == 0  # type: ignore[attr-defined]
    assert deps.judge_llm is not None and deps.judge_llm.provider.calls["JudgeEvaluation"] > 0  # type: ignore[attr-defined]
    assert s.usage_by_prompt["judge@v2"]["requests"] > 0  # the judge's usage is in the anchors' accounts
    audit = store.anchor(job(parts).run_id, anchors(3)[0].item_id)["audit"]
    assert audit["provenance"]["judge"]["llm"] == "scripted:judge-1"


def test_each_role_runs_on_its_own_model_and_names_the_run(tmp_path: Path) -> None:
    parts = ScriptedParts(str(tmp_path / "cache"), separate_judge=True, separate_evaluator=True)
    store = ItemXPStore(tmp_path / "xp.sqlite")
    run_batch([job(parts)], anchors(2), LocalExecutor(1), store, show_progress=False)
    deps = shared_parts(parts)
    calls = lambda llm: llm.provider.calls  # type: ignore[attr-defined]
    assert calls(deps.llm)["ContextualEvaluation"] == 0 and calls(deps.llm)["Themes"] > 0
    assert calls(deps.evaluator)["ContextualEvaluation"] > 0 and calls(deps.evaluator)["Themes"] == 0
    assert calls(deps.judge)["JudgeEvaluation"] > 0
    provenance = store.anchor(job(parts).run_id, anchors(2)[0].item_id)["audit"]["provenance"]
    assert {provenance["evaluate"]["llm"], provenance["judge"]["llm"]} == {"scripted:evaluator-1", "scripted:judge-1"}
    roles = role_settings(deps)
    assert (roles["evaluator_llm"], roles["judge_llm"]) == ("scripted:evaluator-1", "scripted:judge-1")
    assert role_settings(replace(deps, evaluator_llm=None, judge_llm=None)) == {}  # one model: the run id is unchanged


def test_a_catalog_item_without_product_type_is_judged(tmp_path: Path) -> None:
    """Real GM items can lack a product type; the judge then sees the item's own text instead of failing."""

    from tests.graphs.test_item_xp_graph import KeywordMatcher

    class NoPT(KeywordMatcher):
        def match_recommendations(self, texts, k, expand):  # type: ignore[no-untyped-def]
            return [
                [m.model_copy(update={"product_type": ""}) for m in hits]
                for hits in super().match_recommendations(texts, k, expand)
            ]

    parts = ScriptedParts(str(tmp_path / "cache"))
    deps = shared_parts(parts)
    from dataclasses import replace

    graph = build_graph("theme", replace(deps, matcher=NoPT()), ItemXPConfig(plan="paper", history_pts=0))
    outcome, _ = run_anchor(graph, deps.llm, anchors(1)[0])
    assert not any(f["stage"] == "judge" for f in outcome.audit["failures"])
    assert outcome.audit["n_judge_triplets"] > 0
