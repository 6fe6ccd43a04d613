"""`xp review export|import`: a band-stratified blind sheet, labels back, relevancy rate, error
attribution and agreement with the combined-score decision; bad sheets get clear errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.batch.scripted_parts import ScriptedParts, anchors, job
from xpollinate.batch.driver import run_batch
from xpollinate.batch.executors import LocalExecutor
from xpollinate.cli.main import app
from xpollinate.errors import XPError
from xpollinate.review import export_sheet, import_labels
from xpollinate.xpstore.item_xp_store import ItemXPStore


def fill(path: Path, rule) -> None:  # type: ignore[no-untyped-def]
    rows = list(csv.DictReader(path.read_text().splitlines()))
    for r in rows:
        r["label"], r["error_source"] = rule(r)
    with path.open("w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_review_round_trip(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = ItemXPStore(home / "item_xp.sqlite")
    batch = job(ScriptedParts(str(tmp_path / "cache")))
    run_batch([batch], anchors(6), LocalExecutor(2), store, show_progress=False)
    sheet = tmp_path / "sheet.csv"
    meta = export_sheet(store.path, batch.run_id, sheet, per_band=5, seed=1, home=home)
    header = sheet.read_text().splitlines()[0].split(",")
    assert "ce" not in header and "combined" not in header and "band" not in header  # blind
    bands = [r["band"] for r in meta["rows"]]
    assert all(bands.count(b) <= 5 for b in set(bands)) and "Poor" in bands and len(set(bands)) >= 2
    decisions = {r["review_id"]: r["decision"] for r in meta["rows"]}

    # a reviewer who agrees with the decision except on the first two kept pairs (blamed on matching, expansion)
    flipped = [rid for rid, d in decisions.items() if d == "keep"][:2]
    fill(
        sheet,
        lambda r: (
            ("0", "matching" if r["review_id"] == flipped[0] else "expansion")
            if r["review_id"] in flipped
            else ("1" if decisions[r["review_id"]] == "keep" else "0", "")
        ),
    )
    res = import_labels(sheet, home=home)
    n_keep = sum(d == "keep" for d in decisions.values())
    assert res.labelled == len(decisions) and res.unlabelled == 0
    assert res.relevancy_rate == pytest.approx((n_keep - 2) / n_keep)
    assert res.agreement == pytest.approx((len(decisions) - 2) / len(decisions))
    assert res.confusion["not relevant & keep"] == 2 and res.confusion["relevant & drop"] == 0
    assert res.error_attribution["matching"] == 0.5 and res.error_attribution["expansion"] == 0.5
    assert 0 < res.kappa < 1
    assert json.loads((home / "reviews" / f"{meta['sheet']}.results.json").read_text())["labelled"] == res.labelled

    # bad sheets
    fill(sheet, lambda r: ("maybe", ""))
    with pytest.raises(XPError, match=r"line 2: label 'maybe' is not one of"):
        import_labels(sheet, home=home)
    fill(sheet, lambda r: ("0", "weather"))
    with pytest.raises(XPError, match=r"error_source 'weather' is not one of matching, expansion, llm"):
        import_labels(sheet, home=home)
    fill(sheet, lambda r: ("", ""))
    with pytest.raises(XPError, match="has no labels yet"):
        import_labels(sheet, home=home)
    with pytest.raises(XPError, match="does not exist"):
        import_labels(tmp_path / "none.csv", home=home)
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    with pytest.raises(XPError, match="lacks the column"):
        import_labels(tmp_path / "cols.csv", home=home)


def test_review_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    store = ItemXPStore(home / "item_xp.sqlite")
    batch = job(ScriptedParts(str(tmp_path / "cache")))
    run_batch([batch], anchors(3), LocalExecutor(1), store, show_progress=False)
    env = {"XP_HOME": str(home)}
    sheet = tmp_path / "s.csv"
    res = CliRunner().invoke(app, ["review", "export", batch.run_id, "--out", str(sheet), "--per-band", "3"], env=env)
    assert res.exit_code == 0, res.output
    fill(sheet, lambda r: ("1", ""))
    res = CliRunner().invoke(app, ["review", "import", str(sheet)], env=env)
    assert res.exit_code == 0, res.output
    assert "agreement label vs decision" in res.output and "Cohen's kappa" in res.output
    missing = CliRunner().invoke(app, ["review", "export", "nosuch"], env=env)
    assert missing.exit_code == 2 and "no run 'nosuch'" in missing.output
