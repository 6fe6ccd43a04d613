"""`xp run`: the item-XP graph for one anchor, with progress, a result table, JSON and the store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from xpollinate.catalog.anchors import resolve
from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import err, handle_errors, out, stage_bars
from xpollinate.cli.options import ExpandOption, MatchKOption, NaiveNOption, PicksOption, graph_config
from xpollinate.errors import XPError
from xpollinate.graphs.deps import default_deps, deps_until_week, run_id_for, run_settings
from xpollinate.graphs.item_xp import build_graph
from xpollinate.graphs.runner import anchor_from_item, run_anchor
from xpollinate.llm import get_llm
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
}


def _progress(node: str, update: dict[str, Any]) -> None:
    summary = NODE_SUMMARY.get(node, lambda u: "")(update)
    failed = len(update.get("failures", []))
    err.print(
        f"  [green]✓[/green] {node}: {summary}" + (f" [yellow]({failed} failed calls)[/yellow]" if failed else "")
    )


@handle_errors
def run_cmd(
    anchor: Annotated[str, typer.Option(help="Grocery anchor: an item id, or text such as 'eggs'.")],
    graph: Annotated[
        str, typer.Option(help="theme (themes -> recs -> evaluator) or naive (the paper's baseline).")
    ] = "theme",
    plan: Annotated[
        str,
        typer.Option(
            help="Call plan: lean (short prompts, yes/no probabilities as scores; ~30-60 s an anchor "
            "on 2 cores) or paper (the paper's prompts and calls; ~30 min an anchor)."
        ),
    ] = "lean",
    grounding: Annotated[
        Optional[str],
        typer.Option(
            help="catalog (picks constrained to the catalog's GM product types; the "
            "lean default) or free (free text matched afterwards; the paper's mode)."
        ),
    ] = None,
    llm: Annotated[
        Optional[str],
        typer.Option(help="provider:model, e.g. local, local-small, openai:gpt-4o (default: XP_LLM or config)."),
    ] = None,
    rows: Annotated[int, typer.Option(help="Rows to print.")] = 20,
    match_k: MatchKOption = None,
    expand: ExpandOption = None,
    workers: Annotated[int, typer.Option(help="Model calls in flight per node.")] = 4,
    evaluator: Annotated[
        str,
        typer.Option(
            help="Paper plan's evaluator: per_rec (one call per recommendation, the paper) or batched (one call per theme)."
        ),
    ] = "per_rec",
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
) -> None:
    """Run the item-XP graph for one anchor: themes -> recommendations -> contextual evaluator ->
    semantic matcher -> LLM judge + cross-encoder -> combined score and band. Results go to the
    item-XP store with their provenance; model answers are cached, so a re-run resumes."""
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
    )
    store = DataStore.open()
    row = resolve(store.items(), anchor)
    if not bool(row["is_grocery"]):
        if not allow_non_grocery:
            raise XPError(
                f"anchor {int(row['item_id'])} ({row['text']}) is {row['item_class']}, not grocery; "
                "pass --allow-non-grocery to run it anyway"
            )
        err.print(f"[yellow]warning:[/yellow] anchor {int(row['item_id'])} is {row['item_class']}, not grocery")
    anchor_obj = anchor_from_item(row)
    model = get_llm(llm)
    with err.status("loading the catalog index, scorer and grocery filter"):
        deps = default_deps(store, model, history_until_week=history_until_week)
    settings = run_settings(graph, model, config, store, deps.scorer.scorer_id, deps_until_week(deps))  # type: ignore[arg-type]
    run_id = run_id_for(settings)
    err.print(
        f"[bold]{graph} graph[/bold], {config.plan} plan, {config.grounding} grounding, for {int(row['item_id'])} "
        f"{row['text']} with {model.spec} (run {run_id})"
    )
    with stage_bars(transient=True) as tick:  # the judge's and the evaluator's calls as they finish
        outcome, state = run_anchor(
            build_graph(graph, deps, config),  # type: ignore[arg-type]
            model,
            anchor_obj,
            on_node=_progress,
            on_progress=lambda stage, done, total: tick(f"  {stage} calls", done, total),
        )

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
    path = json_out or ensure_dir(run_home() / "runs" / run_id) / f"{outcome.anchor_id}.json"
    payload = {
        "run_id": run_id,
        "settings": settings,
        "anchor": anchor_obj.model_dump(),
        "seconds": outcome.seconds,
        "results": [r.model_dump() for r in outcome.results],
        "audit": outcome.audit,
    }
    path.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    err.print(f"wrote {path}")


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
