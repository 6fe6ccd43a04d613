"""Market-basket statistics for grocery -> GM pairs (XP paper 2.1.1).

A *transaction* is either one basket or one household's purchases within a
window of weeks (the paper's multi-session co-purchase, three weeks there).
For antecedent A (grocery) and consequent B (GM), over N transactions:

    support    = P(A,B) = n_AB / N
    confidence = P(B|A) = n_AB / n_A
    lift       = P(A,B) / (P(A) P(B))
    leverage   = P(A,B) - P(A) P(B)
    conviction = (1 - P(B)) / (1 - confidence)      (inf when confidence == 1)

These are mlxtend's `association_rules` definitions (a test checks equality).

Lift is inflated for every pair by large baskets (a 60-item basket "co-buys"
everything). `adjusted_lift` = n_AB / E[n_AB], where the expectation lets B's
chance of being bought depend on the size of A's transactions: with transactions
grouped into size buckets s, E[n_AB] = sum_s n_A(s) P(B | s). A pair that is only
common in big baskets has adjusted lift near 1; coffee -> coffee filters stays high.
All pairs are counted at once as a sparse product X_og^T X_gm of transaction x key
incidence matrices, which is what keeps the full dataset within seconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pydantic import BaseModel, ConfigDict, Field

Unit = Literal["basket", "window"]
Level = Literal["pt", "item"]
METRICS = ("support", "confidence", "lift", "leverage", "conviction")


class Thresholds(BaseModel):
    """Minimums a pair must meet to be kept (out-of-range values fail validation naming the field)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    min_support: float = Field(0.0, ge=0.0, le=1.0, description="minimum P(A,B)")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0, description="minimum P(B|A)")
    min_count: int = Field(1, ge=1, description="minimum number of transactions holding both A and B")


@dataclass(frozen=True)
class Incidence:
    """A binary transactions x keys matrix with the key labels of its columns."""

    matrix: sp.csr_matrix
    keys: np.ndarray

    @property
    def n_transactions(self) -> int:
        return self.matrix.shape[0]


def incidence(transaction: np.ndarray, key: np.ndarray, n_transactions: int, keys: np.ndarray) -> Incidence:
    """Incidence matrix from parallel arrays (transaction index, key index); duplicates count once."""
    data = np.ones(len(transaction), dtype=np.int32)
    m = sp.csr_matrix((data, (transaction, key)), shape=(n_transactions, len(keys)))
    m.sum_duplicates()
    m.data[:] = 1
    return Incidence(m, keys)


def size_buckets(sizes: np.ndarray, n_buckets: int = 20) -> np.ndarray:
    """Bucket index per transaction from quantiles of its size (distinct items)."""
    edges = np.unique(np.quantile(sizes, np.linspace(0, 1, n_buckets + 1)[1:-1]))
    return np.searchsorted(edges, sizes, side="right")


def expected_pair_counts(og: Incidence, gm: Incidence, buckets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """E[n_AB] for the given pairs under 'B depends only on transaction size' (see module doc)."""
    n_b = int(buckets.max()) + 1 if len(buckets) else 1
    s = sp.csr_matrix((np.ones(len(buckets)), (np.arange(len(buckets)), buckets)), shape=(len(buckets), n_b))
    per_bucket = np.asarray(s.sum(axis=0)).ravel()
    count_a = (og.matrix.T.tocsr().astype(np.float64) @ s).toarray()  # A x S
    with np.errstate(divide="ignore", invalid="ignore"):
        p_b = np.nan_to_num((gm.matrix.T.tocsr().astype(np.float64) @ s).toarray() / per_bucket)  # B x S
    return np.einsum("ij,ij->i", count_a[a], p_b[b])


def pair_statistics(
    og: Incidence, gm: Incidence, thresholds: Thresholds, sizes: np.ndarray | None = None
) -> pd.DataFrame:
    """All (A in og.keys, B in gm.keys) pairs meeting `thresholds`, with counts and METRICS.

    With `sizes` (distinct items per transaction) an `adjusted_lift` column is added.
    """
    if og.n_transactions != gm.n_transactions:
        raise ValueError("og and gm incidence matrices must share their transactions")
    n = og.n_transactions
    co = (og.matrix.T.tocsr() @ gm.matrix).tocoo()
    n_a = np.asarray(og.matrix.sum(axis=0)).ravel().astype(np.int64)
    n_b = np.asarray(gm.matrix.sum(axis=0)).ravel().astype(np.int64)
    n_ab = co.data.astype(np.int64)
    keep = n_ab >= thresholds.min_count
    if n:
        keep &= n_ab / n >= thresholds.min_support
        keep &= n_ab / n_a[co.row] >= thresholds.min_confidence
    a, b, n_ab = co.row[keep], co.col[keep], n_ab[keep]
    frame = pd.DataFrame(
        {"antecedent": og.keys[a], "consequent": gm.keys[b], "n_a": n_a[a], "n_b": n_b[b], "n_ab": n_ab}
    )
    frame["n_transactions"] = n
    if sizes is not None:
        expected = expected_pair_counts(og, gm, size_buckets(sizes), a, b)
        with np.errstate(divide="ignore"):
            frame["adjusted_lift"] = n_ab / expected
    return with_metrics(frame)


def with_metrics(frame: pd.DataFrame) -> pd.DataFrame:
    """Add METRICS columns from the count columns n_a, n_b, n_ab, n_transactions."""
    n = frame["n_transactions"].to_numpy(dtype=np.float64)
    p_a = frame["n_a"].to_numpy() / n
    p_b = frame["n_b"].to_numpy() / n
    p_ab = frame["n_ab"].to_numpy() / n
    confidence = p_ab / p_a
    with np.errstate(divide="ignore", invalid="ignore"):
        conviction = np.where(confidence >= 1.0, np.inf, (1.0 - p_b) / (1.0 - confidence))
    frame = frame.assign(
        support=p_ab, confidence=confidence, lift=confidence / p_b, leverage=p_ab - p_a * p_b, conviction=conviction
    )
    return frame.sort_values(["antecedent", "lift"], ascending=[True, False], kind="stable").reset_index(drop=True)
