"""Combined score and quality bands (XP paper 2.1.2, eq. 1).

Combined = CE x LLM: a recommendation must do well on both semantic alignment
(cross-encoder) and contextual relevance (LLM judge); low performance in either
sinks it. Bands partition [0, 1]; Poor (< 0.4) is removed before ranking.
"""

from __future__ import annotations

from enum import Enum


class Band(str, Enum):
    EXCELLENT = "Excellent"
    VERY_GOOD = "Very Good"
    GOOD = "Good"
    FAIR = "Fair"
    POOR = "Poor"


# Lower bounds, highest first: a score >= bound falls in that band.
BAND_FLOORS: tuple[tuple[float, Band], ...] = (
    (0.7, Band.EXCELLENT),
    (0.6, Band.VERY_GOOD),
    (0.5, Band.GOOD),
    (0.4, Band.FAIR),
)


POOR_BELOW = BAND_FLOORS[-1][0]  # a combined score below the Fair floor is Poor (0.4)


def _check_unit(name: str, value: float) -> float:
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    return value


def combined_score(ce: float, llm: float) -> float:
    """CE x LLM, both in [0, 1]."""
    return _check_unit("ce", ce) * _check_unit("llm", llm)


# Products such as 0.875 x 0.8 land a hair under a floor in binary floating point.
_EPS = 1e-9


def band(score: float) -> Band:
    """The quality band of a combined score."""
    _check_unit("score", score)
    for floor, name in BAND_FLOORS:
        if score >= floor - _EPS:
            return name
    return Band.POOR


def keeps(score: float) -> bool:
    """Whether a recommendation survives filtering (anything but Poor)."""
    return band(score) is not Band.POOR
