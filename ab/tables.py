"""The XP paper's section 3 quality tables, computed from scored pairs (one row per scored
recommendation x matched item, Poor included) with a `group` column (the anchor's category).

"Item type" is the anchor's product type, as in the paper; "poor" is a score below 0.4.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from xpollinate.judges.bands import POOR_BELOW, Band

BANDS = [b.value for b in (Band.POOR, Band.FAIR, Band.GOOD, Band.VERY_GOOD, Band.EXCELLENT)]
POOR = POOR_BELOW


def mean_by_group(scored: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Table 1: mean combined score per category, one column per arm, with the overall mean."""
    cols = {}
    for arm, frame in scored.items():
        per = frame.groupby("group")["combined"].mean()
        per.loc["Overall"] = frame["combined"].mean() if len(frame) else np.nan
        cols[arm] = per
    out = pd.DataFrame(cols)
    if len(scored) == 2:
        a, b = list(scored)
        out["B - A"] = out[b] - out[a]
    return out.round(3)


def band_distribution(frame: pd.DataFrame) -> pd.DataFrame:
    """Table 2: share of scored pairs per quality band and category (percent)."""
    if frame.empty:
        return pd.DataFrame(columns=BANDS)
    counts = pd.crosstab(frame["group"], frame["band"]).reindex(columns=BANDS, fill_value=0)
    counts.loc["Overall"] = counts.sum()
    return (100 * counts.div(counts.sum(axis=1), axis=0)).round(2)


def per_item_type(frame: pd.DataFrame) -> pd.DataFrame:
    """CE, LLM and combined means and % poor per (category, anchor product type) — Tables 3-5, 9-14."""
    if frame.empty:
        return pd.DataFrame(
            columns=[
                "group",
                "item_type",
                "n",
                "ce",
                "llm",
                "combined",
                "pct_poor_ce",
                "pct_poor_llm",
                "pct_poor_combined",
            ]
        )
    g = frame.assign(pce=frame["ce"] < POOR, pllm=frame["llm"] < POOR, pcomb=frame["combined"] < POOR)
    out = (
        g.groupby(["group", "anchor_pt"])
        .agg(
            n=("combined", "size"),
            ce=("ce", "mean"),
            llm=("llm", "mean"),
            combined=("combined", "mean"),
            pct_poor_ce=("pce", "mean"),
            pct_poor_llm=("pllm", "mean"),
            pct_poor_combined=("pcomb", "mean"),
        )
        .reset_index()
        .rename(columns={"anchor_pt": "item_type"})
    )
    for c in ("pct_poor_ce", "pct_poor_llm", "pct_poor_combined"):
        out[c] = 100 * out[c]
    return out


def top_bottom_anchors(types: pd.DataFrame, k: int = 5) -> dict[str, pd.DataFrame]:
    """Tables 3 and 4: the highest and lowest item types by CE, LLM and combined."""
    cols = ["group", "item_type", "n", "ce", "llm", "combined"]
    out = {}
    for metric, name in (("ce", "Cross-Encoder"), ("llm", "LLM"), ("combined", "Combined")):
        out[f"Highest {name} scores"] = types.nlargest(k, metric)[cols]
        out[f"Lowest {name} scores"] = types.nsmallest(k, metric)[cols]
    return out


def disagreements(types: pd.DataFrame, k: int = 5) -> dict[str, pd.DataFrame]:
    """Table 5: item types with the highest, moderate (median) and lowest CE - LLM difference."""
    t = types.assign(difference=types["ce"] - types["llm"]).sort_values("difference", ascending=False)
    cols = ["group", "item_type", "ce", "llm", "difference"]
    mid = max(0, len(t) // 2 - k // 2)
    return {
        "Highest CE vs LLM differences": t.head(k)[cols],
        "Moderate CE vs LLM differences": t.iloc[mid : mid + k][cols],
        "Lowest CE vs LLM differences": t.tail(k)[cols],
    }


def worst_recommendations(frame: pd.DataFrame, k: int = 5, min_instances: int = 1) -> pd.DataFrame:
    """Table 6: per category, the k recommendations with the lowest mean CE, LLM and combined score
    (recommendations seen at least `min_instances` times)."""
    rows = []
    if frame.empty:
        return pd.DataFrame(columns=["group", "rank", "by CE", "by LLM", "by combined"])
    for group, g in frame.groupby("group"):
        rec = (
            g.assign(r=g["recommendation"].str.strip().str.lower())
            .groupby("r")
            .agg(
                text=("recommendation", "first"),
                n=("combined", "size"),
                ce=("ce", "mean"),
                llm=("llm", "mean"),
                combined=("combined", "mean"),
            )
        )
        rec = rec[rec["n"] >= min_instances]
        lists = {m: rec.nsmallest(k, m) for m in ("ce", "llm", "combined")}
        for i in range(k):
            cells = [
                f"{lists[m].iloc[i]['text']} ({lists[m].iloc[i][m]:.3f})" if i < len(lists[m]) else "" for m in lists
            ]
            if any(cells):
                rows.append([group, i + 1, *cells])
    return pd.DataFrame(rows, columns=["group", "rank", "by CE", "by LLM", "by combined"])


def leaderboards(types: pd.DataFrame, k: int = 3) -> dict[str, pd.DataFrame]:
    """Tables 9-14: per category, the top k and bottom k item types by each metric (for % poor,
    the highest shares first, as in the paper)."""
    metrics = {
        "Table 9: CE mean": ("ce", False),
        "Table 10: LLM mean": ("llm", False),
        "Table 11: combined mean": ("combined", False),
        "Table 12: % poor CE": ("pct_poor_ce", True),
        "Table 13: % poor LLM": ("pct_poor_llm", True),
        "Table 14: % poor combined": ("pct_poor_combined", True),
    }
    out = {}
    for title, (metric, worst_first) in metrics.items():
        parts = []
        for _, g in types.groupby("group"):
            ordered = g.sort_values(metric, ascending=False)
            head, tail = ordered.head(k), ordered.tail(k)
            parts.append(
                pd.concat([head, tail[~tail.index.isin(head.index)]]).assign(
                    side=(["top"] * len(head) + ["bottom"] * len(tail[~tail.index.isin(head.index)]))
                )
            )
        frame = pd.concat(parts) if parts else types.head(0).assign(side=[])
        if worst_first:
            frame["side"] = frame["side"].map({"top": "most poor", "bottom": "least poor"})
        out[title] = frame[
            [
                "group",
                "side",
                "item_type",
                "n",
                "ce",
                "llm",
                "combined",
                "pct_poor_ce",
                "pct_poor_llm",
                "pct_poor_combined",
            ]
        ]
    return out


def coverage(kept: dict[str, set[int]], historical: set[int]) -> pd.DataFrame:
    """Table 7: unique recommended GM items, historical candidates alone vs with each LLM arm added."""
    rows = [["historical candidates alone", len(historical), 1.0]]
    base = max(len(historical), 1)
    for arm, items in kept.items():
        union = items | historical
        rows.append([f"{arm}: LLM recommendations alone", len(items), len(items) / base])
        rows.append([f"historical + {arm}", len(union), len(union) / base])
    return pd.DataFrame(rows, columns=["method", "unique items", "x historical"]).round(2)
