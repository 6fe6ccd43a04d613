"""Paired statistics over anchors: bootstrap 95% confidence intervals and a two-sided p-value."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairedResult:
    n: int
    mean_a: float
    mean_b: float
    diff: float  # mean of (b - a)
    ci_low: float
    ci_high: float
    p_value: float


def paired_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int = 10_000, seed: int = 0) -> PairedResult:
    """Resample anchors with replacement; the CI is the 2.5/97.5 percentiles of the mean difference,
    and p the share of null-centred resampled means at least as far from 0 as the observed one."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired samples must have the same length")
    n = len(a)
    if n == 0:
        nan = float("nan")
        return PairedResult(0, nan, nan, nan, nan, nan, nan)
    d = b - a
    observed = float(d.mean())
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = d[idx].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    centred = means - observed
    p = float((np.abs(centred) >= abs(observed) - 1e-12).mean()) if n > 1 else 1.0
    return PairedResult(n, float(a.mean()), float(b.mean()), observed, float(low), float(high), max(p, 1.0 / n_boot))
