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
