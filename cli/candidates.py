"""`xp assoc build` and `xp candidates`: market-basket associations and historical candidates."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import pandas as pd
import typer
from rich.table import Table

from xpollinate.catalog.anchors import resolve
from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import err, handle_errors, out, status
from xpollinate.retrieval.associations import AssocConfig, build_associations
from xpollinate.retrieval.candidates import CandidateConfig, historical_candidates

assoc_app = typer.Typer(help="Grocery -> GM association tables (market-basket analysis).", no_args_is_help=True)

# Options shared by `xp assoc build` and `xp candidates`, so both see the same tables.
WindowWeeks = Annotated[int, typer.Option(help="Household multi-session window in weeks (the paper uses 3).")]
UntilWeek = Annotated[Optional[int], typer.Option(help="Use only transactions up to this week (time splits).")]
PtMinSupport = Annotated[float, typer.Option(help="PT pairs per basket: minimum support P(A,B).")]
PtMinConfidence = Annotated[float, typer.Option(help="PT pairs per basket: minimum confidence P(B|A).")]
WindowMinSupport = Annotated[float, typer.Option(help="PT pairs per household window: minimum support.")]
WindowMinConfidence = Annotated[float, typer.Option(help="PT pairs per household window: minimum confidence.")]
MinCount = Annotated[int, typer.Option(help="PT pairs: minimum number of transactions holding both.")]
ItemMinCount = Annotated[int, typer.Option(help="Item pairs: minimum number of transactions holding both.")]
_D = AssocConfig()


def assoc_config(
    window_weeks: int,
    until_week: int | None,
    pt_min_support: float,
    pt_min_confidence: float,
    window_min_support: float,
    window_min_confidence: float,
    min_count: int,
    item_min_count: int,
) -> AssocConfig:
    """The association settings from CLI options (pydantic names any field out of range)."""
    return AssocConfig.model_validate(
        {
            "window_weeks": window_weeks,
            "until_week": until_week,
            "pt_basket": {"min_support": pt_min_support, "min_confidence": pt_min_confidence, "min_count": min_count},
            "pt_window": {
                "min_support": window_min_support,
                "min_confidence": window_min_confidence,
                "min_count": min_count,
            },
            "item_basket": {"min_count": item_min_count},
            "item_window": {"min_count": item_min_count},
        }
    )


@assoc_app.command("build")
@handle_errors
def assoc_build_cmd(
    force: Annotated[bool, typer.Option("--force", help="Recompute even if these settings were built.")] = False,
    window_weeks: WindowWeeks = _D.window_weeks,
    until_week: UntilWeek = None,
    pt_min_support: PtMinSupport = _D.pt_basket.min_support,
    pt_min_confidence: PtMinConfidence = _D.pt_basket.min_confidence,
    window_min_support: WindowMinSupport = _D.pt_window.min_support,
    window_min_confidence: WindowMinConfidence = _D.pt_window.min_confidence,
    min_count: MinCount = _D.pt_basket.min_count,
    item_min_count: ItemMinCount = _D.item_basket.min_count,
) -> None:
    """Compute PT- and item-level grocery -> GM statistics (per basket and per household window)
    and PT-name semantic matches; stored in the run directory, keyed by data version and settings."""
    config = assoc_config(
        window_weeks,
        until_week,
        pt_min_support,
        pt_min_confidence,
        window_min_support,
        window_min_confidence,
        min_count,
        item_min_count,
    )
    store = DataStore.open()
    with status("building associations") as step:
        assoc, built = build_associations(store, config, force=force, progress=step)
    table = Table(title="association tables" + ("" if built else " (already built)"))
    table.add_column("table")
    table.add_column("pairs", justify="right")
    for name, rows in assoc.meta["rows"].items():
        table.add_row(name, f"{rows:,}")
    out.print(table)
    out.print(f"{assoc.path} ({assoc.meta['seconds']} s)")


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}g}" if abs(value) < 0.01 else f"{value:.{digits}f}"
    return str(value)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))


@handle_errors
def candidates_cmd(
    anchor: Annotated[str, typer.Option(help="Grocery anchor: an item id, or text such as 'ground coffee'.")],
    k: Annotated[int, typer.Option("--k", help="Candidates to return.")] = 20,
    max_pts: Annotated[int, typer.Option(help="Associated GM product types to draw candidates from.")] = 10,
    items_per_pt: Annotated[int, typer.Option(help="Most purchased items taken per associated product type.")] = 5,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the result as JSON to this file.")
    ] = None,
    window_weeks: WindowWeeks = _D.window_weeks,
    until_week: UntilWeek = None,
    pt_min_support: PtMinSupport = _D.pt_basket.min_support,
    pt_min_confidence: PtMinConfidence = _D.pt_basket.min_confidence,
    window_min_support: WindowMinSupport = _D.pt_window.min_support,
    window_min_confidence: WindowMinConfidence = _D.pt_window.min_confidence,
    min_count: MinCount = _D.pt_basket.min_count,
    item_min_count: ItemMinCount = _D.item_basket.min_count,
) -> None:
    """Historical GM candidates for a grocery anchor, with the statistics behind each (XP paper 2.1.1)."""
    config = assoc_config(
        window_weeks,
        until_week,
        pt_min_support,
        pt_min_confidence,
        window_min_support,
        window_min_confidence,
        min_count,
        item_min_count,
    )
    cand_config = CandidateConfig(max_pts=max_pts, items_per_pt=items_per_pt, max_candidates=k)
    store = DataStore.open()
    items = store.items()
    row = resolve(items, anchor)
    with status("associations") as step:
        assoc, _ = build_associations(store, config, progress=step)
    result = historical_candidates(row, items, assoc, cand_config)
    out.print(f"[bold]anchor[/bold] {int(row['item_id'])}  {row['text']}  (PT: {row['product_type']})", highlight=False)

    pts = Table(title="associated GM product types", title_justify="left")
    for col in ("#", "product type", "source", "lift", "adj. lift", "conf.", "window lift", "name sim."):
        pts.add_column(col, justify="left" if col in ("product type", "source") else "right", no_wrap=True)
    for i, r in result.pt_associations.iterrows():
        pts.add_row(
            str(i + 1),
            r["product_type"],
            r["source"],
            _fmt(r.get("lift")),
            _fmt(r.get("adjusted_lift")),
            _fmt(r.get("confidence"), 3),
            _fmt(r.get("lift_window")),
            _fmt(r.get("similarity")),
        )
    out.print(pts)

    cands = Table(
        title="historical candidates (score = item lift shrunk toward the PT's adjusted lift)", title_justify="left"
    )
    for col in (
        "#",
        "item",
        "description",
        "score",
        "pairs",
        "item lift",
        "conf.",
        "window lift",
        "PT adj. lift",
        "baskets",
        "price",
    ):
        cands.add_column(
            col,
            justify="left" if col == "description" else "right",
            no_wrap=True,
            max_width=48 if col == "description" else None,
            overflow="ellipsis",
        )
    for i, r in result.items.iterrows():
        pairs = "-" if pd.isna(r["n_ab_item"]) else str(int(r["n_ab_item"]))
        cands.add_row(
            str(i + 1),
            str(int(r["item_id"])),
            r["text"],
            _fmt(r["score"]),
            pairs,
            _fmt(r["lift_item"]),
            _fmt(r["confidence_item"], 3),
            _fmt(r["lift_item_window"]),
            _fmt(r["pt_adjusted_lift"]),
            str(int(r["n_baskets"])),
            _fmt(r["unit_price"]),
        )
    out.print(cands)
    if result.items.empty:
        err.print("no candidates: this anchor's product type has no GM association above the thresholds")
    if json_out:
        payload = {
            "anchor": _records(result.anchor.to_frame().T)[0],
            "data_build": store.build_id,
            "assoc_settings": config.model_dump(mode="json"),
            "pt_associations": _records(result.pt_associations),
            "candidates": _records(result.items),
        }
        json_out.write_text(json.dumps(payload, indent=2), encoding="utf-8")
        err.print(f"wrote {json_out}")
