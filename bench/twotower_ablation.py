"""STARS-style ablation: the full two-tower model and each extension removed, 1 epoch each, same
data and seed; prints markdown tables (scope all and gm). Run under flock /tmp/xp-cpu.lock."""

import time

from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.twotower import TwoTowerConfig
from xpollinate.retrieval.twotower.experiments import ablation

cfg = TwoTowerConfig(epochs=1)
t = time.perf_counter()
res = ablation(DataStore.open(), cfg, progress=None, threads=1)

for scope, rows in res.items():
    print(f"scope {scope}")
    print("| variant | Recall@5 | Recall@10 | Recall@20 | NDCG@10 | Hit@10 | Coverage@10 | train s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, m in rows.items():
        print(
            f"| {name} | {m['Recall@5']:.4f} | {m['Recall@10']:.4f} | {m['Recall@20']:.4f} | {m['NDCG@10']:.4f} | {m['Hit@10']:.4f} | {m['Coverage@10']:.4f} | {m['train_seconds']:.0f} |",
            flush=True,
        )
print("total", time.perf_counter() - t)
