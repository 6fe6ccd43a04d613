"""Checkpointed item-XP runs (scripted model, the SQLite checkpointer of `xp run --thread`): the history of a
thread, resume after a node fails without repeating a finished node's model calls, replay from a checkpoint,
and the human-review interrupt whose decisions become a review sheet `xp review import` reads."""

from __future__ import annotations

import csv
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from langgraph.types import Command

from tests.graphs.lean import lean_deps, lean_script
from tests.graphs.scripted import scripted_llm
from tests.graphs.test_item_xp_graph import ANCHOR, OverlapScorer
from xpollinate.errors import XPError
from xpollinate.graphs.checkpoints import Checkpoints, history
from xpollinate.graphs.item_xp import ItemXPConfig, build_graph
from xpollinate.review import import_labels

JUDGE = "that is used together with"  # only the judge's prompt (relevance@v1) says this
EVALUATOR = "would use together"  # only the evaluator's (fit@v1)


class CountingScorer(OverlapScorer):
    def __init__(self) -> None:
        self.calls = 0

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        self.calls += 1
        return super().score(pairs)


def graph_on(checkpoints: Checkpoints, script: Any = lean_script, config: ItemXPConfig | None = None):  # type: ignore[no-untyped-def]
    """A lean theme graph on a fresh scripted model (no response cache: every call reaches the provider)."""
    llm, provider = scripted_llm(script)
    deps = lean_deps(llm)
    scorer = CountingScorer()
    deps = replace(deps, scorer=scorer)
    return build_graph("theme", deps, config, checkpointer=checkpoints.saver), provider, scorer


def results(state: dict[str, Any]) -> list[dict[str, Any]]:
    return [r.model_dump() for r in state["results"]]


@pytest.fixture
def checkpoints(tmp_path: Path):  # type: ignore[no-untyped-def]
    with Checkpoints.open(tmp_path / "home") as cps:
        yield cps


def test_history_lists_each_step_and_survives_reopening(checkpoints: Checkpoints, tmp_path: Path) -> None:
    graph, provider, _ = graph_on(checkpoints)
    out = graph.invoke({"anchor": ANCHOR}, Checkpoints.config("t1"))
    assert out["results"] and sum(provider.calls.values()) > 0
    rows = history(graph, "t1")
    assert rows[0].source == "input" and rows[0].step == -1 and rows[0].next == ("__start__",)
    assert [r.step for r in rows] == list(range(-1, len(rows) - 1))
    assert rows[1].ran == ("__start__",) and rows[2].ran == ("context",)
    ran = [node for r in rows for node in r.ran]
    assert ran.count("recommend") == 4  # one Send branch per distinct theme
    assert {"shortlist", "merge", "evaluate", "history", "match", "judge", "cross_encode", "combine"} <= set(ran)
    assert rows[-1].next == () and rows[-1].ran == ("combine",) and not any(r.interrupted for r in rows)
    assert all(r.parent_id == p.checkpoint_id for p, r in zip(rows, rows[1:]))
    checkpoints.close()
    with Checkpoints.open(tmp_path / "home") as again:  # the file holds it all: another process sees the same
        graph2, _, _ = graph_on(again)
        assert [r.checkpoint_id for r in history(graph2, "t1")] == [r.checkpoint_id for r in rows]
        assert results(graph2.get_state(Checkpoints.config("t1")).values) == results(out)


def test_resume_after_a_failure_repeats_no_finished_node(checkpoints: Checkpoints) -> None:
    crashed = threading.Event()

    def crash_once(schema: str, prompt: str) -> Any:
        if JUDGE in prompt and not crashed.is_set():
            crashed.set()
            raise RuntimeError("judge backend went away")
        return lean_script(schema, prompt)

    graph, first, _ = graph_on(checkpoints, crash_once)
    config = Checkpoints.config("t-fail")
    with pytest.raises(RuntimeError, match="went away"):
        graph.invoke({"anchor": ANCHOR}, config)
    stopped = graph.get_state(config)
    assert "judge" in stopped.next and not stopped.values.get("results")
    assert first.calls["ThemeNames"] == 1 and first.calls["Picks"] == 4

    # a new process: fresh model and graph on the same checkpoint file, no response cache
    graph2, second, _ = graph_on(checkpoints)
    prompts: list[str] = []
    original = second.script
    second.script = lambda schema, prompt: prompts.append(prompt) or original(schema, prompt)
    resumed = graph2.invoke(None, config)
    assert second.calls["ThemeNames"] == 0 and second.calls["Picks"] == 0  # finished nodes are not re-run
    assert prompts and all(JUDGE in p for p in prompts)  # only the judge's calls, no evaluator call
    triplets = {(m.rec_id, m.product_type) for m in resumed["matches"]}
    assert second.calls["YesProbability"] == len(triplets)

    graph3, _, _ = graph_on(Checkpoints(checkpoints.path.with_name("other.sqlite")))
    uninterrupted = graph3.invoke({"anchor": ANCHOR}, Checkpoints.config("t-clean"))
    assert results(resumed) == results(uninterrupted)


