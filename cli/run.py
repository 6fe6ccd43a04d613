"""`xp run`: the item-XP graph for one anchor, with progress, a result table, JSON and the store."""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated, Any, Literal, Optional, cast

import typer
from rich.table import Table

from xpollinate.catalog.anchors import resolve
from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import err, handle_errors, out, stage_bars
from xpollinate.cli.options import (
    EvaluatorLLMOption,
    EvaluatorModeOption,
    ExpandOption,
    GraphOption,
    GroundingOption,
    JudgeLLMOption,
    LLMOption,
    MatchKOption,
    NaiveNOption,
    PicksOption,
    graph_config,
)
from xpollinate.cli.threads import ask_at_terminal, print_history, run_thread
from xpollinate.errors import XPError
from xpollinate.graphs.checkpoints import Checkpoints, ThreadRecord, history
from xpollinate.graphs.config import ItemXPConfig
from xpollinate.graphs.deps import default_deps, deps_until_week, role_settings, run_id_for, run_settings
from xpollinate.graphs.item_xp import GraphKind, ItemXPDeps, build_graph
from xpollinate.graphs.runner import anchor_from_item, run_anchor
from xpollinate.llm import RoleModels, role_llms
from xpollinate.settings import ensure_dir, run_home
from xpollinate.xpstore.item_xp_store import ItemXPStore

NODE_SUMMARY = {
    "context": lambda u: f"{len(u.get('themes', []))} themes",
    "shortlist": lambda u: f"{len(u.get('shortlist', []))} catalog product types to pick from",
    "history": lambda u: (
        f"{sum(1 for r in u.get('candidates', []) if r.source != 'llm')} historical product types merged"
    ),
    "recommend": lambda u: f"{len(u.get('recs', []))} recommendations ({u['recs'][0].theme if u.get('recs') else '-'})",
    "naive": lambda u: f"{len(u.get('recs', []))} recommendations",
    "merge": lambda u: f"{len(u.get('candidates', []))} distinct",
    "evaluate": lambda u: f"{len(u.get('candidates', []))} kept by the contextual evaluator",
    "match": lambda u: f"{len(u.get('matches', []))} catalog items matched",
    "judge": lambda u: f"{len(u.get('judge_scores', {}))} PT-level judgements",
    "cross_encode": lambda u: f"{len(u.get('ce_scores', {}))} cross-encoder pairs ({u.get('scorer_id')})",
    "combine": lambda u: f"{len(u.get('results', []))} items kept (Poor removed)",
    "review": lambda u: (
        f"{len(u.get('results', []))} approved, {sum(1 for d in u.get('dropped', []) if d.stage == 'review')} rejected"
    ),
}


def _progress(node: str, update: dict[str, Any]) -> None:
    summary = NODE_SUMMARY.get(node, lambda u: "")(update)
    failed = len(update.get("failures", []))
    err.print(
        f"  [green]✓[/green] {node}: {summary}" + (f" [yellow]({failed} failed calls)[/yellow]" if failed else "")
    )


