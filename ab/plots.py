"""Report figures (matplotlib, Agg backend) as PNG bytes, embedded base64 in the HTML report."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd


def _png(fig) -> bytes:  # type: ignore[no-untyped-def]
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _plt():  # type: ignore[no-untyped-def]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def band_bars(bands: dict[str, pd.DataFrame]) -> bytes:
    """Overall share of each quality band, one bar per arm."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    names = list(bands)
    cols = next(iter(bands.values())).columns
    x = np.arange(len(cols))
    width = 0.8 / max(len(names), 1)
    for i, arm in enumerate(names):
        overall = bands[arm].loc["Overall"] if "Overall" in bands[arm].index else pd.Series(0, index=cols)
        ax.bar(x + i * width, overall.values, width, label=arm)
    ax.set_xticks(x + width * (len(names) - 1) / 2, cols)
    ax.set_ylabel("% of scored pairs")
    ax.set_title("Quality band distribution")
    ax.legend()
    return _png(fig)


def category_bars(table1: pd.DataFrame, arms: list[str]) -> bytes:
    """Mean combined score per category, arms side by side."""
    plt = _plt()
    rows = table1.drop(index="Overall", errors="ignore")
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows) + 2), 3.8))
    x = np.arange(len(rows))
    width = 0.8 / max(len(arms), 1)
    for i, arm in enumerate(arms):
        ax.bar(x + i * width, rows[arm].values, width, label=arm)
    ax.set_xticks(x + width * (len(arms) - 1) / 2, rows.index, rotation=30, ha="right")
    ax.set_ylabel("mean combined score")
    ax.set_title("Per-category comparison")
    ax.legend()
    return _png(fig)


def score_histograms(scored: dict[str, pd.DataFrame]) -> bytes:
    """Histograms of the CE, LLM and combined scores per arm."""
    plt = _plt()
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2))
    bins = np.linspace(0, 1, 21)
    for ax, metric in zip(axes, ("ce", "llm", "combined")):
        for arm, frame in scored.items():
            ax.hist(frame[metric].to_numpy(dtype=float), bins=bins, alpha=0.55, label=arm)
        ax.axvline(0.4, color="k", lw=0.8, ls="--")
        ax.set_title(metric)
    axes[0].legend()
    return _png(fig)