def test_replay_from_a_checkpoint_reruns_only_what_follows_it(checkpoints: Checkpoints) -> None:
    graph, _, _ = graph_on(checkpoints)
    out = graph.invoke({"anchor": ANCHOR}, Checkpoints.config("t2"))
    rows = history(graph, "t2")
    before_combine = next(r for r in rows if r.next == ("combine",))
    before_scoring = next(r for r in rows if set(r.next) == {"judge", "cross_encode"})

    graph2, provider, scorer = graph_on(checkpoints)
    replayed = graph2.invoke(None, Checkpoints.config("t2", before_combine.checkpoint_id))
    assert sum(provider.calls.values()) == 0 and scorer.calls == 0 and results(replayed) == results(out)

    graph3, provider3, scorer3 = graph_on(checkpoints)
    again = graph3.invoke(None, Checkpoints.config("t2", before_scoring.checkpoint_id))
    triplets = {(m.rec_id, m.product_type) for m in again["matches"]}
    assert dict(provider3.calls) == {"YesProbability": len(triplets)} and scorer3.calls == 1
    assert results(again) == results(out)
    forked = history(graph3, "t2")
    # each replay forks the thread: a copy of its start (source "fork"), then a new checkpoint per re-run step
    forks = [r for r in forked if r.source == "fork"]
    assert [f.parent_id for f in forks] == [before_combine.checkpoint_id, before_scoring.checkpoint_id]
    assert all(f.ran == () for f in forks) and len(forked) == len(rows) + (1 + 1) + (1 + 2)
    assert forked[-1].next == () and forked[-1].ran == ("combine",)


def test_threads_belong_to_one_anchor_and_run(checkpoints: Checkpoints) -> None:
    settings = {"graph": "theme", "config": {"picks": 4, "plan": "lean"}}
    checkpoints.claim("t", 1, "theme-aaa", settings)
    assert checkpoints.claim("t", 1, "theme-aaa", settings).run_id == "theme-aaa"  # the same run: fine
    with pytest.raises(XPError, match="holds the run of anchor 1, not 2"):
        checkpoints.claim("t", 2, "theme-aaa", settings)
    with pytest.raises(XPError, match=r"config.picks 4 vs 3"):
        checkpoints.claim("t", 1, "theme-bbb", {"graph": "theme", "config": {"picks": 3, "plan": "lean"}})
    with pytest.raises(XPError, match=r"unknown thread 'nope'.*threads: t"):
        checkpoints.known("nope")
    with pytest.raises(XPError, match="has no checkpoint 'x'.*--history"):
        checkpoints.require_checkpoint("t", "x")


def test_review_without_a_checkpointer_is_refused() -> None:
    llm, _ = scripted_llm(lean_script)
    with pytest.raises(XPError, match="--thread"):
        build_graph("theme", lean_deps(llm), ItemXPConfig(review=True))
    build_graph("theme", lean_deps(llm), ItemXPConfig(review=True), checkpointer_supplied=True)  # a server's own


def test_review_interrupt_resume_and_sheet(checkpoints: Checkpoints) -> None:
    graph, _, _ = graph_on(checkpoints, config=ItemXPConfig(review=True))
    config = Checkpoints.config("t-review", xp_run_id="theme-review")
    paused = graph.invoke({"anchor": ANCHOR}, config)
    snapshot = graph.get_state(config)
    assert snapshot.next == ("review",) and len(snapshot.interrupts) == 1
    asked = snapshot.interrupts[0].value
    ids = [i["item_id"] for i in asked["items"]]
    assert ids == [r.item_id for r in paused["results"]] and len(ids) >= 3
    assert history(graph, "t-review")[-1].interrupted

    # an answer that does not decide every item is refused by asking again, naming the problem
    graph.invoke(Command(resume={str(ids[0]): "approve", "999": "reject"}), config)
    again = graph.get_state(config)
    assert again.next == ("review",)
    problems = again.interrupts[0].value["problems"]
    assert any("999" in p for p in problems)

    rejected, poor = ids[0], next(i["item_id"] for i in asked["items"] if i["band"] == "Poor")
    answer = {
        str(rejected): {"decision": "reject", "error_source": "matching"},
        poor: "reject",  # int keys work too (a Python caller); JSON clients send strings
        "*": "approve",
    }
    final = graph.invoke(Command(resume=answer), config)
    assert graph.get_state(config).next == ()
    assert [r.item_id for r in final["results"]] == [i for i in ids if i not in (rejected, poor)]
    review_drops = [d for d in final["dropped"] if d.stage == "review"]
    assert [d.detail for d in review_drops] == [f"item {rejected}: matching", f"item {poor}"]
    record = final["review"]
    assert {d.item_id: d.decision for d in record.decisions} == {
        i: "reject" if i in (rejected, poor) else "approve" for i in ids
    }

    sheet = Path(record.path)
    rows = list(csv.DictReader(sheet.read_text().splitlines()))
    assert [int(r["item_id"]) for r in rows] == ids
    assert {r["label"] for r in rows if int(r["item_id"]) in (rejected, poor)} == {"0"}
    assert {r["label"] for r in rows if int(r["item_id"]) not in (rejected, poor)} == {"1"}
    imported = import_labels(sheet)  # the review importer reads it like any filled sheet
    assert imported.run_id == "theme-review" and imported.labelled == len(ids) and imported.unlabelled == 0
    assert imported.confusion["not relevant & drop"] == 1  # the Poor item: the pipeline's band said drop too
    assert imported.confusion["not relevant & keep"] == 1  # the first item: kept by the score, rejected here
    assert imported.error_attribution["matching"] == 1.0
    assert imported.confusion["relevant & keep"] == len(ids) - 2
