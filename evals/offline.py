"""An offline stand-in for the paper's online metric (same-session GM add-to-cart on item pages).

For each anchor of a stored run, several lists of GM product types are scored on held-out
weeks of real baskets:

- `llm`: the product types of the run's items that came from the model (source llm or both);
- `historical`: the anchor product type's associated GM product types (co-purchase and
  PT-name similarity, paper 2.1.1), computed from the weeks *before* the held-out ones;
- `merged`: their union (Item XP);
- `random`: as many GM product types as `merged`, drawn at random;
- `popularity-matched`: for each product type of `merged`, a random other GM product type of
  the same popularity decile (so a list cannot win by naming popular types alone), and
  `llm popularity-matched`, the same for the model's list alone.

An event is a held-out basket that holds the anchor's product type. A list's hit share for
one event is the share of its product types the household bought in that basket (`basket`)
or within the window of `window_weeks` weeks starting with its week (`window`); an anchor's
hit share is the mean over its events, and each list's figure the mean over anchors with a
bootstrap 95% CI (BCa, `scipy.stats.bootstrap`). Novelty is the share of the model's
product types absent from the historical list.

Nothing leaks: the historical list and the run's shortlist (with catalog grounding, the model
picks from historical product types too) must come from weeks before `holdout_from`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import stats

from xpollinate.errors import XPError
from xpollinate.retrieval.transactions import BasketLines

LISTS = ("llm", "llm popularity-matched", "historical", "merged", "random", "popularity-matched")


@dataclass(frozen=True)
class HeldOut:
    """Held-out baskets as product-type incidence: per basket and per household window."""

    basket_pts: sp.csr_matrix  # baskets x product types (binary)
    window_pts: sp.csr_matrix  # baskets x product types bought by the household within the window from its week
    pt_index: dict[str, int]

    @classmethod
    def build(cls, baskets: pd.DataFrame, items: pd.DataFrame, holdout_from: int, window_weeks: int = 3) -> HeldOut:
        held = baskets[baskets["week"] >= holdout_from].reset_index(drop=True)
        if held.empty:
            raise XPError(f"no baskets from week {holdout_from} on: the data ends at week {int(baskets['week'].max())}")
        lines = BasketLines.from_baskets(held)
        pts = items.set_index("item_id")["product_type"]
        names = pts.reindex(lines.item).to_numpy()
        keep = pd.notna(names) & (names != "")
        codes, uniques = pd.factorize(names[keep], sort=True)
        n_pts = len(uniques)
        basket = sp.csr_matrix(
            (np.ones(keep.sum(), dtype=np.float32), (lines.basket[keep], codes)), shape=(len(held), n_pts)
        )
        basket.data[:] = 1.0
        basket.sum_duplicates()
        basket.data = np.minimum(basket.data, 1.0)
        # household-week incidence, then a window of weeks [w, w + window_weeks) for each basket's (household, week)
        hh, week = held["household_id"].to_numpy(), held["week"].to_numpy()
        hw_codes, hw_keys = pd.factorize(pd.MultiIndex.from_arrays([hh, week]))
        by_hw = (
            sp.csr_matrix(
                (np.ones(len(held), dtype=np.float32), (hw_codes, np.arange(len(held)))),
                shape=(len(hw_keys), len(held)),
            )
            @ basket
        )
        lookup = {key: i for i, key in enumerate(hw_keys)}
        rows, cols = [], []
        for b, (h, w) in enumerate(zip(hh, week)):
            for dw in range(window_weeks):
                j = lookup.get((h, w + dw))
                if j is not None:
                    rows.append(b)
                    cols.append(j)
        spread = sp.csr_matrix((np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(held), len(hw_keys)))
        window = (spread @ by_hw).tocsr()
        window.data = np.minimum(window.data, 1.0)
        return cls(basket.tocsr(), window, {str(p): i for i, p in enumerate(uniques)})

    def hit_share(self, anchor_pt: str, listed: Sequence[str]) -> tuple[float, float, int]:
        """(basket hit share, window hit share, events) of a list for one anchor product type."""
        col = self.pt_index.get(anchor_pt)
        if col is None or not listed:
            return float("nan"), float("nan"), 0
        events = self.basket_pts[:, col].nonzero()[0]
        if len(events) == 0:
            return float("nan"), float("nan"), 0
        cols = [self.pt_index[p] for p in listed if p in self.pt_index]
        if not cols:
            return 0.0, 0.0, len(events)
        in_basket = np.asarray(self.basket_pts[events][:, cols].sum(axis=1)).ravel() / len(listed)
        in_window = np.asarray(self.window_pts[events][:, cols].sum(axis=1)).ravel() / len(listed)
        return float(in_basket.mean()), float(in_window.mean()), len(events)


def popularity_matched(
    listed: Sequence[str], pool: Sequence[str], popularity: dict[str, float], rng: random.Random, bins: int = 10
) -> list[str]:
    """For each listed product type, a random other one from the same popularity decile of `pool`."""
    ranked = sorted(pool, key=lambda p: (-popularity.get(p, 0.0), p))
    decile = {p: min(i * bins // max(len(ranked), 1), bins - 1) for i, p in enumerate(ranked)}
    groups: dict[int, list[str]] = {}
    for p in ranked:
        groups.setdefault(decile[p], []).append(p)
    taken = set(listed)
    out = []
    for p in listed:
        options = [q for q in groups.get(decile.get(p, bins - 1), []) if q not in taken]
        if options:
            choice = rng.choice(options)
            taken.add(choice)
            out.append(choice)
    return out


def mean_ci(values: Sequence[float], seed: int = 0) -> tuple[float, float, float]:
    """Mean and bootstrap 95% CI (BCa) over anchors; NaN CI for fewer than 3 values or no spread."""
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    if len(x) < 3 or np.ptp(x) == 0:
        return float(x.mean()), float("nan"), float("nan")
    res = stats.bootstrap(
        (x,), np.mean, confidence_level=0.95, method="BCa", n_resamples=9999, random_state=np.random.default_rng(seed)
    )
    return float(x.mean()), float(res.confidence_interval.low), float(res.confidence_interval.high)


@dataclass
class EvalLists:
    anchor_id: int
    anchor_pt: str
    lists: dict[str, list[str]]


def anchor_lists(
    anchor_id: int,
    anchor_pt: str,
    llm_pts: Sequence[str],
    historical: Sequence[str],
    pool: Sequence[str],
    popularity: dict[str, float],
    seed: int,
) -> EvalLists:
    """The five lists of one anchor (random draws seeded by the anchor, so reruns agree)."""
    rng = random.Random(seed * 1_000_003 + anchor_id)
    llm_pts = list(dict.fromkeys(llm_pts))
    historical = list(dict.fromkeys(historical))
    merged = list(dict.fromkeys([*llm_pts, *historical]))
    others = [p for p in pool if p not in set(merged)]
    lists = {
        "llm": llm_pts,
        "llm popularity-matched": popularity_matched(llm_pts, pool, popularity, rng),
        "historical": historical,
        "merged": merged,
        "random": rng.sample(others, min(len(merged), len(others))),
        "popularity-matched": popularity_matched(merged, pool, popularity, rng),
    }
    return EvalLists(anchor_id, anchor_pt, lists)


def evaluate(held: HeldOut, anchors: Sequence[EvalLists], seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(per-anchor rows, per-list summary with CIs and novelty)."""
    rows = []
    for a in anchors:
        for name, listed in a.lists.items():
            b, w, n = held.hit_share(a.anchor_pt, listed)
            rows.append(
                {
                    "anchor_id": a.anchor_id,
                    "anchor_pt": a.anchor_pt,
                    "list": name,
                    "size": len(listed),
                    "events": n,
                    "basket": b,
                    "window": w,
                }
            )
    per_anchor = pd.DataFrame(rows)
    summary = []
    for name in LISTS:
        part = per_anchor[(per_anchor["list"] == name) & (per_anchor["events"] > 0) & (per_anchor["size"] > 0)]
        w_mean, w_low, w_high = mean_ci(part["window"].tolist(), seed)
        b_mean, b_low, b_high = mean_ci(part["basket"].tolist(), seed)
        summary.append(
            {
                "list": name,
                "anchors": len(part),
                "mean size": float(part["size"].mean()) if len(part) else 0.0,
                "window hit share": w_mean,
                "window CI low": w_low,
                "window CI high": w_high,
                "basket hit share": b_mean,
                "basket CI low": b_low,
                "basket CI high": b_high,
            }
        )
    return per_anchor, pd.DataFrame(summary)


def novelty(anchors: Sequence[EvalLists]) -> float:
    """Mean over anchors of the share of the model's product types absent from the historical list."""
    shares = [
        len(set(a.lists["llm"]) - set(a.lists["historical"])) / len(a.lists["llm"]) for a in anchors if a.lists["llm"]
    ]
    return float(np.mean(shares)) if shares else float("nan")
