"""A small real batch: SmolLM2 (`local-small`) on the real weeks 1-8 slice, with the real semantic
matcher (a category subset of the GM catalog, to keep the index build short), the fallback
cross-encoder scorer and the grocery filter. SmolLM2 is a toy model: an anchor may end with
results or with a recorded failure; either way nothing is lost, and a re-run repeats no call.
Both are marked slow: SmolLM2 calls take minutes on a loaded 2-core box."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.batch.test_batch_scripted import store_consistent
from xpollinate.batch.anchors import select_anchors
from xpollinate.batch.driver import run_batch
from xpollinate.batch.executors import LocalExecutor
from xpollinate.batch.jobs import BatchJob
from xpollinate.cache import ResponseCache
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.graphs.item_xp import ItemXPConfig, ItemXPDeps
from xpollinate.graphs.matching import CatalogMatcher
from xpollinate.judges.cross_encoder import FallbackScorer
from xpollinate.llm import get_llm
from xpollinate.retrieval.catalog_index import IndexScope, build_index
from xpollinate.retrieval.grocery_filter import GroceryFilter
from xpollinate.retrieval.matcher import SemanticMatcher
from xpollinate.xpstore.item_xp_store import ItemXPStore

SUBSET = (
    "COFFEE FILTERS",
    "CHARCOAL AND LIGHTER FLUID",
    "BATTERIES",
    "FD WRAPS/BAGS/TRSH BG",
    "PAPER TOWELS",
    "KITCHEN GADGETS",
    "DISHWASH DETERGENTS",
    "CANDLES/ACCESSORIES",
)


@dataclass(frozen=True)
class RealSubsetParts:
    home: str

    def build(self) -> ItemXPDeps:
        home = Path(self.home)
        store = DataStore.open(home)
        return ItemXPDeps(
            llm=get_llm("local-small", cache=ResponseCache(home / "cache" / "llm")),
            matcher=CatalogMatcher(SemanticMatcher.open(store, scope=IndexScope(categories=SUBSET), home=home)),
            scorer=FallbackScorer(),
            grocery_filter=GroceryFilter.for_store(store, home=home),
        )


@pytest.mark.slow
def test_smollm2_batch_on_real_slice(real_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(real_home / "data", home / "data")
    store = DataStore.open(home)
    build_index(store, scope=IndexScope(categories=SUBSET), home=home)
    anchors = select_anchors(store.items(), top=1).anchors
    config = ItemXPConfig(plan="paper", history_pts=0, naive_n=3, match_k=1, expand=0, workers=1)
    settings = {
        "graph": "naive",
        "llm": "local:smollm2-135m-instruct",
        "config": config.model_dump(mode="json"),
        "data_build": store.build_id,
        "scorer": "fallback:minilm-cosine@v1",
        "index": list(SUBSET),
    }
    job = BatchJob("naive-real-subset", "naive", config, RealSubsetParts(str(home)), settings)
    xp_store = ItemXPStore(home / "item_xp.sqlite")
    s = run_batch([job], anchors, LocalExecutor(1), xp_store, show_progress=False).summary
    assert s.attempted == 1 and s.usage["requests"] >= 1 and s.usage["calls"] >= 1 and s.usage["output_tokens"] > 0
    row = xp_store.anchor(job.run_id, anchors[0].item_id)
    assert row is not None
    if row["status"] == "done":
        recs = xp_store.recommendations(anchors[0].item_id, job.run_id)
        gm = set(store.items().query("is_gm")["item_id"])
        assert all(r["item_id"] in gm and r["band"] != "Poor" for r in recs)
        assert row["audit"]["provenance"]["naive"]["llm"] == "local:smollm2-135m-instruct"
    else:
        assert row["error"]  # the reason is recorded
    # a second run: a done anchor is skipped; a failed one is retried, but cached answers are not asked again
    again = run_batch([job], anchors, LocalExecutor(1), xp_store, show_progress=False).summary
    if row["status"] == "done":
        assert (again.skipped_finished, again.usage["requests"]) == (1, 0)
    else:  # every request answered the first time comes from the cache
        assert again.usage["cache_hits"] >= s.usage["requests"] - s.usage["failures"]
    store_consistent(xp_store.path)


@pytest.mark.slow
def test_xp_batch_cli_smollm2_full_index(real_home: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(real_home / "data", home / "data")
    env = {"XP_HOME": str(home)}
    assert CliRunner().invoke(app, ["index", "build"], env=env).exit_code == 0
    args = [
        "batch",
        "--top",
        "2",
        "--distinct-pts",
        "--graph",
        "theme",
        "--evaluator",
        "batched",
        "--match-k",
        "1",
        "--expand",
        "0",
        "--llm",
        "local-small",
        "--concurrency",
        "1",
        "--quiet",
    ]
    first = CliRunner().invoke(app, args, env=env)
    assert first.exit_code == 0, first.output
    assert "anchors done / failed" in first.output and "cache hits" in first.output
    second = CliRunner().invoke(app, args, env=env)
    assert second.exit_code == 0 and "judge verdicts reused" in second.output
