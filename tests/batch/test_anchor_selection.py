"""Anchor selection and bad input: top-N, a file of ids, a category; a missing or malformed file,
unknown and non-grocery ids reported and skipped, unknown prompt versions, bad options."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from xpollinate.batch.anchors import read_anchor_file, select_anchors
from xpollinate.batch.prompt_refs import prompt_set
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.errors import XPError

runner = CliRunner()


def test_top_n_is_most_transacted_grocery(fixture_store: DataStore) -> None:
    items = fixture_store.items()
    sel = select_anchors(items, top=3)
    grocery = items[items["is_grocery"] & (items["n_baskets"] > 0)].sort_values("n_baskets", ascending=False)
    assert [a.item_id for a in sel.anchors] == grocery["item_id"].head(3).tolist()
    assert all(a.is_grocery for a in sel.anchors)
    assert len(select_anchors(items, top=10, limit=2).anchors) == 2
    distinct = select_anchors(items, top=10, distinct_pts=True).anchors
    assert len({a.product_type for a in distinct}) == len(distinct)


def test_category_selection_and_unknown_category(fixture_store: DataStore) -> None:
    sel = select_anchors(fixture_store.items(), category="coffee")
    assert sel.anchors and {a.category for a in sel.anchors} == {"COFFEE"}
    with pytest.raises(XPError, match="no sold grocery item in category or department 'cofee'.*closest: coffee"):
        select_anchors(fixture_store.items(), category="cofee")


def test_anchor_file_formats_and_errors(tmp_path: Path) -> None:
    plain = tmp_path / "ids.txt"
    plain.write_text("# anchors\n1\n\n3\n")
    assert read_anchor_file(plain) == [1, 3]
    csv = tmp_path / "ids.csv"
    csv.write_text("name,item_id\ncoffee,1\nbuns,3\n")
    assert read_anchor_file(csv) == [1, 3]
    with pytest.raises(XPError, match="does not exist"):
        read_anchor_file(tmp_path / "missing.txt")
    bad = tmp_path / "bad.txt"
    bad.write_text("1\n2x\n")
    with pytest.raises(XPError, match=r"line 2: '2x' is not an item id"):
        read_anchor_file(bad)
    header = tmp_path / "header.csv"
    header.write_text("name,price\ncoffee,3\n")
    with pytest.raises(XPError, match="line 1: 'name' is not an item id"):
        read_anchor_file(header)
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n")
    with pytest.raises(XPError, match="holds no item ids"):
        read_anchor_file(empty)
    binary = tmp_path / "bin.txt"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    with pytest.raises(XPError, match="cannot be read as UTF-8"):
        read_anchor_file(binary)


def test_unknown_and_non_grocery_ids_are_reported_and_skipped(fixture_store: DataStore) -> None:
    sel = select_anchors(fixture_store.items(), ids=[1, 999999, 11, 3, 1])
    assert [a.item_id for a in sel.anchors] == [1, 3]
    assert (sel.unknown_ids, sel.not_grocery, sel.duplicates) == ([999999], [11], 1)
    assert [a.item_id for a in select_anchors(fixture_store.items(), ids=[11], allow_non_grocery=True).anchors] == [11]
    with pytest.raises(XPError, match="exactly one anchor source"):
        select_anchors(fixture_store.items(), top=3, category="coffee")


def test_unknown_prompt_version_lists_the_versions() -> None:
    with pytest.raises(XPError, match=r"'theme@v9' does not exist; theme has theme@v1, theme@v2"):
        prompt_set(["theme@v9"])
    with pytest.raises(XPError, match="the graph uses"):
        prompt_set(["nosuch@v1"])
    assert prompt_set(["theme@v1", "judge@v1"]).theme == "theme@v1"


def test_cli_bad_input(fixture_home: Path, tmp_path: Path) -> None:
    env = {"XP_HOME": str(fixture_home)}
    missing = runner.invoke(app, ["batch", "--anchors", str(tmp_path / "nope.txt")], env=env)
    assert missing.exit_code == 2 and "does not exist" in missing.output
    ids = tmp_path / "ids.txt"
    ids.write_text("999999\n11\n")
    nothing = runner.invoke(app, ["batch", "--anchors", str(ids)], env=env)
    assert nothing.exit_code == 2 and "skipped 1 unknown id(s): 999999" in nothing.output
    assert "non-grocery" in nothing.output and "no anchor to run" in nothing.output
    version = runner.invoke(app, ["batch", "--top", "1", "--prompt", "theme@v7"], env=env)
    assert version.exit_code == 2 and "theme has theme@v1, theme@v2" in version.output
    both = runner.invoke(app, ["batch", "--top", "1", "--category", "coffee"], env=env)
    assert both.exit_code == 2 and "exactly one anchor source" in both.output
    for opts, message in (
        (["--executor", "ray"], "'--executor': Value error, 'ray' is not one of 'local', 'dask'"),
        (["--concurrency", "0"], "at least 1"),
        (["--match-k", "0"], "--match-k"),
    ):
        res = runner.invoke(app, ["batch", "--top", "1", *opts], env=env)
        assert res.exit_code == 2 and message in " ".join(res.output.replace("│", " ").split()), res.output
    blocked = tmp_path / "file"
    blocked.write_text("x")
    ro = runner.invoke(app, ["batch", "--top", "1"], env={"XP_HOME": str(blocked / "home")})
    assert ro.exit_code == 2 and "cannot create directory" in ro.output
