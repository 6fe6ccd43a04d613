"""The run summary of a batch: anchors done/failed/skipped, calls, tokens, cost, cache hits, wall time,
and what the generator produced (schema-valid answers, copies of prompt examples, names outside the catalog)."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

from xpollinate.xpstore.item_xp_store import AnchorOutcome

JUDGE_PROMPTS = ("judge", "relevance")  # the paper's rubric judge and the lean yes/no judge
USAGE_FIELDS = (
    "requests",
    "calls",
    "cache_hits",
    "failures",
    "input_tokens",
    "output_tokens",
    "latency_s",
    "cost_usd",
    "unpriced_calls",
)


@dataclass
class BatchSummary:
    run_ids: list[str]
    selected: int = 0
    skipped_finished: int = 0
    skipped_unchanged: int = 0
    unknown_ids: list[int] = field(default_factory=list)
    not_grocery: list[int] = field(default_factory=list)
    done: int = 0
    failed: int = 0
    results: int = 0
    usage: dict[str, float] = field(default_factory=lambda: dict.fromkeys(USAGE_FIELDS, 0))
    usage_by_prompt: dict[str, dict[str, float]] = field(default_factory=dict)
    failures: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    executor: str = "local"
    interrupted: bool = False
    anchor_seconds: list[float] = field(default_factory=list)  # wall seconds of each anchor attempted
    recs_generated: int = 0  # recommendations the generator gave (after cleaning), before dedup
    recs_copied: int = 0  # of those, repeats of a prompt example
    distinct_recs: int = 0  # distinct model recommendations after merging the themes
    out_of_catalog: int = 0  # of those, names of no catalog GM product type
    catalog_checked: bool = False  # whether a grounding vocabulary was there to check names against

    def add(self, run_id: str, outcome: AnchorOutcome) -> None:
        if outcome.error:
            self.failed += 1
            self.failures.append(
                {
                    "run_id": run_id,
                    "anchor_id": outcome.anchor_id,
                    "anchor": outcome.anchor_text,
                    "reason": outcome.error,
                }
            )
        else:
            self.done += 1
            self.results += len(outcome.results)
        self.anchor_seconds.append(round(outcome.seconds, 3))
        audit = outcome.audit
        self.recs_generated += int(audit.get("n_recommendations", 0) or 0)
        self.recs_copied += int(audit.get("n_copied", 0) or 0)
        if audit.get("n_out_of_catalog") is not None:
            self.catalog_checked = True
            self.out_of_catalog += int(audit["n_out_of_catalog"])
            self.distinct_recs += int(audit.get("n_distinct_recs", 0) or 0)
        for prompt, totals in outcome.audit.get("usage_by_prompt", {}).items():
            slot = self.usage_by_prompt.setdefault(prompt, dict.fromkeys(USAGE_FIELDS, 0))
            for k in USAGE_FIELDS:
                slot[k] += totals.get(k, 0)
                self.usage[k] += totals.get(k, 0)

    @property
    def attempted(self) -> int:
        return self.done + self.failed

    @property
    def anchors_per_hour(self) -> float:
        return 3600.0 * self.attempted / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def median_seconds_per_anchor(self) -> float:
        return statistics.median(self.anchor_seconds) if self.anchor_seconds else 0.0

    def per_anchor(self, field_: str) -> float:
        return self.usage[field_] / self.attempted if self.attempted else 0.0

    @property
    def schema_valid_rate(self) -> float:
        """Share of model requests that ended with a valid answer (after repairs)."""
        requests = self.usage["requests"]
        return (requests - self.usage["failures"]) / requests if requests else 0.0

    @property
    def copy_rate(self) -> float:
        return self.recs_copied / self.recs_generated if self.recs_generated else 0.0

    @property
    def out_of_catalog_rate(self) -> float | None:
        if not self.catalog_checked:
            return None
        return self.out_of_catalog / self.distinct_recs if self.distinct_recs else 0.0

    @property
    def cache_hit_rate(self) -> float:
        requests = self.usage["requests"]
        return self.usage["cache_hits"] / requests if requests else 0.0

    def judge_sharing(self) -> dict[str, float]:
        """Judge requests answered from the cache: PT-level verdicts shared across anchors (and runs)."""
        judge = {k: 0.0 for k in ("requests", "cache_hits")}
        for prompt, totals in self.usage_by_prompt.items():
            if prompt.split("@")[0] in JUDGE_PROMPTS:
                judge["requests"] += totals["requests"]
                judge["cache_hits"] += totals["cache_hits"]
        return judge

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(
            attempted=self.attempted,
            anchors_per_hour=round(self.anchors_per_hour, 1),
            cache_hit_rate=round(self.cache_hit_rate, 4),
            judge=self.judge_sharing(),
            median_seconds_per_anchor=round(self.median_seconds_per_anchor, 2),
            model_calls_per_anchor=round(self.per_anchor("calls"), 2),
            model_seconds_per_anchor=round(self.per_anchor("latency_s"), 2),
            schema_valid_rate=round(self.schema_valid_rate, 4),
            copy_rate=round(self.copy_rate, 4),
            out_of_catalog_rate=None if self.out_of_catalog_rate is None else round(self.out_of_catalog_rate, 4),
        )
        return out
