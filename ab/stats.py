"""Paired statistics over anchors: a bootstrap 95% confidence interval of the mean difference
(BCa, `scipy.stats.bootstrap`) and a two-sided p-value from a sign-flip permutation test
(`scipy.stats.permutation_test` with paired samples: under the null each anchor's difference
is as likely to have either sign)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


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
    """Mean difference b - a over paired anchors, its BCa 95% CI and a sign-flip permutation p-value.

    With fewer than 3 pairs, or no spread in the differences, the CI is the point itself (or NaN
    for none) and p is 1 when every difference is 0."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        raise ValueError("paired samples must have the same length")
    n = len(a)
    nan = float("nan")
    if n == 0:
        return PairedResult(0, nan, nan, nan, nan, nan, nan)
    d = b - a
    observed = float(d.mean())
    if n < 3 or np.ptp(d) == 0:
        p = 1.0 if not np.any(d) else nan
        return PairedResult(
            n, float(a.mean()), float(b.mean()), observed, observed if n else nan, observed if n else nan, p
        )
    rng = np.random.default_rng(seed)
    ci = stats.bootstrap((d,), np.mean, confidence_level=0.95, n_resamples=n_boot, method="BCa", random_state=rng)
    perm = stats.permutation_test(
        (a, b),
        lambda x, y: np.mean(y - x),
        permutation_type="samples",
        n_resamples=n_boot,
        alternative="two-sided",
        random_state=rng,
    )
    return PairedResult(
        n,
        float(a.mean()),
        float(b.mean()),
        observed,
        float(ci.confidence_interval.low),
        float(ci.confidence_interval.high),
        float(perm.pvalue),
    )
