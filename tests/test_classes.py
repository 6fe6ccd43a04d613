"""The OG/GM rule: reviewed per (department, category), tested on known categories."""

import pandas as pd
import pytest

from xpollinate.catalog import classes
from xpollinate.catalog.source import locate_source
from xpollinate.errors import SourceDataError


@pytest.mark.parametrize(
    ("department", "category", "expected"),
    [
        ("GROCERY", "COFFEE", "grocery"),
        ("GROCERY", "EGGS", "grocery"),
        ("GROCERY", "DOG FOODS", "grocery"),
        ("GROCERY", "PAPER TOWELS", "gm"),  # non-food sold in the grocery department
        ("GROCERY", "LAUNDRY DETERGENTS", "gm"),
        ("DRUG GM", "COFFEE FILTERS", "gm"),
        ("DRUG GM", "KITCHEN GADGETS", "gm"),
        ("DRUG GM", "COOKWARE & BAKEWARE", "gm"),
        ("DRUG GM", "BATTERIES", "gm"),
        ("DRUG GM", "CANDY - PACKAGED", "grocery"),  # food filed under DRUG GM
        ("DRUG GM", "BABY FOODS", "grocery"),
        ("DRUG GM", "INFANT FORMULA", "grocery"),
        ("DRUG GM", "VITAMINS", "excluded"),
        ("DRUG GM", "CIGARETTES", "excluded"),
        ("DRUG GM", "MAGAZINE", "excluded"),
        ("COUPON", "COUPONS/STORE & MFG", "excluded"),
        ("MISCELLANEOUS", None, "excluded"),
    ],
)
def test_known_categories(department: str, category: str | None, expected: str) -> None:
    products = pd.DataFrame({"department": [department], "product_category": [category]})
    assert classes.classify(products).iloc[0] == expected


def test_every_real_category_is_reviewed() -> None:
    products = locate_source().read("products", ("department", "product_category"))
    result = classes.classify(products)
    assert set(result.unique()) == {"grocery", "gm", "excluded"}
    # DRUG GM is mixed: it must contribute to more than one class.
    assert result[products["department"] == "DRUG GM"].nunique() == 3


def test_unreviewed_pair_is_an_error_naming_it() -> None:
    products = pd.DataFrame({"department": ["SPACE"], "product_category": ["ROCKETS"]})
    with pytest.raises(SourceDataError, match="ROCKETS"):
        classes.classify(products)


def test_pt_overrides_reclassify_food_filed_under_gm_only() -> None:
    products = pd.DataFrame(
        {
            "department": ["DRUG GM", "DRUG GM", "DRUG GM", "DRUG GM"],
            "product_category": ["CHRISTMAS  SEASONAL", "CHRISTMAS  SEASONAL", "VITAMINS", "KITCHEN GADGETS"],
            "product_type": [
                "CANDY BARS (SINGLES)(INCLUDING",
                "SEASONAL GIFTWRAP",
                "CANDY BARS (SINGLES)(INCLUDING",
                None,
            ],
        }
    )
    # food in a GM category -> grocery; merchandise beside it stays gm; an excluded category is not touched
    assert classes.classify(products).tolist() == ["grocery", "gm", "excluded", "gm"]
    # without a product type only the category table applies
    assert classes.classify(products.drop(columns="product_type")).tolist() == ["gm", "gm", "excluded", "gm"]


def test_every_pt_override_is_reviewed_and_hits_real_gm_items() -> None:
    overrides = classes.load_overrides()
    assert (overrides["reason"].str.len() > 5).all()
    products = locate_source().read("products", ("department", "product_category", "product_type"))
    by_category = classes.classify(products.drop(columns="product_type"))
    final = classes.classify(products)
    flipped = products[(by_category == "gm") & (final == "grocery")]
    # every row of the table reclassifies at least one real item, and nothing else changes
    assert set(flipped["product_type"]) == set(overrides["product_type"])
    assert ((by_category != final) == ((by_category == "gm") & (final == "grocery"))).all()
    assert 60 <= len(flipped) <= 200, len(flipped)


def test_store_build_applies_the_pt_overrides(real_store) -> None:  # type: ignore[no-untyped-def]
    items = real_store.items()
    candy = items[(items["product_type"] == "CANDY BARS (SINGLES)(INCLUDING") & (items["department"] == "DRUG GM")]
    assert len(candy) and candy["is_grocery"].all() and not candy["is_gm"].any()
