"""Results: trains the missing runs of the comparison, then prints Table 8, Table 15 and the
30-vs-50 cart-context ablation from every saved run (`xp ranker eval` prints the same tables).

Runs are named by `--variants`, each `ARCH[+pre][+pop]:LOSS` (`+pre`: pre-norm cart encoder; `+pop`: with the popularity prior;
without it the paper's item representation exactly), trained once per `--seeds`; the
30-item context runs `--ablation` over `--ablation-seeds`. A run already saved is not
retrained, so the command can be stopped and started again.

    python bench/ranker_table.py [--seeds 0 1 2] [--max-minutes 6] [--threads 1] [--variants xp+pop:listwise ...]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from rich.console import Console

from xpollinate.catalog.store import DataStore
from xpollinate.cli.ranker import show
from xpollinate.errors import XPError
from xpollinate.ranking import report
from xpollinate.ranking.artifacts import current_run, models_root, set_current
from xpollinate.ranking.item_features import build_item_features
from xpollinate.ranking.model import ARCHS, TRANSFORMER_ARCHS, ModelConfig
from xpollinate.ranking.runs import baseline_metrics, run_id, saved_runs, train_and_save
from xpollinate.ranking.task import TaskConfig, prepare
from xpollinate.ranking.train import TrainConfig, encode_split
from xpollinate.settings import ensure_dir

VARIANTS = [
    "xp+pop:listwise",
    "xp+pop:pairwise",
    "xp:listwise",
    "transformer+pop:listwise",
    "bilstm+pop:listwise",
    "identity+pop:listwise",
    "deepfm+pop:listwise",
]


def parse_variant(text: str, max_cart: int = 50) -> tuple[ModelConfig, str]:
    """`xp+pop:listwise` -> (ModelConfig(arch=xp, pop_dim=8), listwise); `xp+pre+pop`: pre-norm encoder too."""
    arch, _, loss = text.partition(":")
    base = arch.removesuffix(report.PRIOR).removesuffix(report.PRE_NORM)
    if (
        base not in ARCHS
        or loss not in ("listwise", "pairwise")
        or (report.PRE_NORM in arch and base not in TRANSFORMER_ARCHS)
    ):
        raise XPError(
            f"variant {text!r}: expected ARCH[+pre][+pop]:LOSS with ARCH in {', '.join(ARCHS)} "
            "and LOSS listwise or pairwise (+pre: xp and transformer only)"
        )
    return ModelConfig(
        arch=base,
        pop_dim=8 if arch.endswith(report.PRIOR) else 0,
        max_cart=max_cart,  # type: ignore[arg-type]
        norm_first=report.PRE_NORM in arch,
    ), loss


def _claim_path(rid: str) -> Path:
    return ensure_dir(models_root() / ".claims") / rid


def claim(rid: str) -> bool:
    """Take run `rid` for this process; False if a live process holds it (a dead holder's claim is taken over)."""
    path = _claim_path(rid)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            try:
                os.kill(int(path.read_text() or 0), 0)
                return False
            except (ProcessLookupError, ValueError):
                path.unlink(missing_ok=True)  # its trainer died: retry
                continue
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        return True
    return False


def release(rid: str) -> None:
    _claim_path(rid).unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", default=VARIANTS, help="ARCH[+pre][+pop]:LOSS, trained for every seed")
    parser.add_argument("--ablation", default="xp+pop:listwise", help="the variant of the 30-vs-50 context ablation")
    parser.add_argument("--ablation-seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--max-train", type=int, default=None, help="subsample the training carts (default: all)")
    parser.add_argument("--max-minutes", type=float, default=6.0, help="training budget of one run")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (run two commands side by side)")
    parser.add_argument("--label", default="basket")
    parser.add_argument("--train-only", action="store_true", help="train the missing runs, print nothing")
    parser.add_argument(
        "--write", type=Path, default=None, help="write the results page ranker-tables into this folder"
    )
    args = parser.parse_args()
    console = Console(width=160)
    task = prepare(DataStore.open(), TaskConfig(label=args.label))
    features = build_item_features(task.catalog, task.popularity)
    plan: list[tuple[ModelConfig, TrainConfig]] = []
    for seed in args.seeds:
        for variant in args.variants:
            mcfg, loss = parse_variant(variant)
            plan.append((mcfg, TrainConfig(loss=loss, seed=seed)))  # type: ignore[arg-type]
    for seed in args.ablation_seeds:
        mcfg, loss = parse_variant(args.ablation, max_cart=30)
        plan.append((mcfg, TrainConfig(loss=loss, seed=seed)))  # type: ignore[arg-type]
    test_enc = None

    def budget(tcfg: TrainConfig) -> TrainConfig:
        return tcfg.model_copy(
            update={
                "max_train": args.max_train,
                "max_minutes": args.max_minutes,
                "epochs": args.epochs,
                "threads": args.threads,
            }
        )

    for mcfg, tcfg in plan:
        tcfg = budget(tcfg)
        rid = run_id(mcfg, tcfg, task)
        if rid in saved_runs() or not claim(rid):  # saved, or being trained by a command side by side
            continue
        try:
            test_enc = test_enc or encode_split(task, "test")
            t = time.perf_counter()
            _, m = train_and_save(task, mcfg, tcfg, features=features, test_enc=test_enc, make_current=False)
            console.print(
                f"{rid}: test NDCG@4 {m['test']['ndcg@4']:.4f} (best epoch {m['best_epoch']}, "
                f"{m['seconds_to_best']:.0f} s to best, {time.perf_counter() - t:.0f} s)"
            )
        finally:
            release(rid)
    served = run_id(parse_variant(args.ablation)[0], TrainConfig(loss=args.ablation.partition(":")[2]), task)  # seed 0
    if current_run() is None and served in saved_runs():
        set_current(served)  # serve the ablation variant (the best model of the table) by default
    if args.train_only:
        return
    baselines = baseline_metrics(task)
    runs = saved_runs()
    n = baselines["heuristic"]["carts"]
    arch, _, loss = args.ablation.partition(":")
    # Table 15 and the ablation read the runs of this command's recipe (a non-default budget names one).
    trained = report.RUN.match(run_id(parse_variant(args.ablation)[0], budget(TrainConfig(loss=loss, seed=0)), task))
    arch = report.variant_key(arch, trained["recipe"] if trained else None)
    tables = [
        (
            f"Table 8: {n:,} test carts (weeks {task.meta['weeks']['test']}), "
            "NDCG and lift % over the heuristic (mean ± sd over seeds)",
            report.table8(runs, baselines, args.label),
            ["model", "loss", "seeds", "NDCG@2", "NDCG@4", "NDCG@6", "lift@2 %", "lift@4 %", "lift@6 %"],
        ),
        (
            f"Table 15: lift % of {args.ablation} over the heuristic by cart size",
            report.table15(runs, baselines, arch=arch, loss=loss, label=args.label),
            ["cart size", "carts", "lift@2 %", "lift@4 %", "lift@6 %"],
        ),
        (
            f"Appendix D: cart context 50 vs 30 items ({args.ablation})",
            report.ablation(runs, arch=arch, loss=loss, label=args.label),
            ["max cart", "seeds", "NDCG@2", "NDCG@4", "NDCG@6", "change@2 %", "change@4 %", "change@6 %"],
        ),
    ]
    for title, rows, columns in tables:
        show(rows, title, columns)
    console.print(f"runs in {models_root()}")
    if args.write is not None:
        write_results(args, task, tables)


def write_results(args: argparse.Namespace, task, tables: list[tuple[str, list[list[str]], list[str]]]) -> None:  # type: ignore[no-untyped-def]
    """The results page ranker-tables: the three tables and how their runs were trained."""
    import pandas as pd

    from xpollinate.reports import Report, write_page

    stats = task.meta["stats"]
    how = (
        f"Each variant trained once per seed ({', '.join(map(str, args.seeds))}; the 30-item ablation "
        f"{', '.join(map(str, args.ablation_seeds)) or 'none'}) with a {args.max_minutes:g}-minute budget per run "
        f"(at most {args.epochs} epochs, the best validation NDCG@4 epoch kept), {args.threads} torch thread(s) per "
        f"run, on {'all' if args.max_train is None else f'{args.max_train:,}'} training carts "
        f"({stats['train']['examples']:,} available). Labels: {args.label}. Test carts: weeks "
        f"{task.meta['weeks']['test'][0]}-{task.meta['weeks']['test'][1]}. Spreads are sd over seeds with ddof=1. "
        "A run already saved in the run directory is reused, not retrained."
    )
    blocks = [("How the runs were trained", how, None)]
    headline: dict[str, object] = {"label": args.label, "seeds": args.seeds, "max_minutes": args.max_minutes}
    for title, rows, columns in tables:
        frame = pd.DataFrame(rows, columns=columns)
        blocks.append((title.split(":")[0], title, frame))
        headline[title.split(":")[0]] = frame.to_dict("records")
    page = Report("Cart ranker: Table 8, Table 15 and the 30-vs-50 context ablation", blocks, headline=headline)
    print(f"wrote {write_page(page, args.write, 'ranker-tables')}")


if __name__ == "__main__":
    main()
