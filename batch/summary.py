"""The run summary of a batch: anchors done/failed/skipped, calls, tokens, cost, cache hits, wall time."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from xpollinate.xpstore.item_xp_store import AnchorOutcome

USAGE_FIELDS = ("requests", "calls", "cache_hits", "failures", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls")


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

    def add(self, run_id: str, outcome: AnchorOutcome) -> None:
        if outcome.error:
            self.failed += 1
            self.failures.append({"run_id": run_id, "anchor_id": outcome.anchor_id, "anchor": outcome.anchor_text,
                                  "reason": outcome.error})
        else:
            self.done += 1
            self.results += len(outcome.results)
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
    def cache_hit_rate(self) -> float:
        requests = self.usage["requests"]
        return self.usage["cache_hits"] / requests if requests else 0.0

    def judge_sharing(self) -> dict[str, float]:
        """Judge requests answered from the cache: PT-level verdicts shared across anchors (and runs)."""
        judge = {k: 0.0 for k in ("requests", "cache_hits")}
        for prompt, totals in self.usage_by_prompt.items():
            if prompt.startswith("judge@"):
                judge["requests"] += totals["requests"]
                judge["cache_hits"] += totals["cache_hits"]
        return judge

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.update(attempted=self.attempted, anchors_per_hour=round(self.anchors_per_hour, 1),
                   cache_hit_rate=round(self.cache_hit_rate, 4), judge=self.judge_sharing())
        return out
