"""`xp batch`: the item-XP graph over many anchors; `xp runs`: stored runs and their failures."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from xpollinate.batch.anchors import read_anchor_file, select_anchors
from xpollinate.batch.driver import check_writable, run_batch
from xpollinate.batch.executors import make_executor
from xpollinate.batch.jobs import DefaultParts, job_for, shared_parts
from xpollinate.batch.prompt_refs import prompt_set
from xpollinate.batch.run_index import failures, list_runs
from xpollinate.batch.summary import BatchSummary
from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import JsonOption, emit_json, err, handle_errors, out
from xpollinate.cli.options import (
    EvaluatorLLMOption,
    EvaluatorModeOption,
    ExecutorOption,
    ExpandOption,
    GraphOption,
    GroundingOption,
    JudgeLLMOption,
    LLMOption,
    MatchKOption,
    NaiveNOption,
    PicksOption,
    PlanOption,
    graph_config,
)
from xpollinate.errors import XPError
from xpollinate.reports import git_commit
from xpollinate.settings import run_home
from xpollinate.xpstore.item_xp_store import ItemXPStore, store_path


@handle_errors
def batch_cmd(
    top: Annotated[Optional[int], typer.Option(help="Anchors: the N most transacted grocery items.")] = None,
    anchors: Annotated[
        Optional[Path],
        typer.Option(help="Anchors: a file of item ids (one per line, or a CSV with an item_id column)."),
    ] = None,
    category: Annotated[
        Optional[str],
        typer.Option(help="Anchors: every sold grocery item of a category or department (most transacted first)."),
    ] = None,
    limit: Annotated[Optional[int], typer.Option(help="Run at most this many of the selected anchors.")] = None,
    distinct_pts: Annotated[
        bool, typer.Option("--distinct-pts", help="Keep one anchor per product type (its best seller).")
    ] = False,
    allow_non_grocery: Annotated[
        bool,
        typer.Option("--allow-non-grocery", help="Run listed ids that are not grocery items (skipped by default)."),
    ] = False,
    graph: GraphOption = "theme",
    plan: PlanOption = "lean",
    grounding: GroundingOption = None,
    llm: LLMOption = None,
    evaluator_llm: EvaluatorLLMOption = None,
    judge_llm: JudgeLLMOption = None,
    prompt: Annotated[
        Optional[list[str]], typer.Option(help="Prompt version to use, e.g. --prompt theme@v1 (repeatable).")
    ] = None,
    evaluator: EvaluatorModeOption = "per_rec",
    naive_n: NaiveNOption = 10,
    match_k: MatchKOption = None,
    expand: ExpandOption = None,
    picks: PicksOption = 4,
    history_pts: Annotated[
        int, typer.Option(help="Historical GM product types merged into Item XP; 0: the model's list only.")
    ] = 10,
    history_until_week: Annotated[
        Optional[int],
        typer.Option(help="Historical product types from baskets up to this week (for `xp eval offline`)."),
    ] = None,
    workers: Annotated[int, typer.Option(help="Model calls in flight per graph node.")] = 4,
    concurrency: Annotated[
        int, typer.Option(help="Anchors in flight (threads; per Dask worker with --executor dask).")
    ] = 2,
    executor: ExecutorOption = "local",
    scheduler: Annotated[
        Optional[str],
        typer.Option(help="Dask scheduler address, e.g. tcp://127.0.0.1:8786 (default: a LocalCluster on 127.0.0.1)."),
    ] = None,
    dask_workers: Annotated[int, typer.Option(help="Worker processes of the LocalCluster.")] = 2,
    incremental: Annotated[
        bool,
        typer.Option(
            "--incremental",
            help="Weekly refresh: skip anchors an earlier run with the same prompts, models and config finished (another data build allowed).",
        ),
    ] = False,
    retry_failed: Annotated[bool, typer.Option(help="Re-run anchors that failed in this run before.")] = True,
    seed: Annotated[int, typer.Option(help="Seed of the task order.")] = 0,
    quiet: Annotated[bool, typer.Option("--quiet", help="No progress bar.")] = False,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Write the results page item-xp-batch (md, html, json) into this folder, e.g. docs/results."),
    ] = None,
    json_out: JsonOption = None,
) -> None:
    """Run the item-XP graph over many grocery anchors: each anchor is one `xp run`, saved to the
    item-XP store as soon as it finishes. Kill it at any point and run the same command again:
    finished anchors are skipped and finished model calls come from the response cache."""
    if concurrency < 1:
        raise XPError(f"--concurrency must be at least 1, got {concurrency}")
    config = graph_config(
        graph,
        plan,
        grounding,
        evaluator,
        prompt_set(prompt or []),
        match_k=match_k,
        expand=expand,
        workers=workers,
        naive_n=naive_n,
        picks=picks,
        history_pts=history_pts,
    )
    home = run_home()
    check_writable(home)
    commit = git_commit() if results is not None else None
    store = DataStore.open()
    ids = read_anchor_file(anchors) if anchors is not None else None
    selection = select_anchors(
        store.items(),
        top=top,
        ids=ids,
        category=category,
        limit=limit,
        distinct_pts=distinct_pts,
        allow_non_grocery=allow_non_grocery,
    )
    if selection.unknown_ids:
        err.print(
            f"[yellow]skipped {len(selection.unknown_ids)} unknown id(s):[/yellow] "
            f"{', '.join(map(str, selection.unknown_ids[:20]))}{' ...' if len(selection.unknown_ids) > 20 else ''}"
        )
    if selection.not_grocery:
        err.print(
            f"[yellow]skipped {len(selection.not_grocery)} non-grocery id(s)[/yellow] (--allow-non-grocery runs them): "
            f"{', '.join(map(str, selection.not_grocery[:20]))}"
        )
    if not selection.anchors:
        raise XPError("no anchor to run")
    parts = DefaultParts(
        home=str(home),
        llm=llm,
        evaluator_llm=evaluator_llm,
        judge_llm=judge_llm,
        history_until_week=history_until_week,
    )
    with err.status("loading the model, catalog index, scorer and grocery filter"):
        deps = shared_parts(parts)
    job = job_for(graph, config, parts, store, deps)
    err.print(
        f"[bold]{graph} graph[/bold], {config.plan} plan, {config.grounding} grounding, over {len(selection.anchors)} "
        f"anchors with {deps.llm.spec} (run {job.run_id}, executor {executor})"
    )
    runner = make_executor(executor, concurrency, scheduler, dask_workers)
    xp_store = ItemXPStore()
    try:
        result = run_batch(
            [job],
            selection.anchors,
            runner,
            xp_store,
            incremental=incremental,
            retry_failed=retry_failed,
            show_progress=not quiet,
            seed=seed,
            summary_dir=home / "runs" / job.run_id,
            console=err,
        )
    finally:
        runner.close()
        xp_store.close()
    result.summary.unknown_ids, result.summary.not_grocery = selection.unknown_ids, selection.not_grocery
    if not emit_json(json_out, result.summary.as_dict()):
        print_summary(result.summary)
    if result.summary_path:
        err.print(f"summary: {result.summary_path}")
    if results is not None:
        from xpollinate.batch.results import batch_report
        from xpollinate.reports import write_page

        report = batch_report(
            result.summary, job, str(deps.llm.spec), [a.item_id for a in selection.anchors], store_path()
        )
        err.print(f"wrote {write_page(report, results, 'item-xp-batch', commit=commit)}")
    if result.summary.failed:
        raise typer.Exit(1)  # finished, with failures recorded per anchor


def print_summary(s: BatchSummary) -> None:
    table = Table(title=f"batch {', '.join(s.run_ids)}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    u = s.usage
    judge = s.judge_sharing()
    rows = [
        ("anchors selected", f"{s.selected:,}"),
        ("skipped: finished before / unchanged (incremental)", f"{s.skipped_finished:,} / {s.skipped_unchanged:,}"),
        ("skipped: unknown ids / not grocery", f"{len(s.unknown_ids):,} / {len(s.not_grocery):,}"),
        ("anchors done / failed", f"{s.done:,} / {s.failed:,}"),
        ("items stored", f"{s.results:,}"),
        ("model requests / calls made", f"{int(u['requests']):,} / {int(u['calls']):,}"),
        ("cache hits", f"{int(u['cache_hits']):,} ({s.cache_hit_rate:.1%})"),
        (
            "judge verdicts reused (PT-level, across anchors)",
            f"{int(judge['cache_hits']):,} of {int(judge['requests']):,}",
        ),
        ("tokens in / out", f"{int(u['input_tokens']):,} / {int(u['output_tokens']):,}"),
        (
            "seconds per anchor (median) / model calls per anchor",
            f"{s.median_seconds_per_anchor:,.1f} / {s.per_anchor('calls'):,.1f}",
        ),
        ("schema-valid answers / copies of prompt examples", f"{s.schema_valid_rate:.1%} / {s.copy_rate:.1%}"),
        (
            "recommendations outside the catalog",
            "-"
            if s.out_of_catalog_rate is None
            else f"{s.out_of_catalog:,} of {s.distinct_recs:,} ({s.out_of_catalog_rate:.1%})",
        ),
        (
            "cost (USD)",
            f"{u['cost_usd']:.4f}" + (f" (+{int(u['unpriced_calls'])} unpriced calls)" if u["unpriced_calls"] else ""),
        ),
        ("wall time", f"{s.wall_s:.1f} s ({s.anchors_per_hour:,.0f} anchors/h, executor {s.executor})"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    out.print(table)
    for f in s.failures[:10]:
        err.print(f"[red]failed[/red] {f['anchor_id']} {f['anchor']}: {f['reason']}")
    if len(s.failures) > 10:
        err.print(f"... {len(s.failures) - 10} more failures; `xp runs RUN_ID` lists them")


@handle_errors
def runs_cmd(
    run_id: Annotated[Optional[str], typer.Argument(help="Show this run's settings and failed anchors.")] = None,
    json_out: JsonOption = None,
) -> None:
    """List the runs in the item-XP store (anchors done and failed), or one run's failures."""
    path = store_path()
    runs = list_runs(path)
    if run_id is None and emit_json(json_out, runs):
        return
    if run_id is None:
        table = Table(title=f"runs in {path}", title_justify="left")
        for col in ("run", "graph", "llm", "prompts", "done", "failed", "items"):
            table.add_column(col, justify="right" if col in ("done", "failed", "items") else "left")
        for r in runs:
            prompts = r["settings"].get("config", {}).get("prompts", {})
            used = [prompts.get(k, "") for k in (("theme", "recommend") if r["graph"] == "theme" else ("naive",))]
            table.add_row(
                r["run_id"], r["graph"], r["llm"], " ".join(used), str(r["done"]), str(r["failed"]), str(r["results"])
            )
        out.print(table)
        return
    match = [r for r in runs if r["run_id"] == run_id]
    if not match:
        raise XPError(f"no run {run_id!r}; runs: {', '.join(r['run_id'] for r in runs) or 'none'}")
    r = match[0]
    if emit_json(json_out, {**r, "failures": failures(path, run_id)}):
        return
    out.print(
        f"{r['run_id']}: {r['graph']} graph, {r['llm']}, {r['done']} done, {r['failed']} failed, {r['results']} items"
    )
    for f in failures(path, run_id):
        out.print(f"  failed {f['anchor_id']} {f['anchor_text']}: {f['error']}")
