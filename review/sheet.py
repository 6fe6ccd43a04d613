"""Review sheets: a blind, band-stratified sample of scored pairs as CSV, and the labels read back.

The sheet shows what a reviewer needs (anchor, theme, recommendation, matched item, whether it
came from similar-item expansion) and hides the scores; the scores and the pipeline's decision
(keep = not Poor) stay in `$XP_HOME/reviews/<sheet>.json`, joined back on import. Because Poor
and rare bands are over-sampled, rates are also given re-weighted to the run's band shares.
"""

from __future__ import annotations

import csv
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.ab.runs import load_run
from xpollinate.ab.tables import BANDS
from xpollinate.errors import XPError
from xpollinate.xpstore.review_sheets import ERROR_SOURCES, SheetRow, reviews_dir, write_sheet
from xpollinate.xpstore.review_sheets import atomic_file as _atomic

RELEVANT = {"1", "y", "yes", "relevant", "true"}
NOT_RELEVANT = {"0", "n", "no", "not relevant", "irrelevant", "false"}
SOURCES = ERROR_SOURCES


def export_sheet(
    store: Path, run_id: str, out: Path, per_band: int = 40, seed: int = 0, home: Path | None = None
) -> dict[str, Any]:
    """Write a review sheet of up to `per_band` pairs from each quality band of `run_id`."""
    if per_band < 1:
        raise XPError(f"--per-band must be at least 1, got {per_band}")
    run = load_run(store, run_id)
    scored = run.scored
    if scored.empty:
        raise XPError(f"run {run_id} has no scored recommendations to review")
    anchors = run.anchors.set_index("anchor_id")["anchor_text"]
    rng = np.random.default_rng(seed)
    picks, population = [], scored["band"].value_counts().to_dict()
    for b in BANDS:
        rows = scored[scored["band"] == b]
        if len(rows):
            picks.append(rows.iloc[rng.permutation(len(rows))[:per_band]])
    sample = pd.concat(picks).reset_index(drop=True)
    sheet_id = hashlib.sha256(f"{run_id}:{per_band}:{seed}:{time.time_ns()}".encode()).hexdigest()[:10]
    rows = [
        SheetRow(
            anchor_id=int(r.anchor_id),
            anchor=str(anchors.get(r.anchor_id, "")),
            theme=r.theme,
            recommendation=r.recommendation,
            item_id=int(r.item_id),
            item=r.item_text,
            product_type=r.product_type,
            expanded=bool(r.expanded),
            ce=float(r.ce),
            llm=float(r.llm),
            combined=float(r.combined),
            band=r.band,
        )
        for r in sample.itertuples(index=False)
    ]
    population = {b: int(population.get(b, 0)) for b in BANDS}
    return write_sheet(out, sheet_id, run_id, rows, population, home, per_band=per_band, seed=seed)


@dataclass(frozen=True)
class Label:
    """One reviewer's verdict on a sheet row: label 1/0 (or yes/no...; empty: not reviewed), why a pair is wrong, notes."""

    label: str
    error_source: str = ""
    notes: str = ""


