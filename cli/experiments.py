"""`xp experiments run NAME`: the storefront's measured experiments, each writing its results page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer
from rich.table import Table

from xpollinate.cli.common import JsonOption, emit_json, err, handle_errors, metrics_table, out, stage_bars
from xpollinate.cli.options import LLMOption
from xpollinate.errors import XPError

app = typer.Typer(
    help="The storefront's experiments (retrieval + re-ranking), each with a results page.", no_args_is_help=True
)

Experiment = Literal["rerank", "dual-head", "llm-rerank", "narration", "enrichment", "occasions"]
METRIC_COLUMNS = [f"{m}@{k}" for m in ("Recall", "NDCG", "Hit") for k in (5, 10, 20)]


@app.command("run")
@handle_errors
def run_cmd(
    name: Annotated[
        Experiment,
        typer.Argument(help="rerank (two-tower -> LightGBM lambdarank) or dual-head (experiment 5: gated item tower)."),
    ],
    households: Annotated[
        Optional[int],
        typer.Option(help="Sample this many test households (seeded) for training and test; default all."),
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the household sample and of LightGBM.")] = 13,
    candidates: Annotated[
        Optional[int],
        typer.Option(help="Two-tower candidates per household (100); llm-rerank: the top M of LightGBM's order (20)."),
    ] = None,
    history: Annotated[int, typer.Option(help="Previously purchased items merged into the candidates.")] = 100,
    epochs: Annotated[int, typer.Option(help="dual-head, enrichment, occasions: training epochs of each variant.")] = 1,
    threads: Annotated[int, typer.Option(help="torch threads when a two-tower model must be trained.")] = 1,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Write the results page (storefront-rerank / experiment-dual-head: md, html, json) here."),
    ] = None,
    contexts: Annotated[
        str, typer.Option(help="llm-rerank: the context set (default: barbecue and new baby; barbecue; baby).")
    ] = "default",
    llm: LLMOption = None,
    json_out: JsonOption = None,
) -> None:
    """rerank: two-tower candidates (+ the household's previous purchases) re-ranked by LightGBM lambdarank,
    trained on the validation weeks' baskets; Recall/NDCG/Hit@5/10/20 on the two-tower evaluation's next
    baskets against retrieval alone, previous purchases and popularity. Trains the two-tower models it needs
    when missing, and publishes the re-ranker the storefront uses.

    dual-head: the item tower beside a frozen or trainable semantic head (MiniLM), mixed by a learned gate
    alpha, against the tower alone: alpha, validation InfoNCE loss and next-basket Recall/NDCG@10.

    llm-rerank (experiment 3): the LLM re-ranker against LightGBM's order and a shuffle of the same top M
    items, its hallucination/missing/duplicate rates, and how contexts move its top 5.

    narration (experiment 2): an LLM profile of each sampled household (default 20), embedded and searched over
    the item texts, against the trained user tower, the template profile, previous purchases and popularity:
    category precision@10 and Recall/NDCG/Hit@10 on the held-out weeks.

    enrichment (experiment 1): item text = template vs template + the LLM's category description (MiniLM),
    same two-tower training as dual-head; Recall@10/20, NDCG@10 and the descriptions' model-free quality.

    occasions (experiment 4): the LLM's occasion labels per category as multi-hot item features, against the
    same model without them. Both read the table of `xp experiments profile-categories`."""
    from xpollinate.catalog.store import DataStore
    from xpollinate.reports import git_commit

    if name == "dual-head":
        _dual_head(epochs, threads, results, json_out)
        return
    if name in ("enrichment", "occasions"):
        from xpollinate.cli import experiment_enrichment, experiment_occasions

        runner = experiment_enrichment.run if name == "enrichment" else experiment_occasions.run
        runner(epochs, threads, results, json_out)
        return
    if name == "narration":
        from xpollinate.cli import experiment_narration

        experiment_narration.run(households, seed, llm, threads, results, json_out)
        return
    if name == "llm-rerank":
        from xpollinate.cli import experiment_llm_rerank

        experiment_llm_rerank.run(households, candidates, contexts, seed, llm, results, json_out)
        return
    candidates = 100 if candidates is None else candidates
    from xpollinate.storefront.evaluate import run_rerank

    if candidates < 1 or history < 0:
        raise XPError(f"--candidates {candidates} --history {history}: need at least 1 candidate and history >= 0")
    commit = git_commit() if results is not None else None
    store = DataStore.open()
    with stage_bars(transient=True) as progress:
        run = run_rerank(
            store, households=households, seed=seed, n=candidates, n_history=history, progress=progress, threads=threads
        )
    payload = _payload(run)
    if not emit_json(json_out, payload):
        title = f"next basket of {run.settings['test_queries']} households (weeks {run.settings['test_weeks']})"
        out.print(metrics_table(title, "method", run.metrics, METRIC_COLUMNS))
        out.print(f"candidate pool recall {run.pool_recall:.4f}; best iteration {run.fit.best_iteration}")
        gains = sorted(run.fit.gains.items(), key=lambda kv: -kv[1])
        out.print("gain: " + ", ".join(f"{k} {v:.3f}" for k, v in gains))
        out.print(f"saved {run.artifact}")
    if results is not None:
        err.print(f"wrote {_write_page(run, payload, results, commit)}")


@app.command("profile-categories")
@handle_errors
def profile_categories_cmd(
    llm: LLMOption = None,
    per_call: Annotated[int, typer.Option(help="Product categories per LLM call.")] = 8,
    limit: Annotated[
        Optional[int], typer.Option(help="Only the N most purchased categories (quick runs); default all.")
    ] = None,
) -> None:
    """The LLM pass of experiments 1 and 4: a short description and 1-3 shopping occasions per product category
    (category_profile@v1, several categories per call, cached and resumable), published under
    $XP_HOME/storefront/category_profiles/. Failed calls are recorded per category."""
    from xpollinate.cli import experiment_enrichment

    experiment_enrichment.profile(llm, per_call, limit)


def _payload(run: Any) -> dict[str, Any]:
    return {
        "metrics": {m: {k: round(v, 4) for k, v in row.items()} for m, row in run.metrics.items()},
        "candidate_pool_recall": round(run.pool_recall, 4),
        "feature_gain_share": {k: round(v, 4) for k, v in sorted(run.fit.gains.items(), key=lambda kv: -kv[1])},
        "lightgbm": {
            "best_iteration": run.fit.best_iteration,
            "valid_ndcg@10": round(run.fit.valid_ndcg10, 4),
            "train_queries": run.fit.train_queries,
            "valid_queries": run.fit.valid_queries,
            "valid_households": run.fit.valid_households,
            "train_rows": run.fit.train_rows,
            "queries_without_positive_dropped": run.fit.dropped_queries,
        },
        "settings": run.settings,
        "seconds": {k: round(v, 1) for k, v in run.timings.items()},
        "artifact": run.artifact.name,
    }


def _write_page(run: Any, payload: dict[str, Any], folder: Path, commit: str | None) -> Path:
    import pandas as pd

    from xpollinate.reports import Report, write_page

    s = run.settings
    rows = [{"method": m, **{c: row[c] for c in METRIC_COLUMNS}} for m, row in run.metrics.items()]
    table = pd.DataFrame(rows)
    rr = run.metrics["two-tower + LightGBM re-ranker"]
    tt = next(v for k, v in run.metrics.items() if k.startswith("two-tower retrieval"))
    pp = run.metrics["previous purchases"]
    verdict = (
        f"LightGBM vs retrieval alone, NDCG@10: {rr['NDCG@10']:.4f} vs {tt['NDCG@10']:.4f} "
        f"({'beats it' if rr['NDCG@10'] > tt['NDCG@10'] else 'falls short'} by {abs(rr['NDCG@10'] - tt['NDCG@10']):.4f}); "
        f"vs previous purchases, Recall@10: {rr['Recall@10']:.4f} vs {pp['Recall@10']:.4f} "
        f"({'beats it' if rr['Recall@10'] > pp['Recall@10'] else 'falls short'} by {abs(rr['Recall@10'] - pp['Recall@10']):.4f}). "
        f"The re-ranker orders a pool holding {run.pool_recall:.1%} of the target items on average "
        "(its Recall ceiling at any K)."
    )
    sample = (
        f"all {s['test_queries']} test households"
        if s["households_sampled"] is None
        else f"{s['households_sampled']} households sampled with seed {s['seed']} ({s['test_queries']} with a test basket)"
    )
    setup = (
        f"Data build {s['data_build']}. Test: each household's first basket in weeks {s['test_weeks']} (the two-tower "
        f"evaluation's next baskets, every item, full catalog), {sample}; candidates from the two-tower model in use "
        f"({s['two_tower_test_model']}, {s['two_tower_extensions']}, trained on the weeks before). Re-ranker training: "
        f"every basket in weeks {s['validation_weeks']} with the history before it ({s['training_queries']:,} queries "
        f"from {s['training_households']:,} households, "
        f"{s['training_rows']:,} rows, {s['training_positive_rate']:.2%} positive), candidates from a twin two-tower "
        f"model trained only on the weeks before those ({s['two_tower_validation_model']}), so its scores are "
        f"out-of-sample as at test time. Candidates per household: the two-tower top {s['candidates_retrieved']} "
        f"(next-basket and long-term lists round-robin) plus up to {s['candidates_from_history']} previously purchased "
        f"items (most often bought first), {s['mean_candidates_per_test_query']:.0f} on average at test. "
        f"LightGBM LGBMRanker(objective='lambdarank'), 1 thread, early stopping on the NDCG@10 of the "
        f"{run.fit.valid_queries:,} queries of {run.fit.valid_households:,} held-out training households (whole "
        f"households, seeded): best iteration {run.fit.best_iteration}, "
        f"validation NDCG@10 {run.fit.valid_ndcg10:.4f}."
    )
    gains = pd.DataFrame(
        [{"feature": k, "share of gain": v} for k, v in sorted(run.fit.gains.items(), key=lambda kv: -kv[1])]
    )
    timing = pd.DataFrame([{"stage": k, "seconds": f"{v:.1f}"} for k, v in run.timings.items()])
    if s["two_tower_trained_this_run"]:
        timing_text = "Two-tower models trained in this run: " + "; ".join(s["two_tower_trained_this_run"]) + "."
    else:
        timing_text = "Both two-tower models were already saved."
    report = Report(
        "Storefront re-ranking: two-tower candidates -> LightGBM lambdarank",
        [
            ("Next-basket test", f"{setup}\n\n{verdict}", table),
            ("Feature importance (LightGBM gain, share of total)", "", gains),
            ("Time (2 shared cores)", timing_text, timing),
        ],
        headline=payload,
    )
    return write_page(report, folder, "storefront-rerank", commit=commit)


def _dual_head(epochs: int, threads: int, results: Path | None, json_out: Path | None) -> None:
    import pandas as pd

    from xpollinate.catalog.store import DataStore
    from xpollinate.reports import Report, git_commit, write_page
    from xpollinate.storefront.dual_head import run_dual_head

    commit = git_commit() if results is not None else None
    with stage_bars(transient=True) as progress:
        run = run_dual_head(DataStore.open(), epochs=epochs, progress=progress, threads=threads)
    rows = [
        {
            "variant": {
                "baseline": "item tower alone",
                "frozen": "dual head, frozen semantic head",
                "trainable": "dual head, trainable semantic head",
            }[r.variant],
            "alpha (semantic weight)": "-" if r.alpha is None else f"{r.alpha:.3f}",
            "validation loss": round(r.valid_loss, 4),
            "last training loss": round(r.train_losses[-1], 4),
            "Recall@10": round(r.recall10, 4),
            "NDCG@10": round(r.ndcg10, 4),
            "train + eval s": round(r.seconds),
        }
        for r in run.results
    ]
    payload = {"variants": rows, "settings": run.settings}
    table = pd.DataFrame(rows)
    if not emit_json(json_out, payload):
        rich = Table(title="dual-head item tower")
        for c in table.columns:
            rich.add_column(str(c))
        for row in rows:
            rich.add_row(*[str(v) for v in row.values()])
        out.print(rich)
    if results is not None:
        s = run.settings
        best = min(run.results, key=lambda r: r.valid_loss)
        text = (
            f"Data build {s['data_build']}. Each variant: the project's two-tower model ({s['two_tower']['epochs']} "
            f"epoch(s), dim {s['two_tower']['dim']}, same seed and data) trained on weeks {s['training_weeks']} "
            f"({s['training_baskets']:,} baskets); validation loss = the training objective without the same-type hard "
            f"negatives: InfoNCE with the popularity prior, in-batch and sampled negatives, summed over the long-term "
            f"and next-basket user vectors, one positive per basket (fixed seed), over the {s['validation_baskets']:,} "
            f"baskets of weeks "
            f"{s['validation_weeks']}; Recall/NDCG@10 on each household's first basket from week "
            f"{s['validation_weeks'].split('-')[0]} on ({s['next_basket_queries']} households, full catalog). "
            f"Semantic head: {s['semantic_projection']}, L2-normalised; alpha = sigmoid(gate), gate starting at 0. "
            f"Lowest validation loss: {rows[[r.variant for r in run.results].index(best.variant)]['variant']}."
        )
        base = next((r for r in run.results if r.variant == "baseline"), None)
        for r in run.results:
            if r.alpha is None:
                continue
            side = "the semantic head" if r.alpha > 0.5 else "the trainable tower"
            text += f" {r.variant.capitalize()} semantic head: alpha {r.alpha:.3f}, the gate leans toward {side}" + (
                f"; validation loss {r.valid_loss - base.valid_loss:+.4f} against the tower alone." if base else "."
            )
        report = Report(
            "Experiment 5: dual-head item tower (semantic head + trainable tower, learned gate alpha)",
            [("Validation weeks", text, table)],
            headline=payload,
        )
        err.print(f"wrote {write_page(report, results, 'experiment-dual-head', commit=commit)}")
