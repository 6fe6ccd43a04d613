"""Combined score and quality bands at and around every boundary."""

import math

import pytest

from xpollinate.judges.bands import Band, band, combined_score, keeps


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (1.0, Band.EXCELLENT),
        (0.7, Band.EXCELLENT),
        (0.6998, Band.VERY_GOOD),
        (0.6, Band.VERY_GOOD),
        (0.5999, Band.GOOD),
        (0.5, Band.GOOD),
        (0.4999, Band.FAIR),
        (0.4, Band.FAIR),
        (0.3999, Band.POOR),
        (0.0, Band.POOR),
    ],
)
def test_band_boundaries(score: float, expected: Band) -> None:
    assert band(score) is expected


def test_combined_is_the_product_and_poor_is_dropped() -> None:
    assert combined_score(0.9, 0.8) == pytest.approx(0.72)
    assert band(combined_score(0.9, 0.8)) is Band.EXCELLENT
    assert not keeps(combined_score(0.95, 0.4))  # one weak side sinks it: 0.38
    assert keeps(combined_score(0.8, 0.5))
    assert band(0.7 - 1e-12) is Band.EXCELLENT  # a product a rounding error under a floor keeps its band


@pytest.mark.parametrize("bad", [-0.1, 1.01, math.nan])
def test_out_of_range_scores_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError, match="must be in"):
        combined_score(bad, 0.5)
    with pytest.raises(ValueError, match="must be in"):
        band(bad)
