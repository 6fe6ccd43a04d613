"""A/B: arm parsing, paired bootstrap, the paper's tables from two scripted runs, and
`xp ab --compare` writing Markdown and a self-contained HTML report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.batch.scripted_parts import ScriptedParts, job
from xpollinate.ab import build_report, load_run, parse_arm
from xpollinate.ab.stats import paired_bootstrap
from xpollinate.batch.anchors import select_anchors
from xpollinate.batch.driver import run_batch
from xpollinate.batch.executors import LocalExecutor
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.errors import XPError
from xpollinate.xpstore.item_xp_store import ItemXPStore


def test_arm_spec() -> None:
    arm = parse_arm("A", "theme,theme@v1,theme_recs@v1,llm=local-small")
    assert (arm.kind, arm.prompts.theme, arm.prompts.recommend, arm.llm) == (
        "theme",
        "theme@v1",
        "theme_recs@v1",
        "local-small",
    )
    with pytest.raises(XPError, match=r"arm B: prompt 'naive@v3' does not exist; naive has naive@v1"):
        parse_arm("B", "naive,naive@v3")
    with pytest.raises(XPError, match="must start with a graph"):
        parse_arm("A", "theme@v1")
    paper = parse_arm("A", "theme,plan=paper,evaluator_mode=batched,match_k=1,expand=0").config()
    assert (paper.plan, paper.grounding, paper.evaluator_mode, paper.match_k, paper.expand) == (
        "paper",
        "free",
        "batched",
        1,
        0,
    )
    assert paper.prompts.recommend == "theme_recs@v2"
    assert parse_arm("B", "theme,grounding=free").config().prompts.recommend == "pick_free@v1"
    roles = parse_arm("B", "theme,judge_llm=srv:big-judge,evaluator_llm=local-small")
    assert (roles.llm, roles.evaluator_llm, roles.judge_llm) == (None, "local-small", "srv:big-judge")
    assert "evaluator local-small, judge srv:big-judge" in roles.describe()
    with pytest.raises(XPError, match="'colour' is not a setting; settings: llm, evaluator_llm, judge_llm, plan"):
        parse_arm("A", "theme,colour=blue")
    with pytest.raises(XPError, match="arm B: grounding: .*paper plan generates free text"):
        parse_arm("B", "theme,plan=paper,grounding=catalog")


def test_paired_bootstrap() -> None:
    rng = np.random.default_rng(1)
    a = rng.uniform(0.4, 0.8, 60)
    better = paired_bootstrap(a, a + 0.05 + rng.normal(0, 0.02, 60))
    assert better.ci_low > 0 and better.p_value < 0.01 and better.diff == pytest.approx(0.05, abs=0.01)
    same = paired_bootstrap(a, a + rng.normal(0, 0.02, 60))
    assert same.ci_low < 0 < same.ci_high and same.p_value > 0.05


@pytest.fixture(scope="module")
def ab_home(fixture_home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, str]:
    """A run directory with the fixture data store and two scripted arms over its grocery anchors."""
    home = tmp_path_factory.mktemp("ab-home")
    shutil.copytree(fixture_home / "data", home / "data")
    items = DataStore.open(home).items()
    anchors = select_anchors(items, top=10).anchors
    parts = ScriptedParts(str(home / "cache"))
    naive, theme = job(parts, "naive"), job(parts, "theme")
    store = ItemXPStore(home / "item_xp.sqlite")
    run_batch([naive, theme], anchors, LocalExecutor(2), store, show_progress=False, seed=1)
    store.close()
    return home, naive.run_id, theme.run_id


def test_report_tables_and_statistics(ab_home: tuple[Path, str, str]) -> None:
    home, run_a, run_b = ab_home
    a, b = load_run(home / "item_xp.sqlite", run_a), load_run(home / "item_xp.sqlite", run_b)
    groups = DataStore.open(home).items().set_index("item_id")["department"]
    rep = build_report(a, b, groups, historical={11, 13}, n_boot=2000)
    md = rep.markdown()
    for heading in (
        "Table 1",
        "Table 2",
        "Tables 3-4",
        "Table 5",
        "Table 6",
        "Tables 9-14",
        "Table 7",
        "Judge order effects",
        "Paired comparison",
    ):
        assert heading in md
    assert rep.headline["n"] == len(a.anchors) == len(b.anchors)
    ci = rep.headline["ci"]
    assert ci[0] <= rep.headline["diff"] <= ci[1]
    # the same judge: a triplet judged in both arms got the same score
    assert "largest score gap between arms on the same triplet: 0.0000" in md
    html = rep.html()
    assert html.count("data:image/png;base64,") == 3 and "<table" in html and "http" not in html.split("<body>")[1]


def test_ab_compare_cli(ab_home: tuple[Path, str, str], tmp_path: Path) -> None:
    home, run_a, run_b = ab_home
    env = {"XP_HOME": str(home)}
    res = CliRunner().invoke(
        app,
        [
            "ab",
            "--compare",
            run_a,
            run_b,
            "--no-coverage",
            "--bootstrap",
            "500",
            "--out",
            str(tmp_path / "rep"),
            "--results",
            str(tmp_path / "results"),
            "--name",
            "demo",
        ],
        env=env,
    )
    assert res.exit_code == 0, res.output
    # the results page: one page per comparison, named as asked, with its headline numbers and how it was made
    page = json.loads((tmp_path / "results" / "ab-demo.json").read_text())
    assert set(page["mean_combined"]) == {"A", "B"} and page["anchors"] >= 1 and len(page["ci"]) == 2
    assert page["run"]["command"].startswith("xp ab") or page["run"]["command"]
    assert page["run"]["machine"]["cores"] >= 1 and page["cost"]
    assert (tmp_path / "results" / "ab-demo.md").read_text().startswith("# A/B report")
    assert (tmp_path / "results" / "ab-demo-figure-1.png").read_bytes()[:4] == b"\x89PNG"
    assert "mean combined per anchor: A" in res.output and "95% CI" in res.output
    md = (tmp_path / "rep" / "report.md").read_text()
    assert (
        "Table 1: mean combined score per category" in md
        and "![band distribution](figure-1-band-distribution.png)" in md
    )
    assert (tmp_path / "rep" / "figure-1-band-distribution.png").read_bytes()[:4] == b"\x89PNG"
    missing = CliRunner().invoke(app, ["ab", "--compare", run_a, "nosuch"], env=env)
    assert missing.exit_code == 2 and "no run 'nosuch'" in missing.output and run_a in missing.output
    bad = CliRunner().invoke(app, ["ab", "--a", "theme,theme@v5", "--b", "naive", "--top", "2"], env=env)
    assert bad.exit_code == 2 and "theme has theme@v1, theme@v2" in bad.output
