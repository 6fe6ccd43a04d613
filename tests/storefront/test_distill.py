"""The teacher dataset: the seeded split, the append-only writer (resume after a crash, a torn last line), the
collection through the page's real calls with a scripted teacher, and its bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.storefront.scripted import storefront
from xpollinate.catalog.store import DataStore
from xpollinate.storefront.distill_collect import collect, eligible_households, plan
from xpollinate.storefront.distill_data import (
    CallRecord,
    DistillDataError,
    DistillDataset,
    DistillManifest,
    draw_split,
    open_dataset,
)


def test_split_is_seeded_disjoint_and_grows_without_moving_households() -> None:
    pool = range(100, 160)
    a, b = draw_split(pool, 10, 4, seed=3), draw_split(pool, 10, 4, seed=3)
    assert a == b and len(a.train) == 10 and len(a.test) == 4
    assert not set(a.train) & set(a.test)
    assert draw_split(pool, 10, 4, seed=4) != a
    bigger = draw_split(pool, 20, 4, seed=3)
    assert bigger.test == a.test and bigger.train[:10] == a.train
    assert a.split_of(a.test[0]) == "test" and a.split_of(a.train[0]) == "train" and a.split_of(99) is None
    with pytest.raises(DistillDataError, match="only 60 have history"):
        draw_split(pool, 58, 4, seed=0)
    with pytest.raises(DistillDataError, match="at least 1 training and 1 test"):
        draw_split(pool, 0, 4, seed=0)


def _record(h: int, task: str = "themes", index: int = 0) -> CallRecord:
    return CallRecord(h, "train", task, index, {"k": 1}, {"placements": []}, True, 1.5, False)  # type: ignore[arg-type]


def test_writer_appends_flushes_and_survives_a_torn_line(tmp_path: Path) -> None:
    ds = DistillDataset(tmp_path / "d")
    ds.append(_record(1))
    ds.append(_record(1, "keywords", 0))
    with ds.calls_path.open("a") as fh:
        fh.write('{"household": 2, "task": "them')  # a crash mid-line
    assert [r.key for r in ds.records()] == [(1, "themes", 0), (1, "keywords", 0)]
    ds.append(_record(3))
    assert [r.key for r in ds.records()] == [(1, "themes", 0), (1, "keywords", 0), (3, "themes", 0)]
    assert all(json.loads(line) for line in ds.calls_path.read_text().splitlines()[-1:])


def test_manifest_mismatch_is_an_error_and_a_bigger_rerun_extends(tmp_path: Path) -> None:
    ds = DistillDataset(tmp_path / "d")
    with pytest.raises(DistillDataError, match="xp distill collect"):
        ds.manifest()
    first = DistillManifest("local:teacher", 3, 4, 30, draw_split(range(50), 5, 2, seed=0))
    ds.start(first)
    grown = ds.start(DistillManifest("local:teacher", 3, 4, 30, draw_split(range(50), 8, 2, seed=0)))
    assert grown.split.train[:5] == first.split.train and len(grown.split.train) == 8
    with pytest.raises(DistillDataError, match="other settings.*'k': \\(3, 2\\)"):
        ds.start(DistillManifest("local:teacher", 2, 4, 30, draw_split(range(50), 5, 2, seed=0)))
    with pytest.raises(DistillDataError, match="no teacher dataset"):
        open_dataset(tmp_path / "missing", None)


def test_collect_runs_the_pages_calls_and_resumes_after_a_crash(fixture_store: DataStore, tmp_path: Path) -> None:
    sf, provider, _ = storefront(fixture_store)
    households = eligible_households(sf)
    assert households and all(not sf.data.history(h).empty for h in households)
    manifest = plan(sf, 2, 1, seed=0, k=2, keywords=3, shortlist=10)
    ds = DistillDataset(tmp_path / "teacher")
    made = collect(sf, ds, manifest)
    records = ds.records()
    assert made == len(records) == 3 * (1 + 2)  # per household: themes, then keywords per placement
    assert [r.split for r in records[:3]] == ["test"] * 3  # held-out households first
    themes = [r for r in records if r.task == "themes"]
    assert all(r.ok and len(r.output["placements"]) == 2 for r in themes)  # type: ignore[index]
    assert themes[0].inputs["history"] == sf.data.history(themes[0].household).summary()
    kws = [r for r in records if r.task == "keywords"]
    for r in kws:
        assert len(r.inputs["shortlist"]) == 10 and r.inputs["n"] == 3
        assert set(r.output["keywords"]) <= set(r.inputs["shortlist"])  # type: ignore[index]
        assert r.extra["outside"] == []
    assert all(r.seconds >= 0 and not r.cached for r in records)
    # a crash after four calls: the rerun redoes only what is missing
    lines = ds.calls_path.read_text().splitlines()
    ds.calls_path.write_text("\n".join(lines[:4]) + "\n" + lines[4][:20])
    before = sum(provider.calls.values())
    assert collect(sf, ds, manifest) == 5
    assert sum(provider.calls.values()) - before == 5
    assert sorted(r.key for r in ds.records()) == sorted(r.key for r in records)
    assert collect(sf, ds, manifest) == 0