@dataclass
class ReviewResult:
    sheet: str
    run_id: str
    labelled: int
    unlabelled: int
    relevancy_rate: float  # share relevant among reviewed pairs the pipeline keeps
    relevancy_rate_weighted: float  # the same, re-weighted to the run's band shares
    agreement: float  # label (relevant / not) == decision (keep / drop)
    agreement_weighted: float
    kappa: float
    confusion: dict[str, int] = field(default_factory=dict)
    error_attribution: dict[str, float] = field(default_factory=dict)  # share of not-relevant kept pairs per source
    by_band: dict[str, dict[str, float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _label(value: str, where: str) -> bool | None:
    v = value.strip().lower()
    if not v:
        return None
    if v in RELEVANT:
        return True
    if v in NOT_RELEVANT:
        return False
    raise XPError(f"{where}: label {value!r} is not one of 1/0, yes/no, relevant/not relevant")


def _source(value: str, where: str) -> str:
    source = value.strip().lower()
    if source and source not in SOURCES:
        raise XPError(f"{where}: error_source {value!r} is not one of {', '.join(SOURCES)}")
    return source


def read_sheet(sheet_csv: Path) -> tuple[str, list[dict[str, str]]]:
    """A sheet's id and rows (column -> text), checked as `import_labels` needs them: one sheet, the key columns."""
    if not sheet_csv.is_file():
        raise XPError(f"review sheet {sheet_csv} does not exist")
    try:
        rows = list(csv.DictReader(sheet_csv.read_text(encoding="utf-8-sig").splitlines()))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise XPError(f"review sheet {sheet_csv} is not a readable CSV: {exc}") from exc
    if not rows:
        raise XPError(f"review sheet {sheet_csv} has no rows")
    missing = [c for c in ("sheet", "review_id", "label", "error_source") if c not in rows[0]]
    if missing:
        raise XPError(
            f"review sheet {sheet_csv} lacks the column(s) {', '.join(missing)}; export a new sheet with `xp review export`"
        )
    sheet_ids = {r["sheet"] for r in rows}
    if len(sheet_ids) != 1:
        raise XPError(f"review sheet {sheet_csv} mixes sheets {sorted(sheet_ids)}")
    return sheet_ids.pop(), rows


def write_labels(sheet_csv: Path, labels: dict[str, Label]) -> int:
    """Fill the label, error_source and notes of these review ids in place (atomically), leaving the other rows and
    columns as they are: the service's review page writes the very CSV `import_labels` reads. Returns the rows
    labelled in the sheet afterwards."""
    _, rows = read_sheet(sheet_csv)
    by_id = {r["review_id"].strip(): r for r in rows}
    for review_id, given in labels.items():
        where = f"{sheet_csv.name}, review_id {review_id!r}"
        row = by_id.get(review_id)
        if row is None:
            raise XPError(f"{where} is not in the sheet")
        relevant = _label(given.label, where)
        row["label"] = "" if relevant is None else ("1" if relevant else "0")
        row["error_source"] = _source(given.error_source, where)
        if "notes" in row:
            row["notes"] = " ".join(given.notes.split())  # one line: the sheet is read line by line
    with _atomic(sheet_csv) as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return sum(1 for r in rows if r["label"].strip())


def import_labels(sheet_csv: Path, home: Path | None = None) -> ReviewResult:
    """Read a filled sheet and score the pipeline against the labels."""
    sheet_id, rows = read_sheet(sheet_csv)
    meta_path = reviews_dir(home) / f"{sheet_id}.json"
    if not meta_path.is_file():
        raise XPError(f"sheet {sheet_id!r} was not exported from this run directory ({meta_path} missing)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    keys = {k["review_id"]: k for k in meta["rows"]}
    records, unlabelled = [], 0
    for lineno, r in enumerate(rows, start=2):
        where = f"{sheet_csv.name}, line {lineno}"
        key = keys.get(r["review_id"].strip())
        if key is None:
            raise XPError(f"{where}: review_id {r['review_id']!r} is not in sheet {sheet_id}")
        label = _label(r["label"], where)
        if label is None:
            unlabelled += 1
            continue
        source = _source(r["error_source"], where)
        records.append({**key, "relevant": label, "source": source})
    if not records:
        raise XPError(f"review sheet {sheet_csv} has no labels yet: fill the label column with 1 (relevant) or 0")
    frame = pd.DataFrame(records)
    population = meta["population"]
    sampled = frame["band"].value_counts().to_dict()
    total = sum(population.values())
    frame["w"] = [population[b] / total / sampled[b] for b in frame["band"]]
    keep = frame["decision"] == "keep"
    agree = frame["relevant"] == keep
    kept = frame[keep]
    flawed = kept[~kept["relevant"]]
    attribution = (
        {s: float((flawed["source"] == s).mean()) for s in SOURCES} if len(flawed) else {s: 0.0 for s in SOURCES}
    )
    if len(flawed):
        attribution["unattributed"] = float((flawed["source"] == "").mean())
    tp = int((frame["relevant"] & keep).sum())
    tn = int((~frame["relevant"] & ~keep).sum())
    fp = int((~frame["relevant"] & keep).sum())
    fn = int((frame["relevant"] & ~keep).sum())
    by_band = {
        b: {"n": int((frame["band"] == b).sum()), "relevant": float(frame.loc[frame["band"] == b, "relevant"].mean())}
        for b in BANDS
        if (frame["band"] == b).any()
    }
    result = ReviewResult(
        sheet=sheet_id,
        run_id=meta["run_id"],
        labelled=len(frame),
        unlabelled=unlabelled,
        relevancy_rate=float(kept["relevant"].mean()) if len(kept) else float("nan"),
        relevancy_rate_weighted=_wmean(kept["relevant"], kept["w"]),
        agreement=float(agree.mean()),
        agreement_weighted=_wmean(agree, frame["w"]),
        kappa=_kappa(tp, tn, fp, fn),
        confusion={"relevant & keep": tp, "not relevant & drop": tn, "not relevant & keep": fp, "relevant & drop": fn},
        error_attribution=attribution,
        by_band=by_band,
    )
    with _atomic(reviews_dir(home) / f"{sheet_id}.results.json") as fh:
        json.dump(result.as_dict(), fh, indent=1)
    return result


def _wmean(values: pd.Series, weights: pd.Series) -> float:
    return (
        float(np.average(values.astype(float), weights=weights)) if len(values) and weights.sum() > 0 else float("nan")
    )


def _kappa(tp: int, tn: int, fp: int, fn: int) -> float:
    """Cohen's kappa of label vs decision."""
    n = tp + tn + fp + fn
    if n == 0:
        return float("nan")
    po = (tp + tn) / n
    pe = ((tp + fp) * (tp + fn) + (tn + fn) * (tn + fp)) / (n * n)
    return float((po - pe) / (1 - pe)) if pe < 1 else 1.0
