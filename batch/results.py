"""The results page of a batch: its headline figures (cost per anchor, schema validity, copies,
names outside the catalog) and a few anchors' Item-XP lists, read back from the store."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from xpollinate.batch.jobs import BatchJob
from xpollinate.batch.summary import BatchSummary
from xpollinate.reports import Report
from xpollinate.xpstore.item_xp_store import ItemXPStore


def headline(summary: BatchSummary, job: BatchJob, model: str) -> dict[str, Any]:
    config = job.config
    d = summary.as_dict()
    return {
        "run_id": job.run_id,
        "model": model,
        "graph": job.kind,
        "plan": config.plan,
        "grounding": config.grounding,
        "anchors": summary.attempted,
        "anchors_failed": summary.failed,
        "median_seconds_per_anchor": d["median_seconds_per_anchor"],
        "model_calls_per_anchor": d["model_calls_per_anchor"],
        "model_seconds_per_anchor": d["model_seconds_per_anchor"],
        "schema_valid_rate": d["schema_valid_rate"],
        "copy_rate": d["copy_rate"],
        "out_of_catalog_rate": d["out_of_catalog_rate"],
        "input_tokens_per_anchor": round(summary.per_anchor("input_tokens"), 1),
        "output_tokens_per_anchor": round(summary.per_anchor("output_tokens"), 1),
        "cache_hits": int(summary.usage["cache_hits"]),
        "wall_s": round(summary.wall_s, 1),
        "anchors_per_hour": d["anchors_per_hour"],
        "items_stored": summary.results,
        "history_until_week": job.settings.get("history_until_week"),
    }


def anchor_table(store: ItemXPStore, run_id: str, anchor_ids: Sequence[int | None]) -> pd.DataFrame:
    """One row per anchor: seconds, calls, and its product types by source (best first)."""
    rows = []
    for anchor_id in anchor_ids:
        row = store.anchor(run_id, int(anchor_id or -1))
        if row is None:
            continue
        recs = store.recommendations(int(anchor_id or -1), run_id)
        by_source: dict[str, list[str]] = {"llm": [], "both": [], "historical": []}
        for r in recs:
            names = by_source.setdefault(r.get("source", "llm"), [])
            if r["recommendation"] not in names:
                names.append(r["recommendation"])
        usage = row["audit"].get("usage", {})
        rows.append(
            {
                "anchor": f"{row['anchor_id']} {row['anchor_pt'].title()}",
                "status": row["status"],
                "seconds": row["seconds"],
                "model calls": usage.get("calls", 0),
                "model only": ", ".join(by_source["llm"][:5]),
                "model and baskets": ", ".join(by_source["both"][:5]),
                "baskets only": ", ".join(by_source["historical"][:4]),
            }
        )
    return pd.DataFrame(rows)


def batch_report(
    summary: BatchSummary, job: BatchJob, model: str, anchor_ids: Sequence[int | None], store_path: Path
) -> Report:
    head = headline(summary, job, model)
    figures = pd.DataFrame([{"figure": k, "value": v} for k, v in head.items()])
    store = ItemXPStore(store_path)
    try:
        per_anchor = anchor_table(store, job.run_id, anchor_ids)
    finally:
        store.close()
    text = (
        f"The {job.kind} graph, {job.config.plan} plan, {job.config.grounding} grounding, with {model}, over "
        f"{summary.attempted} anchors (cold: {head['cache_hits']} of {int(summary.usage['requests'])} model requests came "
        "from the response cache). Seconds per anchor are wall time from its first node to its last; model seconds add "
        "up each call's latency (calls overlap in the model's slots). Schema-valid: model requests that ended with a "
        "valid answer after repairs. Copy rate: recommendations that repeat an item of the prompt's examples. Out of "
        "catalog: distinct model recommendations that name no GM product type of the catalog."
    )
    return Report(
        "Item-XP batch",
        [
            ("Headline figures", text, figures),
            ("Per anchor: Item XP by source", "Each list is product types, best first.", per_anchor),
        ],
        headline=head,
    )
