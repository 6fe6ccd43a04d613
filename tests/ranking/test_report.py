"""Result tables from saved runs: grouping by run id, lift over the heuristic, spreads over seeds."""

from __future__ import annotations

import pytest

from xpollinate.ranking import report


def _metrics(ndcg: float, buckets: dict[str, float] | None = None) -> dict:
    by_size = {b: {"carts": 5, "ndcg@2": v, "ndcg@4": v, "ndcg@6": v} for b, v in (buckets or {}).items()}
    return {"test": {"ndcg@2": ndcg, "ndcg@4": ndcg, "ndcg@6": ndcg, "by_cart_size": by_size}}


@pytest.fixture()
def runs() -> dict[str, dict]:
    return {
        "xp+pop-listwise-basket-c50-s0": _metrics(0.12, {"<10": 0.10}),
        "xp+pop-listwise-basket-c50-s1": _metrics(0.14, {"<10": 0.12}),
        "xp-listwise-basket-c50-s0": _metrics(0.11),
        "xp+pre+pop-listwise-basket-c50-s0": _metrics(0.15),  # pre-norm encoder: its own row
        "xp+cos-listwise-basket-c50-s0": _metrics(0.13),  # cosine schedule: its own row
        "xp+cos-listwise-basket-c50-s0-e20-p20": _metrics(0.16),  # another recipe: its own row, seeds grouped
        "xp+cos-listwise-basket-c50-s1-e20-p20": _metrics(0.18),
        "xp+wsd-listwise-basket-c50-s0-e20-p20": _metrics(0.19),  # warm-up-stable-decay schedule: its own row
        "xp+pop-listwise-basket-c30-s0": _metrics(0.09),
        "xp+pop-listwise-7d-c50-s0": _metrics(0.50),  # another label: never mixed in
        "not-a-run": _metrics(0.99),
    }


BASE = {
    "heuristic": {**_metrics(0.10, {"<10": 0.08})["test"], "carts": 10},
    "popularity": {**_metrics(0.125)["test"], "carts": 10},
}


def test_table8_groups_seeds_and_names_the_prior(runs) -> None:
    rows = {(r[0], r[1]): r for r in report.table8(runs, BASE)}
    prior = rows[("Transformer + cross-attention (paper) + popularity prior", "listwise")]
    assert prior[2] == "2" and prior[4] == "0.1300 ± 0.0141"
    assert prior[7] == "+30.00 ± 14.14"  # lifts per seed (+20 %, +40 %) over the heuristic's 0.10 (sd, ddof=1)
    paper = rows[("Transformer + cross-attention (paper)", "listwise")]
    assert paper[2] == "1" and paper[4] == "0.1100" and paper[7] == "+10.00"
    assert rows[("popularity", "-")][7] == "+25.00"
    pre = rows[("Transformer + cross-attention (paper), pre-norm + popularity prior", "listwise")]
    assert pre[2] == "1" and pre[4] == "0.1500"
    cosine = rows[("Transformer + cross-attention (paper), cosine LR", "listwise")]
    assert cosine[2] == "1" and cosine[4] == "0.1300"
    recipe = rows[("Transformer + cross-attention (paper), cosine LR, recipe e20-p20", "listwise")]
    assert recipe[2] == "2" and recipe[4] == "0.1700 ± 0.0141"
    wsd = rows[("Transformer + cross-attention (paper), WSD LR, recipe e20-p20", "listwise")]
    assert wsd[2] == "1" and wsd[4] == "0.1900"
    order = [r[0] for r in report.table8(runs, BASE)]
    assert order.index("Transformer + cross-attention (paper), cosine LR") < order.index(
        "Transformer + cross-attention (paper), cosine LR, recipe e20-p20"
    )


def test_table15_and_ablation_use_the_prior_variant_by_default(runs) -> None:
    assert report.table15(runs, BASE) == [["<10", "5", "+37.50 ± 17.68", "+37.50 ± 17.68", "+37.50 ± 17.68"]]
    rows = report.ablation(runs)
    assert [r[0] for r in rows] == ["50", "30"]
    assert rows[1][5] == "-25.00"  # 0.09 against the 50-item run of the same seed (0.12)