@handle_errors
def run_cmd(
    anchor: Annotated[
        Optional[str],
        typer.Option(help="Grocery anchor: an item id, or text such as 'eggs' (with --thread: default the thread's)."),
    ] = None,
    graph: GraphOption = "theme",
    plan: Annotated[
        Literal["lean", "paper"],
        typer.Option(
            help="Call plan: lean (short prompts, yes/no probabilities as scores; ~30-60 s an anchor "
            "on 2 cores) or paper (the paper's prompts and calls; ~30 min an anchor)."
        ),
    ] = "lean",
    grounding: GroundingOption = None,
    llm: LLMOption = None,
    evaluator_llm: EvaluatorLLMOption = None,
    judge_llm: JudgeLLMOption = None,
    rows: Annotated[int, typer.Option(help="Rows to print.")] = 20,
    match_k: MatchKOption = None,
    expand: ExpandOption = None,
    workers: Annotated[int, typer.Option(help="Model calls in flight per node.")] = 4,
    evaluator: EvaluatorModeOption = "per_rec",
    naive_n: NaiveNOption = 10,
    picks: PicksOption = 4,
    history_pts: Annotated[
        int,
        typer.Option(help="Historical (co-purchase) GM product types merged into Item XP; 0: the model's list only."),
    ] = 10,
    history_until_week: Annotated[
        Optional[int],
        typer.Option(help="Use baskets up to this week for the historical product types (held-out evaluation)."),
    ] = None,
    allow_non_grocery: Annotated[
        bool, typer.Option("--allow-non-grocery", help="Run even if the anchor is not a grocery item.")
    ] = False,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Where to write the full result (default: the run directory).")
    ] = None,
    thread: Annotated[
        Optional[str],
        typer.Option(
            help="Checkpoint the run under this thread id ($XP_HOME/checkpoints.sqlite): run it again to resume "
            "after a failure or a pause; without --anchor, the thread's own anchor and settings."
        ),
    ] = None,
    show_history: Annotated[
        bool, typer.Option("--history", help="List the thread's checkpoints (step, nodes, time) and stop.")
    ] = False,
    from_checkpoint: Annotated[
        Optional[str],
        typer.Option(help="Replay the thread from this checkpoint (see --history): the steps after it run again."),
    ] = None,
    review: Annotated[
        bool,
        typer.Option(
            "--review",
            help="Pause before storing: approve or reject each item at the terminal (needs --thread); "
            "rejected items are not stored, and every decision is written as a filled review sheet.",
        ),
    ] = False,
) -> None:
    """Run the item-XP graph for one anchor: themes -> recommendations -> contextual evaluator ->
    semantic matcher -> LLM judge + cross-encoder -> combined score and band. Results go to the
    item-XP store with their provenance; model answers are cached, so a re-run resumes."""
    for flag, given in (("--history", show_history), ("--from-checkpoint", from_checkpoint), ("--review", review)):
        if given and not thread:
            raise XPError(f"{flag} needs --thread ID: it works on a checkpointed run (a thread)")
    if thread is not None and not (0 < len(thread.strip()) <= 100):
        raise XPError("--thread: give an id of 1 to 100 characters")
    if anchor is None and not thread:
        raise XPError("--anchor: missing; give a grocery item id or text, e.g. --anchor 'ground coffee'")
    with ExitStack() as stack:
        checkpoints = stack.enter_context(Checkpoints.open()) if thread else None
        record = None
        if checkpoints is not None and thread and (anchor is None or show_history or from_checkpoint):
            record = checkpoints.known(thread)
        if record is not None and anchor is None:  # continue the thread with its own anchor and settings
            graph, config, roles, history_until_week = _thread_options(record, review)
            anchor = str(record.anchor_id)
            allow_non_grocery = True  # it was checked when the thread started
        else:
            roles = RoleModels(llm, evaluator_llm, judge_llm)
            config = graph_config(
                graph,
                plan,
                grounding,
                evaluator,
                match_k=match_k,
                expand=expand,
                workers=workers,
                naive_n=naive_n,
                picks=picks,
                history_pts=history_pts,
                review=review,
            )
        store = DataStore.open()
        row = resolve(store.items(), str(anchor))
        if not bool(row["is_grocery"]):
            if not allow_non_grocery:
                raise XPError(
                    f"anchor {int(row['item_id'])} ({row['text']}) is {row['item_class']}, not grocery; "
                    "pass --allow-non-grocery to run it anyway"
                )
            err.print(f"[yellow]warning:[/yellow] anchor {int(row['item_id'])} is {row['item_class']}, not grocery")
        anchor_obj = anchor_from_item(row)
        models = role_llms(roles)
        model = models["generator"]
        with err.status("loading the catalog index, scorer and grocery filter"):
            deps = default_deps(
                store,
                model,
                history_until_week=history_until_week,
                evaluator_llm=models["evaluator"],
                judge_llm=models["judge"],
            )
        settings = run_settings(graph, model, config, store, deps.scorer.scorer_id, deps_until_week(deps))
        settings.update(role_settings(deps))
        if config.review:  # a reviewed run stores only what a person approved: a run of its own
            settings = {**settings, "review": True}
        run_id = run_id_for(settings)
        err.print(
            f"[bold]{graph} graph[/bold], {config.plan} plan, {config.grounding} grounding, for {int(row['item_id'])} "
            f"{row['text']} with {model.spec}{_other_roles(deps)} (run {run_id})"
        )
        if checkpoints is None or thread is None:
            with stage_bars(transient=True) as tick:  # the judge's and the evaluator's calls as they finish
                outcome, state = run_anchor(
                    build_graph(graph, deps, config),
                    model,
                    anchor_obj,
                    on_node=_progress,
                    on_progress=lambda stage, done, total: tick(f"  {stage} calls", done, total),
                )
        else:
            checkpoints.claim(thread, int(row["item_id"]), run_id, settings)
            compiled = build_graph(graph, deps, config, checkpointer=checkpoints.saver)
            if show_history:
                print_history(thread, history(compiled, thread))
                return

            def run_once(run_config: Any, given: Any) -> None:
                with stage_bars(transient=True) as tick:  # closed before the review step asks anything
                    run_anchor(
                        compiled,
                        model,
                        anchor_obj,
                        on_node=_progress,
                        on_progress=lambda stage, done, total: tick(f"  {stage} calls", done, total),
                        config=run_config,
                        graph_input=given,
                    )

            try:
                outcome, state = run_thread(
                    compiled, model, anchor_obj, checkpoints, thread, run_id, ask_at_terminal, from_checkpoint, run_once
                )
            except typer.Abort:
                err.print(f"paused at the review step: `xp run --thread {thread}` asks again")
                raise typer.Exit(1) from None

    xp_store = ItemXPStore()
    xp_store.start_run(run_id, graph, str(model.spec), settings, store.build_id)
    xp_store.save(run_id, outcome)
    _print_results(outcome.results[:rows])
    usage = outcome.audit["usage"]
    sources = {s_: sum(1 for r in outcome.results if r.source == s_) for s_ in ("llm", "both", "historical")}
    err.print(
        f"{len(outcome.results)} items (model {sources['llm']}, both {sources['both']}, historical {sources['historical']}); "
        f"dropped: {outcome.audit['dropped_by_reason'] or 'none'}; "
        f"failed calls: {len(outcome.audit['failures'])}; model calls {usage['calls']}, cache hits {usage['cache_hits']}, "
        f"tokens {usage['input_tokens']}+{usage['output_tokens']}; {outcome.seconds:.1f} s"
    )
    reviewed = state.get("review")
    if reviewed is not None:
        rejected = sum(1 for d in reviewed.decisions if d.decision == "reject")
        err.print(
            f"review: {len(reviewed.decisions) - rejected} approved, {rejected} rejected (not stored); decisions in "
            f"{reviewed.path} (`xp review import {reviewed.path}`)"
        )
    path = json_out or ensure_dir(run_home() / "runs" / run_id) / f"{outcome.anchor_id}.json"
    payload = {
        "run_id": run_id,
        "thread": thread,
        "settings": settings,
        "anchor": anchor_obj.model_dump(),
        "seconds": outcome.seconds,
        "results": [r.model_dump() for r in outcome.results],
        "audit": outcome.audit,
        "review": reviewed.model_dump() if reviewed is not None else None,
    }
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    err.print(f"wrote {path}")


