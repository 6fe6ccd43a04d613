"""`xp ranker prepare|train|eval|use`: the cart-XP ranker on Complete Journey baskets."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

import typer
from rich.table import Table

from xpollinate.catalog.store import DataStore
from xpollinate.cli.common import JsonOption, emit_json, err, handle_errors, out, stage_bars
from xpollinate.errors import XPError

app = typer.Typer(
    help="Cart-XP ranker (XP paper 2.2): prepare the task, train models, compare them.", no_args_is_help=True
)

TrainUntil = Annotated[int, typer.Option(help="Last training week (associations, persona, popularity use only these).")]
ValUntil = Annotated[int, typer.Option(help="Last validation week; the test weeks follow.")]
# The model architectures of ranking.model.ARCHS (a test keeps the two equal; torch loads only when training).
Arch = Literal["xp", "transformer", "bilstm", "identity", "deepfm"]
Label = Annotated[
    Literal["basket", "7d"],
    typer.Option(help="Positives: 'basket' (GM bought in the basket) or '7d' (or within 7 days)."),
]
ItemXPRun = Annotated[
    Optional[str],
    typer.Option(
        help="Pools with Item XP: the anchors of this stored run (`xp batch`, made with --history-until-week at or "
        "before the last training week) take its merged list, the others their historical candidates, as the "
        "service pools them. Run ids get the label 'basket.ixp'. Default: historical candidates only."
    ),
]


bars = stage_bars


def _item_xp_lists(run_id: str, train_until: int):
    """The stored run's Item XP lists as a candidate source, refused when its history reaches past training."""
    from xpollinate.ab.runs import load_run
    from xpollinate.serving.sources import ItemXPLists
    from xpollinate.xpstore.item_xp_store import store_path

    run = load_run(store_path(), run_id)
    until = run.settings.get("history_until_week")
    if until is None or int(until) > train_until:
        raise XPError(
            f"run {run_id} used co-purchases up to week {until or 'the end'}: its lists would leak the validation and "
            f"test weeks into the pools. Make one with `xp batch --history-until-week {train_until}`"
        )
    rows = run.kept.sort_values(["anchor_id", "rank"]).to_dict("records")
    recs: dict[int, list[dict]] = {}
    for row in rows:
        recs.setdefault(int(row["anchor_id"]), []).append(row)
    if not recs:
        raise XPError(f"run {run_id} has no finished anchor with recommendations")
    return ItemXPLists(recs)


def _task(train_until: int, val_until: int, label: str, force: bool = False, item_xp_run: str | None = None):
    from xpollinate.ranking.task import TaskConfig, lists_fingerprint, prepare

    lists = _item_xp_lists(item_xp_run, train_until) if item_xp_run else None
    config = TaskConfig(
        train_until=train_until,
        val_until=val_until,
        label=label,  # type: ignore[arg-type]
        item_xp=f"{item_xp_run}:{lists_fingerprint(lists)}" if lists is not None else None,
    )
    store = DataStore.open()
    with bars() as tick:
        task = prepare(store, config, force=force, progress=tick, item_xp=lists)
        from xpollinate.ranking.item_features import build_item_features

        tick("item embeddings (MiniLM, cached)", 0, 1)
        features = build_item_features(task.catalog, task.popularity)
        tick("item embeddings (MiniLM, cached)", 1, 1)
    return task, features


@app.command("prepare")
@handle_errors
def prepare_cmd(
    train_until: TrainUntil = 41,
    val_until: ValUntil = 46,
    label: Label = "basket",
    force: Annotated[bool, typer.Option("--force", help="Rebuild the examples even if they exist.")] = False,
    item_xp_run: ItemXPRun = None,
) -> None:
    """Association tables up to the last training week, the per-item candidate table, item
    embeddings, persona scores and the train/val/test carts (see README: task and data)."""
    task, _ = _task(train_until, val_until, label, force, item_xp_run)
    pools = f", Item XP of {task.meta['item_xp_anchors']} anchors" if task.config.item_xp else ""
    table = Table(title=f"ranking task {task.path.name} (label: {task.config.label}{pools})")
    for col in ("split", "weeks", "carts with GM", "examples", "GM bought", "in pool", "pool recall"):
        table.add_column(col, justify="right")
    for split, s in task.meta["stats"].items():
        w = task.meta["weeks"][split]
        table.add_row(
            split,
            f"{w[0]}-{w[1]}",
            f"{s['baskets']:,}",
            f"{s['examples']:,}",
            f"{s['gm_items_bought']:,}",
            f"{s['gm_items_in_pool']:,}",
            f"{s['pool_recall']:.1%}",
        )
    out.print(table)


