"""What a worker needs to run anchors of one job, and the task it runs.

A `BatchJob` is picklable: it names its run, graph, config and a `Parts` factory that
builds the heavy parts (LLM provider and cache, matcher, scorer, grocery filter) once per
process. Each worker thread gets its own compiled graph and its own usage ledger over
those shared parts, so per-anchor usage stays exact under concurrency. The task is
`run_anchor` itself — the same function `xp run` calls.
"""

from __future__ import annotations

import errno
import os
import socket
import sqlite3
import threading
import time
import traceback
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from xpollinate.batch.scored import scored_rows
from xpollinate.catalog.store import DataStore
from xpollinate.graphs.deps import default_deps, deps_until_week, role_settings, run_id_for, run_settings
from xpollinate.graphs.item_xp import GraphKind, ItemXPConfig, ItemXPDeps, build_graph
from xpollinate.graphs.runner import run_anchor
from xpollinate.llm import LLM, RoleModels, UsageLedger, role_llms
from xpollinate.records import Anchor
from xpollinate.xpstore.item_xp_store import AnchorOutcome

FATAL_ERRNOS = {errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT}
FATAL_SQLITE = ("disk is full", "readonly", "read-only", "disk i/o error", "unable to open database")


class Parts(Protocol):
    """Builds the shared parts of a graph in a process (hashable: it keys the per-process memo)."""

    def build(self) -> ItemXPDeps: ...


@dataclass(frozen=True)
class DefaultParts:
    """The real parts from a run directory: a model per role (`llm` generates; `evaluator_llm` and
    `judge_llm` default to the settings' choice for the role, else the generator), the catalog index,
    scorer and grocery filter."""

    home: str
    llm: str | None = None
    judge_llm: str | None = None
    evaluator_llm: str | None = None
    embedding_model: str = "minilm"
    history_until_week: int | None = None  # historical product types from baskets up to this week (held-out evaluation)

    def build(self) -> ItemXPDeps:
        store = DataStore.open(Path(self.home))
        models = role_llms(RoleModels(self.llm, self.evaluator_llm, self.judge_llm))
        return default_deps(
            store,
            models["generator"],
            self.embedding_model,
            self.history_until_week,
            evaluator_llm=models["evaluator"],
            judge_llm=models["judge"],
        )


@dataclass(frozen=True)
class BatchJob:
    """One run: its id, settings (provenance), graph kind, config and parts."""

    run_id: str
    kind: GraphKind
    config: ItemXPConfig
    parts: Parts
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, Parts]:
        return (self.run_id, self.parts)


def job_for(kind: GraphKind, config: ItemXPConfig, parts: Parts, store: DataStore, deps: ItemXPDeps) -> BatchJob:
    """A job whose run id is the hash of its settings (equal settings resume the same run)."""
    settings = run_settings(kind, deps.llm, config, store, deps.scorer.scorer_id, deps_until_week(deps))
    settings.update(role_settings(deps))
    return BatchJob(run_id_for(settings), kind, config, parts, settings)


# --- per-process and per-thread state ----------------------------------------------------------

_PARTS: dict[Any, ItemXPDeps] = {}
_PARTS_LOCK = threading.Lock()
_THREAD = threading.local()


def shared_parts(parts: Parts) -> ItemXPDeps:
    """The parts built once per process."""
    with _PARTS_LOCK:
        if parts not in _PARTS:
            _PARTS[parts] = parts.build()
        return _PARTS[parts]


def thread_graph(job: BatchJob) -> tuple[Any, LLM]:
    """This thread's compiled graph for `job` and the LLM whose ledger counts its calls (judge included)."""
    graphs: dict[Any, tuple[Any, LLM]] = getattr(_THREAD, "graphs", None) or {}
    _THREAD.graphs = graphs
    if job.key not in graphs:
        deps = shared_parts(job.parts)
        ledger = UsageLedger()
        llm = deps.llm.with_ledger(ledger)
        judge = deps.judge_llm.with_ledger(ledger) if deps.judge_llm is not None else None
        evaluator = deps.evaluator_llm.with_ledger(ledger) if deps.evaluator_llm is not None else None
        graph = build_graph(job.kind, replace(deps, llm=llm, judge_llm=judge, evaluator_llm=evaluator), job.config)
        graphs[job.key] = (graph, llm)
    return graphs[job.key]


def is_fatal(exc: BaseException) -> bool:
    """Errors of the run directory (disk full, read-only): every later anchor would fail the same way."""
    if isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS:
        return True
    return isinstance(exc, sqlite3.OperationalError) and any(s in str(exc).lower() for s in FATAL_SQLITE)


def _by_prompt(ledger: UsageLedger) -> dict[str, dict[str, Any]]:
    return {k: asdict(v) for k, v in ledger.by_prompt.items()}


def _delta(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for prompt, totals in after.items():
        prev = before.get(prompt, {})
        diff = {k: v - prev.get(k, 0) for k, v in totals.items()}
        if diff.get("requests"):
            out[prompt] = diff
    return out


def failure_reason(outcome: AnchorOutcome) -> str | None:
    """Why an anchor that raised nothing still failed: no results, and model calls that failed."""
    failures = outcome.audit.get("failures", [])
    if outcome.results or not failures:
        return None
    first = failures[0]
    return f"no results; {len(failures)} failed model call(s), first: {first['stage']} {first['kind']}: {first['message'][:200]}"


def run_task(job: BatchJob, anchor: Anchor) -> AnchorOutcome:
    """One anchor through `run_anchor`; an exception becomes this anchor's failure record, except
    errors of the run directory, which stop the batch."""
    started = time.perf_counter()
    graph, llm = thread_graph(job)
    before = _by_prompt(llm.usage)
    try:
        outcome, state = run_anchor(graph, llm, anchor)
        outcome.audit["scored"] = scored_rows(state)
        outcome.error = failure_reason(outcome)
    except Exception as exc:
        if is_fatal(exc):
            raise
        outcome = AnchorOutcome(
            anchor_id=anchor.item_id if anchor.item_id is not None else -1,
            anchor_text=anchor.text,
            anchor_pt=anchor.product_type,
            results=[],
            seconds=time.perf_counter() - started,
            audit={"traceback": traceback.format_exc(limit=8)[-4000:]},
            error=f"{type(exc).__name__}: {exc}"[:500],
        )
    outcome.audit["usage_by_prompt"] = _delta(before, _by_prompt(llm.usage))
    outcome.audit["anchor_category"] = anchor.category
    outcome.audit["worker"] = f"{socket.gethostname()}:{os.getpid()}"
    return outcome
