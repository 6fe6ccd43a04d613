"""`xp eval judges|offline`: judge calibration on co-purchase data, and the offline stand-in for the online metric."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import pandas as pd
import typer

from xpollinate.cli.common import emit_json, err, handle_errors, out, stage_bars
from xpollinate.errors import XPError
from xpollinate.reports import Report, git_commit, write_page

app = typer.Typer(help="Evaluations on held-out real data.", no_args_is_help=True)
TRAIN_UNTIL = 41  # the ranker's split: weeks 1-41 train, the rest held out
RUBRIC_PAIRS = 60  # the paper's rubric prompts cost ~25x a yes/no probability: score a balanced prefix


@app.command("judges")
@handle_errors
def judges_cmd(
    prompt: Annotated[
        Optional[list[str]],
        typer.Option(
            help="Scoring prompt versions (repeatable). Default: fit@v1, "
            "relevance@v1 and its batched form relevance_batch@v1 (lean), and evaluator@v2, judge@v2 (paper)."
        ),
    ] = None,
    llm: Annotated[Optional[str], typer.Option(help="provider:model (default: XP_LLM, config, local).")] = None,
    anchors: Annotated[
        int,
        typer.Option(
            help="Grocery anchors: the most transacted item of each product type with a strong GM co-purchase."
        ),
    ] = 50,
    positives: Annotated[
        int,
        typer.Option(
            help="Positives per anchor (at most): its strongest co-purchased GM product types; as many negatives."
        ),
    ] = 3,
    min_shared: Annotated[int, typer.Option(help="Shared baskets a positive needs.")] = 20,
    min_lift: Annotated[float, typer.Option(help="Adjusted lift a positive needs (1: no association).")] = 2.0,
    rubric_pairs: Annotated[
        int, typer.Option(help="Pairs the rubric prompts (evaluator@v2, judge@v2) score: a balanced prefix.")
    ] = RUBRIC_PAIRS,
    until_week: Annotated[int, typer.Option(help="Positives from baskets up to this week.")] = TRAIN_UNTIL,
    workers: Annotated[int, typer.Option(help="Model calls in flight.")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the negatives.")] = 0,
    cold: Annotated[
        bool,
        typer.Option(
            "--cold", help="Ask the model for every pair, neither reading nor writing the response cache (timed runs)."
        ),
    ] = False,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Write the results page (md, html, json) into this folder, e.g. docs/results."),
    ] = None,
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the summary as JSON ('-': stdout).")] = None,
) -> None:
    """Do the evaluator and the judge separate known-good pairs from random ones? Scores a calibration set
    (strong co-purchases vs random GM product types) with each prompt and reports AUC and score spreads."""
    from xpollinate.batch.anchors import select_anchors
    from xpollinate.catalog.store import DataStore
    from xpollinate.evals.calibration import agreement, calibration_pairs, pairs_frame, score_pairs, summary_table
    from xpollinate.llm import get_llm
    from xpollinate.prompts.schemas import YesProbabilities, YesProbability
    from xpollinate.retrieval.associations import AssocConfig, open_associations
    from xpollinate.retrieval.matcher import SemanticMatcher
    from xpollinate.retrieval.vocabulary import GMVocabulary

    prompts = prompt or ["fit@v1", "relevance@v1", "relevance_batch@v1", "evaluator@v2", "judge@v2"]
    commit = git_commit() if results is not None else None
    for n, flag in ((anchors, "--anchors"), (positives, "--positives")):
        if n < 1:
            raise XPError(f"{flag} must be at least 1, got {n}")
    store = DataStore.open()
    items = store.items()
    model = get_llm(llm, cache=not cold)
    for ref in prompts:
        model.registry.get(ref)  # an unknown version fails before any work
    with err.status("association tables of the training weeks, the GM vocabulary"):
        assoc = open_associations(store, AssocConfig(until_week=until_week))
        vocabulary = GMVocabulary.from_matcher(
            SemanticMatcher.open(store), set(items.loc[items["is_grocery"], "product_type"])
        )
    chosen = select_anchors(items, top=len(items), distinct_pts=True).anchors
    pairs = calibration_pairs(chosen, assoc, vocabulary, positives, min_shared, min_lift, seed)
    used = list(dict.fromkeys(p.anchor_pt for p in pairs))[:anchors]
    pairs = [p for p in pairs if p.anchor_pt in set(used)]
    if not pairs:
        raise XPError("no anchor has a strong co-purchase; lower --min-shared or --min-lift")
    by_id = {int(a.item_id or -1): a for a in chosen}
    err.print(
        f"calibration set: {len(used)} anchors, {sum(p.label for p in pairs)} positives, "
        f"{sum(1 - p.label for p in pairs)} negatives; scoring with {model.spec}"
    )
    scored = []
    for ref in prompts:
        output = model.registry.get(ref).output_model
        limit = None if output is not None and issubclass(output, (YesProbability, YesProbabilities)) else rubric_pairs
        with stage_bars(transient=True) as tick:
            scored.append(
                score_pairs(
                    model,
                    ref,
                    pairs,
                    by_id,
                    limit,
                    workers,
                    progress=partial(tick, ref),
                )
            )
    table = summary_table(pairs, scored)
    role = {
        "fit": "evaluator",
        "evaluator": "evaluator",
        "relevance": "judge",
        "relevance_batch": "judge",
        "judge": "judge",
    }
    agree = []
    for i, a in enumerate(scored):
        for b in scored[i + 1 :]:
            if role.get(a.prompt.split("@")[0]) == role.get(b.prompt.split("@")[0]):
                agree.append({"a": a.prompt, "b": b.prompt, **agreement(a, b)})
    out.print(table.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for row in agree:
        out.print(
            f"{row['a']} vs {row['b']}: Spearman {row['spearman']:.3f}, mean |difference| {row['mean_abs_diff']:.3f} "
            f"over {row['pairs']} pairs"
        )
    headline = {
        "model": str(model.spec),
        "anchors": len(used),
        "pairs": len(pairs),
        "auc": {r["prompt"]: r["AUC"] for r in table.to_dict("records")},
        "within_anchor_auc": {r["prompt"]: r["within-anchor AUC"] for r in table.to_dict("records")},
        "agreement": agree,
        "summary": table.to_dict("records"),
    }
    emit_json(json_out, headline)
    if results is not None:
        frame = pairs_frame(pairs, scored)
        blocks = [
            (
                "Calibration set",
                f"{len(used)} grocery anchors: the most transacted item of each product type with at least "
                f"one GM product type co-purchased in {min_shared}+ baskets of weeks 1-{until_week} at an adjusted lift of "
                f"{min_lift:g} or more. Positives: up to {positives} such GM product types per anchor, strongest first. "
                f"Negatives: as many GM product types drawn at random (seed {seed}) among those with no association to the "
                f"anchor. Rubric prompts score the first {rubric_pairs} pairs (balanced over anchors and labels).",
                None,
            ),
            (
                "AUC and score distributions",
                "AUC: probability that a random positive outscores a random negative (ties "
                "count half). Within-anchor AUC: the same over pairs of one anchor only, which is how the pipeline uses a "
                "scorer (it ranks and filters one anchor's candidates). sd with ddof=1. Seconds: wall time of each "
                f"prompt's pass with {workers} model calls in flight, "
                + ("every pair asked (--cold)." if cold else "answers in the response cache counted as free.")
                + " relevance_batch@v1 asks one call per anchor for all its pairs; the others one call per pair.",
                table,
            ),
            (
                "Agreement of prompts of one role",
                "Spearman correlation and mean absolute difference on the pairs both scored.",
                pd.DataFrame(agree) if agree else None,
            ),
            ("Pairs", "", frame.drop(columns=["rank"])),
        ]
        path = write_page(
            Report("Judge calibration: evaluator and judge against co-purchase data", blocks, headline=headline),
            results,
            "judge-calibration",
            commit=commit,
        )
        err.print(f"wrote {path}")


@app.command("offline")
@handle_errors
def offline_cmd(
    run_id: Annotated[str, typer.Argument(help="A stored run (see `xp runs`).")],
    holdout_from: Annotated[
        int, typer.Option(help="First held-out week; the historical list uses the weeks before it.")
    ] = TRAIN_UNTIL + 1,
    window_weeks: Annotated[int, typer.Option(help="A household's window after an anchor basket, in weeks.")] = 3,
    history_pts: Annotated[int, typer.Option(help="Product types of the historical list.")] = 10,
    seed: Annotated[int, typer.Option(help="Seed of the random lists and the bootstrap.")] = 0,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Write the results page (md, html, json) into this folder, e.g. docs/results."),
    ] = None,
    name: Annotated[str, typer.Option(help="Results page name.")] = "offline-eval",
    json_out: Annotated[Optional[Path], typer.Option("--json", help="Write the summary as JSON ('-': stdout).")] = None,
) -> None:
    """Score a run's lists on held-out baskets: the share of each list's GM product types that households who
    bought the anchor's product type also bought (same basket, or within the window), against the historical
    list, their union, random and popularity-matched lists; bootstrap CIs over anchors, and novelty."""
    from xpollinate.ab.runs import load_run
    from xpollinate.catalog.store import DataStore
    from xpollinate.evals.offline import HeldOut, anchor_lists, evaluate, novelty
    from xpollinate.retrieval.associations import AssocConfig, open_associations
    from xpollinate.retrieval.matcher import SemanticMatcher
    from xpollinate.retrieval.shortlist import HistoricalPTs
    from xpollinate.retrieval.vocabulary import GMVocabulary
    from xpollinate.xpstore.item_xp_store import store_path

    run = load_run(store_path(), run_id)
    config = run.settings.get("config", {})
    until = run.settings.get("history_until_week")
    if (
        config.get("grounding") == "catalog"
        and config.get("history_pts", 0)
        and (until is None or until >= holdout_from)
    ):
        raise XPError(
            f"run {run_id} offered the model co-purchase product types from weeks up to "
            f"{until or 'the end'}: its list has seen the held-out weeks (from {holdout_from}). Re-run it with "
            f"`--history-until-week {holdout_from - 1}` (xp batch) for an offline evaluation"
        )
    store = DataStore.open()
    if run.settings.get("data_build") not in (None, store.build_id):
        err.print(
            f"[yellow]note:[/yellow] run {run_id} was made on data build {run.settings.get('data_build')}, "
            f"the store is {store.build_id}"
        )
    items = store.items()
    with err.status("held-out baskets, training-week associations, GM vocabulary"):
        held = HeldOut.build(
            store.baskets(columns=["household_id", "week", "item_ids"]), items, holdout_from, window_weeks
        )
        history = HistoricalPTs(open_associations(store, AssocConfig(until_week=holdout_from - 1)), history_pts)
        vocabulary = GMVocabulary.from_matcher(
            SemanticMatcher.open(store), set(items.loc[items["is_grocery"], "product_type"])
        )
        train = items.set_index("product_type")["n_baskets"].groupby(level=0).sum()
    done = run.anchors[run.anchors["status"] == "done"]
    if done.empty:
        raise XPError(f"run {run_id} has no finished anchor")
    kept = run.kept
    model_items = kept[kept["source"].isin(["llm", "both"])] if "source" in kept else kept
    pool = list(vocabulary.product_types)
    popularity = {p: float(train.get(p, 0.0)) for p in pool}
    lists = []
    for a in done.itertuples(index=False):
        llm_pts = model_items.loc[model_items["anchor_id"] == a.anchor_id, "product_type"].tolist()
        hist = [h.product_type for h in history.of(a.anchor_pt)]
        lists.append(anchor_lists(int(a.anchor_id), str(a.anchor_pt), llm_pts, hist, pool, popularity, seed))
    per_anchor, summary = evaluate(held, lists, seed)
    nov = novelty(lists)
    out.print(summary.to_string(index=False, float_format=lambda v: f"{v:.4f}"))
    out.print(f"novelty: {nov:.1%} of the model's product types are not in the historical list ({len(lists)} anchors)")
    headline = {
        "run_id": run_id,
        "holdout_from_week": holdout_from,
        "window_weeks": window_weeks,
        "anchors": len(lists),
        "novelty": nov,
        "lists": {
            r["list"]: {
                "mean_hit_share": r["window hit share"],
                "ci": [r["window CI low"], r["window CI high"]],
                "basket_hit_share": r["basket hit share"],
                "basket_ci": [r["basket CI low"], r["basket CI high"]],
                "mean_size": r["mean size"],
                "anchors": r["anchors"],
            }
            for r in summary.to_dict("records")
        },
    }
    emit_json(json_out, headline)
    if results is not None:
        text = (
            f"Run {run_id} ({run.settings.get('graph')} graph, {config.get('plan', 'paper')} plan, "
            f"{config.get('grounding', 'free')} grounding, {run.settings.get('llm')}), {len(lists)} anchors. Held-out "
            f"weeks {holdout_from}+; the historical list from weeks 1-{holdout_from - 1}. An event is a held-out basket "
            f"holding the anchor's product type; hit share = share of the list's GM product types bought in that basket, "
            f"or by the household within {window_weeks} weeks from it; mean over each anchor's events, then over anchors "
            f"(bootstrap 95% CI, BCa). Novelty: {nov:.1%} of the model's product types are absent from the historical list."
        )
        page = Report(
            f"Offline evaluation of run {run_id}",
            [("Hit share per list", text, summary), ("Per anchor", "", per_anchor)],
            headline=headline,
        )
        path = write_page(page, results, name)
        err.print(f"wrote {path}")
