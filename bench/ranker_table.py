"""Results: trains the missing runs of the comparison, then prints Table 8, Table 15 and the
30-vs-50 cart-context ablation from every saved run (`xp ranker eval` prints the same tables).

Runs (each `xp ranker train` with the settings below; a run already saved is not retrained):
the paper's model with both losses, the other variants with --loss, each over --seeds;
the 30-item context with the listwise loss over --ablation-seeds.

    python bench/ranker_table.py [--seeds 0 1 2] [--loss listwise] [--max-train 8000] [--max-minutes 4]
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console

from xpollinate.catalog.store import DataStore
from xpollinate.cli.ranker import show
from xpollinate.ranking import report
from xpollinate.ranking.artifacts import current_run, models_root, set_current
from xpollinate.ranking.item_features import build_item_features
from xpollinate.ranking.model import ModelConfig
from xpollinate.ranking.runs import baseline_metrics, run_id, saved_runs, train_and_save
from xpollinate.ranking.task import TaskConfig, prepare
from xpollinate.ranking.train import TrainConfig, encode_split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--loss", default="listwise", help="loss of the baseline variants")
    parser.add_argument("--archs", nargs="+", default=["xp", "transformer", "bilstm", "identity", "deepfm"])
    parser.add_argument("--xp-losses", nargs="+", default=["listwise", "pairwise"], help="losses of the paper's model")
    parser.add_argument("--ablation-seeds", type=int, nargs="*", default=[0])
    parser.add_argument("--max-train", type=int, default=8000)
    parser.add_argument("--max-minutes", type=float, default=4.0)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--label", default="basket")
    parser.add_argument("--train-only", action="store_true", help="train the missing runs, print nothing")
    args = parser.parse_args()
    console = Console(width=160)
    task = prepare(DataStore.open(), TaskConfig(label=args.label))
    features = build_item_features(task.catalog)
    plan: list[tuple[ModelConfig, TrainConfig]] = []
    for seed in args.seeds:
        for arch in args.archs:
            losses = args.xp_losses if arch == "xp" else [args.loss]
            for loss in losses:
                plan.append((ModelConfig(arch=arch), TrainConfig(loss=loss, seed=seed)))
    for seed in args.ablation_seeds:
        plan.append((ModelConfig(arch="xp", max_cart=30), TrainConfig(loss="listwise", seed=seed)))
    done = set(saved_runs())
    test_enc = None
    for mcfg, tcfg in plan:
        tcfg = tcfg.model_copy(update={"max_train": args.max_train, "max_minutes": args.max_minutes, "epochs": args.epochs})
        rid = run_id(mcfg, tcfg, task)
        if rid in done:
            continue
        test_enc = test_enc or encode_split(task, "test")
        t = time.perf_counter()
        _, m = train_and_save(task, mcfg, tcfg, features=features, test_enc=test_enc, make_current=False)
        console.print(f"{rid}: test NDCG@4 {m['test']['ndcg@4']:.4f} (best epoch {m['best_epoch']}, "
                      f"{time.perf_counter() - t:.0f} s)")
    if current_run() is None and "xp-listwise-" + args.label + "-c50-s0" in saved_runs():
        set_current("xp-listwise-" + args.label + "-c50-s0")  # serve the paper's model by default
    if args.train_only:
        return
    baselines = baseline_metrics(task)
    runs = saved_runs()
    n = baselines["heuristic"]["carts"]
    show(report.table8(runs, baselines, args.label), f"Table 8: {n:,} test carts (weeks {task.meta['weeks']['test']}), "
         "NDCG and lift % over the heuristic (mean ± sd over seeds)",
         ["model", "loss", "seeds", "NDCG@2", "NDCG@4", "NDCG@6", "lift@2 %", "lift@4 %", "lift@6 %"])
    show(report.table15(runs, baselines, label=args.label), "Table 15: lift % of xp/listwise over the heuristic by cart size",
         ["cart size", "carts", "lift@2 %", "lift@4 %", "lift@6 %"])
    show(report.ablation(runs, label=args.label), "Appendix D: cart context 50 vs 30 items (xp/listwise)",
         ["max cart", "seeds", "NDCG@2", "NDCG@4", "NDCG@6", "change@2 %", "change@4 %", "change@6 %"])
    console.print(f"runs in {models_root()}")


if __name__ == "__main__":
    main()
