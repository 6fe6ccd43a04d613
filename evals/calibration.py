"""Judge calibration: do the evaluator and the judge separate known-good pairs from random ones?

A calibration set is built from the training weeks' baskets: for each anchor (a grocery
item, one per product type), its positives are the GM product types most strongly
co-purchased with its product type (at least `min_shared` shared baskets and an adjusted
lift of at least `min_lift`), and as many negatives, GM product types drawn at random from
those with no association to it at all. The lift floor matters: without it, the "strongest"
co-purchases of staples such as milk or bananas are other staples (dish detergent, toilet
tissue) at an adjusted lift near 1, i.e. no association, which no judge should call a match. Each scorer (a prompt version on a model) scores every pair; its AUC is the
probability that a random positive outscores a random negative (Mann-Whitney U / n+n-).
Pairs are ordered so any prefix is balanced across anchors and labels, which lets the
expensive rubric prompts score a prefix only.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

from xpollinate.agents.calls import ask, is_lean
from xpollinate.agents.recommend import GENERAL_CONTEXT
from xpollinate.judges.llm_judge import pt_label
from xpollinate.llm import LLM
from xpollinate.metrics import mean_sd
from xpollinate.prompts.schemas import YesProbabilities
from xpollinate.records import Anchor, typed_label
from xpollinate.retrieval.associations import Associations
from xpollinate.retrieval.vocabulary import GMVocabulary

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class CalibrationPair:
    anchor_id: int
    anchor_pt: str
    anchor_name: str
    product_type: str
    name: str
    category: str
    label: int  # 1: strongly co-purchased, 0: random unassociated GM product type
    adjusted_lift: float | None
    shared_baskets: int | None
    rank: int  # position within its anchor and label (for balanced prefixes)


def calibration_pairs(
    anchors: Sequence[Anchor],
    associations: Associations,
    vocabulary: GMVocabulary,
    positives: int = 3,
    min_shared: int = 20,
    min_lift: float = 2.0,
    seed: int = 0,
) -> list[CalibrationPair]:
    """Up to `positives` positives per anchor and as many negatives; anchors with no strong association are skipped."""
    basket = associations.table("pt_basket")
    associated = set(zip(basket["antecedent"], basket["consequent"]))
    window = associations.table("pt_window")
    associated |= set(zip(window["antecedent"], window["consequent"]))
    strong = basket[
        (basket["n_ab"] >= min_shared)
        & (basket["adjusted_lift"] >= min_lift)
        & basket["consequent"].isin(set(vocabulary.product_types))
    ]
    strong = strong.sort_values(["antecedent", "adjusted_lift"], ascending=[True, False])
    by_anchor = {pt: frame for pt, frame in strong.groupby("antecedent", sort=False)}
    rng = random.Random(seed)
    categories = dict(zip(vocabulary.product_types, vocabulary.categories or [""] * len(vocabulary)))
    category = categories.__getitem__

    def pair(anchor: Anchor, pt: str, label: int, lift: float | None, shared: int | None, rank: int) -> CalibrationPair:
        return CalibrationPair(
            int(anchor.item_id or -1),
            anchor.product_type,
            anchor.name,
            pt,
            vocabulary.name(pt),
            category(pt),
            label,
            lift,
            shared,
            rank,
        )

    pairs: list[CalibrationPair] = []
    for anchor in anchors:
        frame = by_anchor.get(anchor.product_type)
        if frame is None or frame.empty:
            continue
        frame = frame.head(positives)
        for rank, row in enumerate(frame.itertuples(index=False)):
            pairs.append(pair(anchor, str(row.consequent), 1, float(row.adjusted_lift), int(row.n_ab), rank))
        pool = [pt for pt in vocabulary.product_types if (anchor.product_type, pt) not in associated]
        for rank, pt in enumerate(rng.sample(pool, min(len(frame), len(pool)))):
            pairs.append(pair(anchor, pt, 0, None, None, rank))
    order = {a.product_type: i for i, a in enumerate(anchors)}
    return sorted(pairs, key=lambda p: (p.rank, order[p.anchor_pt], -p.label))


def pair_variables(pair: CalibrationPair, anchor: Anchor, lean: bool) -> dict[str, object]:
    """Every variable a scoring prompt may take, for one pair (each prompt uses the ones it declares), named
    as the graph names them: the lean yes/no prompts get product types with their categories."""
    rec = typed_label(pair.name, pair.category) if lean else pair.name
    return {
        "anchor_item": anchor.label if lean else anchor.prompt_text,
        "anchor_pt": anchor.label if lean else pt_label(pair.anchor_pt),
        "context": GENERAL_CONTEXT,
        "recommendation": rec,
        "explanation": "-",
        "llm_rec": pair.name,
        "rec_pt": rec,
    }


@dataclass
class ScorerResult:
    prompt: str
    llm: str
    scores: list[float | None]  # per pair (None: not scored or failed)
    failures: int
    seconds: float
    calls: int


def score_pairs(
    llm: LLM,
    prompt: str,
    pairs: Sequence[CalibrationPair],
    anchors: dict[int, Anchor],
    limit: int | None,
    workers: int = 4,
    progress: Progress | None = None,
) -> ScorerResult:
    """`prompt`'s score for the first `limit` pairs (all when None), through the LLM layer and its cache; a
    yes/no list prompt (`YesProbabilities`) is asked once per anchor for all its chosen pairs."""
    from xpollinate.agents.calls import bounded_map

    template = llm.registry.get(prompt)
    wanted = set(template.variables)
    lean = is_lean(llm, prompt)
    chosen = list(pairs[:limit] if limit else pairs)
    done = [0]
    before = llm.usage.total.calls
    output = template.output_model

    def one(pair: CalibrationPair) -> float | None:
        values = pair_variables(pair, anchors[pair.anchor_id], lean)
        result = ask(llm, prompt, {k: v for k, v in values.items() if k in wanted})
        done[0] += 1
        if progress is not None:
            progress(done[0], len(chosen))
        return float(result.value.score) if result.ok else None  # type: ignore[attr-defined]

    started = time.perf_counter()
    if output is not None and issubclass(output, YesProbabilities):
        scores = _listed_scores(llm, prompt, chosen, anchors, workers, progress)
    else:
        scores = bounded_map(one, chosen, workers)
    seconds = time.perf_counter() - started
    scores += [None] * (len(pairs) - len(chosen))
    failures = sum(s is None for s in scores[: len(chosen)])
    return ScorerResult(prompt, str(llm.spec), scores, failures, seconds, llm.usage.total.calls - before)


def _listed_scores(
    llm: LLM,
    prompt: str,
    chosen: list[CalibrationPair],
    anchors: dict[int, Anchor],
    workers: int,
    progress: Progress | None,
) -> list[float | None]:
    """One call per anchor: its pairs' product types as a numbered list, one P(yes) each (None: failed)."""
    from xpollinate.agents.calls import bounded_map

    groups: dict[int, list[int]] = {}
    for i, pair in enumerate(chosen):
        groups.setdefault(pair.anchor_id, []).append(i)
    scores: list[float | None] = [None] * len(chosen)
    done = [0]

    def one(anchor_id: int) -> None:
        members = [chosen[i] for i in groups[anchor_id]]
        products = "\n".join(f"{k}. {typed_label(p.name, p.category)}" for k, p in enumerate(members, start=1))
        variables = {"anchor_pt": anchors[anchor_id].label, "n": len(members), "products": products}
        result = ask(llm, prompt, variables)
        if result.ok:
            for i, answer in zip(groups[anchor_id], result.value.answers):  # type: ignore[attr-defined]
                scores[i] = float(answer.score)
        done[0] += len(members)
        if progress is not None:
            progress(done[0], len(chosen))

    bounded_map(one, list(groups), workers)
    return scores