@app.command("train")
@handle_errors
def train_cmd(
    model: Annotated[Arch, typer.Option(help="The cart encoder: xp is the paper's.")] = "xp",
    loss: Annotated[
        Literal["listwise", "pairwise"],
        typer.Option(help="listwise (softmax, T=5) or pairwise (hinge, margin 5)."),
    ] = "listwise",
    seed: Annotated[int, typer.Option(help="Seeds torch, numpy, negative sampling and subsampling.")] = 0,
    max_cart: Annotated[int, typer.Option(help="Cart items of context (most recent kept).")] = 50,
    epochs: Annotated[int, typer.Option(min=1, max=200)] = 6,
    patience: Annotated[
        int, typer.Option(min=1, max=50, help="Stop after this many epochs without a better validation NDCG@4.")
    ] = 2,
    batch_size: Annotated[int, typer.Option(min=1, max=4096)] = 32,
    lr: Annotated[float, typer.Option(help="AdamW learning rate.")] = 1e-3,
    neg_per_cart: Annotated[int, typer.Option(help="Negatives sampled per training cart and epoch.")] = 64,
    max_train: Annotated[Optional[int], typer.Option(help="Subsample this many training carts (default: all).")] = None,
    max_minutes: Annotated[float, typer.Option(help="Training time budget.")] = 12.0,
    threads: Annotated[int, typer.Option(help="torch CPU threads in all (split over --workers).")] = 2,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=16,
            help=(
                "Data-parallel training processes (local, gloo over loopback); each takes its share of every batch, "
                "so --batch-size stays the carts per update. A run repeats exactly for the same seed and workers."
            ),
        ),
    ] = 1,
    schedule: Annotated[
        Literal["constant", "cosine", "wsd"],
        typer.Option(
            help="Learning rate: constant; cosine (5% linear warm-up, then cosine decay to zero at the end of "
            "--epochs; choose --epochs that fit in --max-minutes); or wsd (5% warm-up, the peak rate, then a "
            "linear decay to zero over the last --decay of the steps). Run ids get '+cos' or '+wsd'."
        ),
    ] = "constant",
    decay: Annotated[
        float,
        typer.Option(
            min=0.01,
            max=1.0,
            help="wsd: the share of the planned steps spent decaying to zero (run ids get "
            "'-dc<share>' when it is not 0.2).",
        ),
    ] = 0.2,
    fit_budget: Annotated[
        bool,
        typer.Option(
            "--fit-budget",
            help="After the first epoch, and again after the second (the first carries start-up costs), "
            "plan only the epochs that fit in --max-minutes at the pace so far (--epochs stays the "
            "cap), so a cosine or wsd decay ends inside the budget; wsd plans again after each epoch "
            "until its decay begins. Run ids get '-fit<minutes>'.",
        ),
    ] = False,
    popularity: Annotated[
        bool,
        typer.Option(
            "--popularity/--no-popularity",
            help="Popularity prior in the item representation (training-week log basket count, our extension); "
            "--no-popularity is the paper's item representation exactly.",
        ),
    ] = True,
    norm_first: Annotated[
        bool,
        typer.Option(
            "--norm-first/--post-norm",
            help="Cart encoder (xp, transformer) with pre-norm layers and a final layer norm, or post-norm (PyTorch's "
            "default; the paper states neither).",
        ),
    ] = False,
    dropout: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=0.9,
            help="Dropout of the cart encoder, the cross-attention and the MLP (the paper gives none). "
            "Run ids get '-do<p>' when it is not 0.1.",
        ),
    ] = 0.1,
    train_until: TrainUntil = 41,
    val_until: ValUntil = 46,
    label: Label = "basket",
    item_xp_run: ItemXPRun = None,
) -> None:
    """Train one ranker; the best validation NDCG@4 epoch is kept, tested on the test weeks and
    saved to $XP_HOME/ranking/models/<run id> (weights, config, metrics, data version); it
    becomes CURRENT, the model `load_ranker` serves."""
    from xpollinate.ranking.model import CartRanker, ModelConfig, count_parameters
    from xpollinate.ranking.runs import train_and_save
    from xpollinate.ranking.train import TrainConfig

    mcfg = ModelConfig(
        arch=model,
        max_cart=max_cart,
        pop_dim=8 if popularity else 0,  # type: ignore[arg-type]
        norm_first=norm_first,
        dropout=dropout,
    )
    tcfg = TrainConfig(
        loss=loss,
        seed=seed,
        epochs=epochs,
        patience=patience,
        batch_size=batch_size,
        lr=lr,  # type: ignore[arg-type]
        neg_per_cart=neg_per_cart,
        max_train=max_train,
        max_minutes=max_minutes,
        threads=threads,
        workers=workers,
        schedule=schedule,
        decay=decay,
        fit_budget=fit_budget,
    )  # type: ignore[arg-type]
    task, features = _task(train_until, val_until, label, item_xp_run=item_xp_run)
    err.print(
        f"{model}: {count_parameters(CartRanker(mcfg.model_copy(update={'n_platforms': len(task.platforms) + 1}))):,} "
        "trainable parameters"
    )
    with bars() as tick:
        path, metrics = train_and_save(
            task,
            mcfg,
            tcfg,
            features=features,
            tick=tick,
            on_epoch=lambda row: err.print(
                f"epoch {row['epoch']}: loss {row['loss']:.4f}, validation NDCG@4 {row['ndcg@4']:.4f}, "
                f"lr {row['lr']:.2e}, {row['seconds']:.0f} s ({row['val_seconds']:.1f} s validating; "
                f"epoch {row['epoch']} of {row['planned_epochs']})"
            ),
        )
    table = Table(title=f"{path.name}: validation NDCG per epoch")
    for col in ("epoch", "loss", "ndcg@2", "ndcg@4", "ndcg@6", "seconds"):
        table.add_column(col, justify="right")
    for row in metrics["curve"]:
        table.add_row(
            str(row["epoch"]),
            f"{row['loss']:.4f}",
            f"{row['ndcg@2']:.4f}",
            f"{row['ndcg@4']:.4f}",
            f"{row['ndcg@6']:.4f}",
            f"{row['seconds']:.0f}",
        )
    out.print(table)
    t = metrics["test"]
    out.print(
        f"parameters {metrics['parameters']:,}; best epoch {metrics['best_epoch']} "
        f"({metrics['seconds_to_best']:.0f} s); test carts {t['carts']:,}: NDCG@2 {t['ndcg@2']:.4f}  "
        f"NDCG@4 {t['ndcg@4']:.4f}  NDCG@6 {t['ndcg@6']:.4f}\nsaved {path}"
    )


