"""`xp ab`: two arms over the same anchors, judged by the same judge and cross-encoder, and the paper's report."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal, Optional

import pandas as pd
import typer

from xpollinate.ab.arms import parse_arm
from xpollinate.ab.report import build_report
from xpollinate.ab.runs import load_run
from xpollinate.batch.anchors import read_anchor_file, select_anchors
from xpollinate.batch.driver import check_writable, run_batch
from xpollinate.batch.executors import make_executor
from xpollinate.batch.jobs import DefaultParts, job_for, shared_parts
from xpollinate.catalog.store import DataStore
from xpollinate.cli.batch import print_summary
from xpollinate.cli.common import err, handle_errors, out
from xpollinate.cli.options import ExecutorOption
from xpollinate.errors import XPError
from xpollinate.llm import RoleModels
from xpollinate.reports import git_commit
from xpollinate.settings import ensure_dir, run_home
from xpollinate.xpstore.item_xp_store import ItemXPStore, store_path


@handle_errors
def ab_cmd(
    a: Annotated[
        Optional[str],
        typer.Option("--a", help="Arm A: GRAPH[,PROMPT@VERSION...][,llm=PROVIDER:MODEL], e.g. 'naive,naive@v1'."),
    ] = None,
    b: Annotated[Optional[str], typer.Option("--b", help="Arm B, e.g. 'theme,theme@v2,theme_recs@v2'.")] = None,
    compare: Annotated[
        Optional[tuple[str, str]], typer.Option(help="Report on two stored runs instead: --compare RUN_A RUN_B.")
    ] = None,
    top: Annotated[Optional[int], typer.Option(help="Anchors: the N most transacted grocery items.")] = None,
    anchors: Annotated[Optional[Path], typer.Option(help="Anchors: a file of item ids.")] = None,
    category: Annotated[Optional[str], typer.Option(help="Anchors: a grocery category or department.")] = None,
    limit: Annotated[Optional[int], typer.Option(help="At most this many anchors.")] = None,
    distinct_pts: Annotated[bool, typer.Option("--distinct-pts", help="One anchor per product type.")] = False,
    llm: Annotated[
        Optional[str], typer.Option(help="Generator of arms that name none (default: XP_LLM, config, local).")
    ] = None,
    evaluator_llm: Annotated[
        Optional[str],
        typer.Option(help="Evaluator of arms that name none (default: XP_LLM_EVALUATOR, config, the arm's generator)."),
    ] = None,
    judge_llm: Annotated[
        Optional[str],
        typer.Option(help="Judge of arms that name none: one judge for both (default: XP_LLM_JUDGE, config, --llm)."),
    ] = None,
    concurrency: Annotated[int, typer.Option(help="Anchors in flight.")] = 2,
    executor: ExecutorOption = "local",
    scheduler: Annotated[
        Optional[str], typer.Option(help="Dask scheduler address (default: a LocalCluster on 127.0.0.1).")
    ] = None,
    group_by: Annotated[
        Literal["department", "category"], typer.Option(help="Report categories: the anchor's department or category.")
    ] = "department",
    coverage: Annotated[
        bool, typer.Option(help="Table 7: compare with the historical (market-basket) candidates.")
    ] = True,
    bootstrap: Annotated[int, typer.Option(help="Bootstrap resamples.")] = 10_000,
    seed: Annotated[int, typer.Option(help="Seed of the arm order and the bootstrap.")] = 0,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Report folder (default: $XP_HOME/reports/ab-RUN_A-RUN_B).")
    ] = None,
    history_until_week: Annotated[
        Optional[int],
        typer.Option(help="Historical product types from baskets up to this week (for `xp eval offline`)."),
    ] = None,
    results: Annotated[
        Optional[Path],
        typer.Option(
            help="Also write the report as results page ab-NAME (md, html, json) into this folder, e.g. docs/results."
        ),
    ] = None,
    name: Annotated[Optional[str], typer.Option(help="NAME of the results page (default: RUN_A-RUN_B).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
) -> None:
    """Compare two arms (graph + prompt versions + model) over the same anchors with the same judge
    and cross-encoder: runs both (resumably, in counterbalanced order) and writes report.md and a
    self-contained report.html with the XP paper's tables, paired bootstrap CIs and plots."""
    home = run_home()
    commit = git_commit() if results is not None else None
    store = DataStore.open()
    items = store.items()
    failed = 0
    if compare:
        run_a, run_b = load_run(store_path(), compare[0]), load_run(store_path(), compare[1])
        labels, describe = ("A", "B"), (compare[0], compare[1])
    else:
        if not a or not b:
            raise XPError("give both arms (--a and --b), or --compare RUN_A RUN_B")
        arm_a, arm_b = parse_arm("A", a), parse_arm("B", b)
        if arm_a.config().prompts.judge != arm_b.config().prompts.judge:
            err.print(
                f"[yellow]note:[/yellow] the arms use different judge prompts ({arm_a.config().prompts.judge} vs "
                f"{arm_b.config().prompts.judge}); the report compares their costs, and their scores only as each judge gives them"
            )
        check_writable(home)
        ids = read_anchor_file(anchors) if anchors is not None else None
        selection = select_anchors(items, top=top, ids=ids, category=category, limit=limit, distinct_pts=distinct_pts)
        if selection.unknown_ids or selection.not_grocery:
            err.print(
                f"[yellow]skipped[/yellow] unknown ids {selection.unknown_ids[:20]}, non-grocery ids {selection.not_grocery[:20]}"
            )
        if not selection.anchors:
            raise XPError("no anchor to run")
        # One judge for both arms unless an arm names its own: the arms' generators do not move it.
        judge = RoleModels(llm, None, judge_llm).resolve()["judge"]
        jobs = []
        with err.status("loading the models, catalog index, scorer and grocery filter"):
            for arm in (arm_a, arm_b):
                parts = DefaultParts(
                    home=str(home),
                    llm=arm.llm or llm,
                    evaluator_llm=arm.evaluator_llm or evaluator_llm,
                    judge_llm=arm.judge_llm or judge,
                    history_until_week=history_until_week,
                )
                config = arm.config()
                jobs.append(job_for(arm.kind, config, parts, store, shared_parts(parts)))
        if jobs[0].run_id == jobs[1].run_id:
            raise XPError("the two arms are identical; change the graph, a prompt version or the model of one")
        err.print(
            f"A = {arm_a.describe()} (run {jobs[0].run_id}); B = {arm_b.describe()} (run {jobs[1].run_id}); "
            f"{len(selection.anchors)} anchors"
        )
        runner = make_executor(executor, concurrency, scheduler)
        xp_store = ItemXPStore()
        try:
            result = run_batch(
                jobs, selection.anchors, runner, xp_store, show_progress=not quiet, seed=seed, console=err
            )
        finally:
            runner.close()
            xp_store.close()
        print_summary(result.summary)
        failed = result.summary.failed
        run_a, run_b = load_run(store_path(), jobs[0].run_id), load_run(store_path(), jobs[1].run_id)
        labels, describe = ("A", "B"), (arm_a.describe(), arm_b.describe())
    groups = items.set_index("item_id")[group_by].astype(str).str.title()
    historical = _historical(store, items, run_a, run_b) if coverage else None
    report = build_report(run_a, run_b, groups, labels, historical, n_boot=bootstrap, seed=seed, describe=describe)
    folder = ensure_dir(out_dir or home / "reports" / f"ab-{run_a.run_id}-{run_b.run_id}")
    names = []
    for i, (caption, png) in enumerate(report.figures):
        figure = f"figure-{i + 1}-{caption.replace(' ', '-')}.png"
        (folder / figure).write_bytes(png)
        names.append(figure)
    (folder / "report.md").write_text(report.markdown(names), encoding="utf-8")
    (folder / "report.html").write_text(report.html(), encoding="utf-8")
    h = report.headline
    if h:
        out.print(
            f"mean combined per anchor: A {h['mean_a']:.3f}, B {h['mean_b']:.3f}, B - A {h['diff']:+.3f} "
            f"(95% CI {h['ci'][0]:+.3f} to {h['ci'][1]:+.3f}, p = {h['p']:.4f}, {h['n']} anchors)"
        )
    err.print(f"wrote {folder / 'report.md'} and {folder / 'report.html'}")
    if results is not None:
        from xpollinate.reports import write_page

        page = f"ab-{name}" if name else f"ab-{run_a.run_id}-{run_b.run_id}"
        err.print(f"wrote {write_page(report, results, page, commit=commit)}")
    if failed:
        raise typer.Exit(1)  # the report compares the anchors both arms finished; the failures are recorded


def _historical(store: DataStore, items: pd.DataFrame, *runs) -> set[int] | None:  # type: ignore[no-untyped-def]
    """GM items the market-basket candidates give for the anchors of these runs."""
    from xpollinate.retrieval.associations import open_associations
    from xpollinate.retrieval.candidates import historical_candidates

    anchor_ids = set().union(*(set(r.anchors.loc[r.anchors["status"] == "done", "anchor_id"]) for r in runs))
    by_id = items.set_index("item_id", drop=False)
    with err.status("historical candidates for Table 7"):
        assoc = open_associations(store)
        found: set[int] = set()
        for i in anchor_ids:
            if i in by_id.index and bool(by_id.at[i, "is_grocery"]):
                found |= set(historical_candidates(by_id.loc[i], items, assoc).items["item_id"])
    return found