def auc(labels: Sequence[int], scores: Sequence[float]) -> float:
    """P(a random positive outscores a random negative), ties counting half (Mann-Whitney U / n+ n-)."""
    y, s = np.asarray(labels), np.asarray(scores, dtype=float)
    pos, neg = s[y == 1], s[y == 0]
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    u = stats.mannwhitneyu(pos, neg, alternative="two-sided").statistic
    return float(u) / (len(pos) * len(neg))


def within_anchor_auc(anchors: Sequence[str], labels: Sequence[int], scores: Sequence[float]) -> float:
    """P(a positive outscores a negative of the same anchor), ties counting half: how well a scorer ranks one
    anchor's candidates, which is what the pipeline asks of it (pooled AUC also compares across anchors)."""
    a, y, s = np.asarray(anchors), np.asarray(labels), np.asarray(scores, dtype=float)
    wins, total = 0.0, 0
    for anchor in np.unique(a):
        pos, neg = s[(a == anchor) & (y == 1)], s[(a == anchor) & (y == 0)]
        if len(pos) and len(neg):
            diff = pos[:, None] - neg[None, :]
            wins += float((diff > 0).sum()) + 0.5 * float((diff == 0).sum())
            total += diff.size
    return wins / total if total else float("nan")


def summary_table(pairs: Sequence[CalibrationPair], results: Sequence[ScorerResult]) -> pd.DataFrame:
    """Per scorer: pairs scored, AUC (pooled and within anchors), the score distributions of positives and
    negatives, failures, cost."""
    labels = np.array([p.label for p in pairs])
    anchor_pts = np.array([p.anchor_pt for p in pairs])
    rows = []
    for r in results:
        mask = np.array([s is not None for s in r.scores])
        s = np.array([x if x is not None else np.nan for x in r.scores], dtype=float)
        (pos_mean, pos_sd), (neg_mean, neg_sd) = mean_sd(s[mask & (labels == 1)]), mean_sd(s[mask & (labels == 0)])
        rows.append(
            {
                "prompt": r.prompt,
                "model": r.llm,
                "pairs": int(mask.sum()),
                "AUC": auc(labels[mask], s[mask]),
                "within-anchor AUC": within_anchor_auc(anchor_pts[mask], labels[mask], s[mask]),
                "positives mean": pos_mean,
                "positives sd": pos_sd,
                "negatives mean": neg_mean,
                "negatives sd": neg_sd,
                "distinct scores": len(np.unique(s[mask])),
                "failures": r.failures,
                "model calls": r.calls,
                "seconds": round(r.seconds, 1),
            }
        )
    return pd.DataFrame(rows)


def agreement(a: ScorerResult, b: ScorerResult) -> dict[str, float]:
    """Spearman correlation and mean absolute difference of two scorers on the pairs both scored."""
    both = [(x, y) for x, y in zip(a.scores, b.scores) if x is not None and y is not None]
    if len(both) < 3:
        return {"pairs": len(both), "spearman": float("nan"), "mean_abs_diff": float("nan")}
    x, y = np.array(both).T
    rho = stats.spearmanr(x, y).statistic
    return {"pairs": len(both), "spearman": float(rho), "mean_abs_diff": float(np.mean(np.abs(x - y)))}


def pairs_frame(pairs: Sequence[CalibrationPair], results: Sequence[ScorerResult]) -> pd.DataFrame:
    frame = pd.DataFrame([asdict(p) for p in pairs])
    for r in results:
        frame[r.prompt] = r.scores
    return frame