@app.command("eval")
@handle_errors
def eval_cmd(
    train_until: TrainUntil = 41,
    val_until: ValUntil = 46,
    label: Label = "basket",
    item_xp_run: ItemXPRun = None,
    json_out: JsonOption = None,
    variant: Annotated[
        str,
        typer.Option(
            help="The runs that Table 15 breaks down by cart size and the ablation compares at 30 vs 50 cart items: a run "
            "id's model part, then its recipe if it has one, e.g. 'xp+pop' or 'xp+cos e24-p24-b64-n32-lr0.002-fit15' "
            "(listwise)."
        ),
    ] = "xp+pop",
) -> None:
    """Test NDCG@2/4/6 of the heuristic and popularity baselines and of every saved run, with
    lift over the heuristic (Table 8), lift by cart size (Table 15) and the 30-vs-50 ablation."""
    from xpollinate.ranking import report
    from xpollinate.ranking.runs import baseline_metrics, saved_runs

    task, _ = _task(train_until, val_until, label, item_xp_run=item_xp_run)
    label = task.tag  # the runs trained on this task's pools
    runs = saved_runs()
    known = sorted({key[0] for key in report.group_runs(runs, label)})
    if variant not in known:
        raise XPError(f"--variant: no saved runs of {variant!r} on {label} pools; saved: {', '.join(known) or 'none'}")
    with err.status("scoring the test carts with the baselines"):
        baselines = baseline_metrics(task)
    tables = {
        "table8": (
            report.table8(runs, baselines, label),
            f"Table 8: test carts ({baselines['heuristic']['carts']:,}), NDCG and lift % over the heuristic",
            ["model", "loss", "seeds", "NDCG@2", "NDCG@4", "NDCG@6", "lift@2 %", "lift@4 %", "lift@6 %"],
        ),
        "table15": (
            report.table15(runs, baselines, arch=variant, label=label),
            f"Table 15: lift % of {variant}/listwise by cart size",
            ["cart size", "carts", "lift@2 %", "lift@4 %", "lift@6 %"],
        ),
        "ablation": (
            report.ablation(runs, arch=variant, label=label),
            f"Cart context 50 vs 30 ({variant}/listwise)",
            ["max cart", "seeds", "NDCG@2", "NDCG@4", "NDCG@6", "change@2 %", "change@4 %", "change@6 %"],
        ),
    }
    payload = {key: [dict(zip(columns, row)) for row in rows] for key, (rows, _, columns) in tables.items()}
    if emit_json(json_out, payload):
        return
    for rows, title, columns in tables.values():
        show(rows, title, columns)


@app.command("use")
@handle_errors
def use_cmd(
    run_id: Annotated[Optional[str], typer.Argument(help="A saved run id (omit to list the saved runs).")] = None,
) -> None:
    """Make a saved run the CURRENT ranker (what `xp serve` loads, and picks up live), or list the runs."""
    from xpollinate.ranking.artifacts import current_run, models_root, set_current
    from xpollinate.ranking.runs import saved_runs

    runs = saved_runs()
    if run_id is None:
        current = current_run()
        rows = [
            [
                ("* " if current and current.name == rid else "  ") + rid,
                f"{m['test']['ndcg@4']:.4f}",
                f"{m['parameters']:,}",
            ]
            for rid, m in runs.items()
        ]
        show(rows, f"saved rankers in {models_root()} (* = CURRENT)", ["run", "test NDCG@4", "parameters"])
        return
    if run_id not in runs:
        raise XPError(f"no saved ranker run {run_id!r}; saved: {', '.join(runs) or 'none (xp ranker train)'}")
    set_current(run_id)
    out.print(f"CURRENT ranker: {run_id}")


def show(rows: list[list[str]], title: str, columns: list[str]) -> None:
    table = Table(title=title)
    for n, col in enumerate(columns):
        table.add_column(col, justify="left" if n == 0 else "right")
    for row in rows:
        table.add_row(*row)
    out.print(table)