def _thread_options(record: ThreadRecord, review: bool) -> tuple[GraphKind, ItemXPConfig, RoleModels, int | None]:
    """Graph, config, models and history weeks of the run a thread was started with (`xp run --thread ID`)."""
    settings = record.settings
    config = ItemXPConfig.model_validate({**settings["config"], "review": review or bool(settings.get("review"))})
    roles = RoleModels(str(settings["llm"]), settings.get("evaluator_llm"), settings.get("judge_llm"))
    return cast(GraphKind, settings["graph"]), config, roles, settings.get("history_until_week")


def _other_roles(deps: ItemXPDeps) -> str:
    """ ", evaluator X, judge Y" for the roles whose model is not the generator's."""
    named = [f"{role} {m.spec}" for role, m in (("evaluator", deps.evaluator_llm), ("judge", deps.judge_llm)) if m]
    return f", {', '.join(named)}" if named else ""


def _print_results(results: list) -> None:  # type: ignore[type-arg]
    table = Table(title="item-XP recommendations", title_justify="left")
    for col in (
        "#",
        "source",
        "theme",
        "recommendation",
        "matched item",
        "CE",
        "LLM",
        "combined",
        "band",
        "explanation",
    ):
        table.add_column(
            col,
            justify="right" if col in ("#", "CE", "LLM", "combined") else "left",
            overflow="ellipsis",
            no_wrap=col != "explanation",
            max_width={"matched item": 40, "explanation": 50, "theme": 18, "recommendation": 26}.get(col),
        )
    for i, r in enumerate(results, start=1):
        table.add_row(
            str(i),
            r.source,
            r.theme or "-",
            r.recommendation,
            f"{r.item_id} {r.item_text}",
            f"{r.ce:.2f}",
            f"{r.llm:.2f}",
            f"{r.combined:.2f}",
            r.band,
            r.explanation,
        )
    out.print(table)
