"""`xp twotower tag|train|eval|recommend`: personalised candidates from the two-tower model."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer
from rich.table import Table

from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import err, handle_errors, out, stage_bars
from xpollinate.errors import XPError
from xpollinate.retrieval.twotower.config import Extensions, TwoTowerConfig
from xpollinate.retrieval.twotower.metrics import KS

app = typer.Typer(
    help="Two-tower retrieval (InfoNCE, FAISS) with the STARS extensions: personalised candidates per household.",
    no_args_is_help=True,
)


progress_bars = stage_bars


def _write_json(path: Path, payload: object) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    os.replace(tmp, path)


@app.command("tag")
@handle_errors
def tag_cmd(
    llm: Annotated[
        Optional[str],
        typer.Option(help="Tagging LLM (provider:model, local, local-small); default XP_LLM / config / local."),
    ] = None,
    per_call: Annotated[int, typer.Option(help="Product categories tagged per LLM call.")] = 10,
    limit: Annotated[
        Optional[int],
        typer.Option(help="Tag only the N most purchased categories (CPU-bound local models); default all."),
    ] = None,
) -> None:
    """Attribute tags per product category from the LLM (attribute_tags@v1, controlled vocabulary, cached),
    stored in $XP_HOME/twotower/tags/ for the tags extension. Failed calls are recorded per category."""
    from xpollinate.llm import get_llm
    from xpollinate.retrieval.twotower.tags import tag_categories

    if limit is not None and limit < 1:
        raise XPError(f"--limit {limit}: tag at least one category")
    items = DataStore.open().items()
    model = get_llm(llm)
    with progress_bars() as progress:
        run = tag_categories(items, model, per_call=per_call, limit=limit, progress=progress)
    table = run.table
    ok = int((table["status"] == "ok").sum())
    out.print(
        f"tagged {ok}/{len(table)} categories with {model.spec} in {run.calls} calls "
        f"({run.failures} failed calls, {int((table['status'] == 'missing').sum())} categories skipped by the model)"
    )
    for _, row in table.head(10).iterrows():
        out.print(f"  {row['category'].title()}: {', '.join(row['tags']) or '-'} [{row['status']}]", markup=False)
    usage = model.usage.summary()["total"]
    out.print(f"LLM: {usage['calls']} calls, {usage['cache_hits']} cache hits, {usage['output_tokens']} output tokens")
    out.print(f"saved {run.path}")


def _config(
    dim: int, epochs: int, batch_size: int, lr: float, test_weeks: int, seed: int, gamma: float, no: dict[str, bool]
) -> TwoTowerConfig:
    ext = Extensions(**{k: not v for k, v in no.items()})
    return TwoTowerConfig(
        dim=dim,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        test_weeks=test_weeks,
        seed=seed,
        gamma=gamma,
        extensions=ext,
    )


DimOpt = Annotated[int, typer.Option(help="Embedding size of both towers.")]
EpochsOpt = Annotated[int, typer.Option(help="Passes over the training baskets.")]
BatchOpt = Annotated[int, typer.Option(help="Examples per step (also the in-batch negatives).")]
LrOpt = Annotated[float, typer.Option(help="Adam learning rate.")]
WeeksOpt = Annotated[
    int, typer.Option(help="Last weeks held out for evaluation (each household's first basket there).")
]
GammaOpt = Annotated[float, typer.Option(help="Popularity prior strength: b_k = -gamma log pi_k.")]
ThreadsOpt = Annotated[int, typer.Option(help="torch CPU threads (1 is fastest on a busy 2-core machine).")]
NoOpt = Annotated[bool, typer.Option(help="Switch this STARS extension off.")]


@app.command("train")
@handle_errors
def train_cmd(
    dim: DimOpt = 64,
    epochs: EpochsOpt = 3,
    batch_size: BatchOpt = 1024,
    lr: LrOpt = 3e-3,
    test_weeks: WeeksOpt = 8,
    seed: int = 13,
    gamma: GammaOpt = 0.5,
    threads: ThreadsOpt = 1,
    no_text_delta: NoOpt = False,
    no_tags: NoOpt = False,
    no_pop_prior: NoOpt = False,
    no_hard_negatives: NoOpt = False,
    no_dual_user: NoOpt = False,
) -> None:
    """Train both towers with InfoNCE on the baskets before the held-out weeks and save the model in
    $XP_HOME/twotower/models/ (atomically; it becomes the model `eval` and `recommend` use).
    The tags extension needs `xp twotower tag` first (or --no-tags)."""
    from xpollinate.retrieval.twotower.experiments import train_and_save

    cfg = _config(
        dim,
        epochs,
        batch_size,
        lr,
        test_weeks,
        seed,
        gamma,
        dict(
            text_delta=no_text_delta,
            tags=no_tags,
            pop_prior=no_pop_prior,
            hard_negatives=no_hard_negatives,
            dual_user=no_dual_user,
        ),
    )
    store = DataStore.open()
    with progress_bars() as progress:
        result, path, data = train_and_save(store, cfg, progress=progress, threads=threads)
    out.print(
        f"trained {cfg.extensions.label()} on {len(data.split.train):,} baskets (weeks < {data.split.first_test_week}) "
        f"in {result.seconds:.1f} s; loss per epoch {', '.join(f'{x:.3f}' for x in result.losses)}"
    )
    out.print(f"items: {data.items.n:,} ({int(data.seen.sum()):,} seen in training); tags: {data.tag_source or 'off'}")
    out.print(f"saved {path}")


def _metrics_table(title: str, rows: dict[str, dict[str, float]], extra: tuple[str, ...] = ()) -> Table:
    table = Table(title=title)
    table.add_column("method")
    cols = [f"{m}@{k}" for k in KS for m in ("Recall", "NDCG", "Hit", "Coverage")]
    for c in (*cols, *extra):
        table.add_column(c, justify="right")
    for name, m in rows.items():
        table.add_row(name, *[f"{m[c]:.4f}" for c in cols], *[f"{m[c]:.0f}" for c in extra])
    return table


@app.command("eval")
@handle_errors
def eval_cmd(
    index: Annotated[
        Literal["exact", "hnsw"], typer.Option(help="FAISS index for the model's retrieval: exact or hnsw.")
    ] = "exact",
    ablation: Annotated[
        bool, typer.Option(help="Also train the model with each STARS extension removed (same settings) and compare.")
    ] = False,
    ablation_epochs: Annotated[
        Optional[int], typer.Option(help="Epochs of each ablation run (default: the saved model's).")
    ] = None,
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the metrics to this JSON file.")
    ] = None,
    threads: ThreadsOpt = 1,
) -> None:
    """Recall, NDCG, Hit and Coverage @5/10/20 on each household's next basket in the held-out weeks,
    for the saved model and the popularity, previous-purchases and item-KNN baselines; scope `all` (every
    item) and `gm` (GM items of baskets holding any, results filtered to GM)."""
    from xpollinate.retrieval.twotower.experiments import ablation as run_ablation
    from xpollinate.retrieval.twotower.experiments import evaluate_model
    from xpollinate.retrieval.twotower.training import restore

    store = DataStore.open()
    data, model, saved = restore(store)
    with err.status("evaluating the model and the baselines"):
        metrics = evaluate_model(data, model, saved.config, saved.item_vectors, index)  # type: ignore[arg-type]
    n_test = len(data.split.test)
    for name, rows in metrics.items():
        out.print(
            _metrics_table(
                f"scope {name}: next basket of {int(next(iter(rows.values()))['queries'])} of {n_test} "
                f"households (weeks >= {data.split.first_test_week}), model {saved.path.name}",
                rows,
            )
        )
    payload: dict[str, object] = {
        "model": saved.path.name,
        "config": saved.config.model_dump(mode="json"),
        "metrics": metrics,
    }
    if ablation:
        if saved.tags is None and saved.config.extensions.tags:
            raise XPError("the saved model has no tag table; train it with tags first")
        from xpollinate.retrieval.twotower.training import prepare

        cfg = saved.config if ablation_epochs is None else saved.config.model_copy(update={"epochs": ablation_epochs})
        if ablation_epochs is not None and ablation_epochs < 1:
            raise XPError(f"--ablation-epochs {ablation_epochs}: train at least one epoch")
        full = prepare(store, cfg, need_tags=cfg.extensions.tags)
        with progress_bars() as progress:
            table = run_ablation(store, cfg, progress=progress, threads=threads, data=full)
        for name, rows in table.items():
            out.print(_metrics_table(f"ablation, scope {name}", rows, extra=("train_seconds",)))
        payload["ablation"] = table
    if json_out:
        _write_json(json_out, payload)
        out.print(f"wrote {json_out}")


@app.command("recommend")
@handle_errors
def recommend_cmd(
    household: Annotated[int, typer.Option(help="Household id (an unknown id gets the popularity cold-start path).")],
    k: Annotated[int, typer.Option(help="Items to return.")] = 10,
    gm_only: Annotated[bool, typer.Option(help="Only general merchandise (filter after search).")] = False,
    allow: Annotated[
        Optional[Path],
        typer.Option(help="A file of allowed item ids (one per line or comma separated), e.g. in stock."),
    ] = None,
    as_of_week: Annotated[
        Optional[int], typer.Option(help="Use only the purchases up to this week (replays the past).")
    ] = None,
    index: Annotated[Literal["exact", "hnsw"], typer.Option(help="FAISS index: exact or hnsw.")] = "exact",
    json_out: Annotated[
        Optional[Path], typer.Option("--json", help="Also write the response to this JSON file.")
    ] = None,
) -> None:
    """Personalised candidates for a household; the response states which path made them."""
    from xpollinate.retrieval.twotower.recommend import Recommender

    allowed = None
    if allow is not None:
        try:
            raw = allow.read_text(encoding="utf-8").replace(",", "\n").split()
            allowed = [int(x) for x in raw]
        except (OSError, ValueError) as exc:
            raise XPError(f"--allow {allow}: need a readable file of integer item ids ({exc})") from exc
        if not allowed:
            raise XPError(f"--allow {allow}: the file lists no item ids")
    recs = Recommender(DataStore.open(), index_kind=index).recommend(household, k, gm_only, allowed, as_of_week)  # type: ignore[arg-type]
    out.print(f"household {recs.household_id}: {recs.path}")
    table = Table()
    for col in ("rank", "item_id", "text", "score", "GM", "seen", "source"):
        table.add_column(col, justify="right" if col in ("rank", "item_id", "score") else "left")
    for _, r in recs.items.iterrows():
        table.add_row(
            str(r["rank"]),
            str(r["item_id"]),
            r["text"],
            "" if r["score"] != r["score"] else f"{r['score']:.3f}",
            "yes" if r["is_gm"] else "no",
            "yes" if r["seen_in_training"] else "no (content only)",
            r["source"],
        )
    out.print(table)
    if json_out:
        _write_json(json_out, recs.to_dict())
        out.print(f"wrote {json_out}")
