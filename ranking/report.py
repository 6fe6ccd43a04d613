"""Result tables from saved runs: Table 8 (NDCG and lift per variant, mean and spread over
seeds), Table 15 (lift by cart-size bucket) and the 30-vs-50 cart-context ablation.

Lift is computed per seed against the heuristic baseline on the same test carts, then
averaged; the spread is the sample standard deviation over seeds (ddof=1), blank for a
single seed; each row says how many seeds it holds.
"""

from __future__ import annotations

import re
from collections import defaultdict

import numpy as np

from xpollinate.metrics import mean_sd
from xpollinate.ranking.metrics import KS, lift

RUN = re.compile(
    r"^(?P<arch>[a-z]+(?:\+pre)?(?:\+cos|\+wsd)?(?:\+pop)?)-(?P<loss>[a-z]+)-(?P<label>[a-z0-9]+(?:\.ixp)?)-c(?P<cart>\d+)"
    r"-s(?P<seed>\d+)(?:-(?P<recipe>[a-z]+(?:[0-9.]+|all)(?:-[a-z]+(?:[0-9.]+|all))*))?$"
)
NAMES = {
    "deepfm": "DeepFM",
    "identity": "Identity cart encoder",
    "bilstm": "BiLSTM cart encoder",
    "transformer": "Transformer cart encoder",
    "xp": "Transformer + cross-attention (paper)",
}
ORDER = ("deepfm", "identity", "bilstm", "transformer", "xp")
PRIOR = "+pop"  # run-id suffix of the variants with the popularity prior
PRE_NORM = "+pre"  # run-id suffix of a pre-norm cart encoder
COSINE = "+cos"  # run-id suffix of a run trained with the cosine learning-rate schedule
WSD = "+wsd"  # run-id suffix of a run trained with the warm-up-stable-decay schedule
SCHEDULE_TAGS = {"cosine": COSINE, "wsd": WSD}  # the run-id part of each learning-rate schedule (constant: none)


def variant_key(arch: str, recipe: str | None) -> str:
    """A Table 8 row's key: the arch part of the run id, then a space and its recipe if it has one."""
    return f"{arch} {recipe}" if recipe else arch


def display_name(variant: str) -> str:
    """`xp` -> the paper's model; `xp+pop` -> the same with the popularity prior; `xp+pre+pop` -> pre-norm too;
    a recipe (`xp+cos e20-p20`) -> ', recipe e20-p20' (no brackets: Rich would read them as markup)."""
    arch, _, recipe = variant.partition(" ")
    base = arch.removesuffix(PRIOR).removesuffix(COSINE).removesuffix(WSD).removesuffix(PRE_NORM)
    return (
        NAMES.get(base, base)
        + (", pre-norm" if PRE_NORM in arch else "")
        + (", cosine LR" if COSINE in arch else "")
        + (", WSD LR" if WSD in arch else "")
        + (" + popularity prior" if arch.endswith(PRIOR) else "")
        + (f", recipe {recipe}" if recipe else "")
    )


def _fmt(values: list[float], pct: bool = False) -> str:
    mean, sd = mean_sd(values)
    text = f"{mean:+.2f}" if pct else f"{mean:.4f}"
    if len(values) > 1:
        text += f" ± {sd:.2f}" if pct else f" ± {sd:.4f}"
    return text


def group_runs(runs: dict[str, dict], label: str = "basket") -> dict[tuple[str, str, int], list[dict]]:
    groups: dict[tuple[str, str, int], list[dict]] = defaultdict(list)
    for rid, m in runs.items():
        hit = RUN.match(rid)
        if hit and hit["label"] == label:
            key = (variant_key(hit["arch"], hit["recipe"]), hit["loss"], int(hit["cart"]))
            groups[key].append({**m, "_seed": int(hit["seed"])})
    return groups


def table8(runs: dict[str, dict], baselines: dict[str, dict], label: str = "basket") -> list[list[str]]:
    """Rows: model, loss, seeds, NDCG@2/4/6 (mean ± sd), lift % @2/4/6 over the heuristic."""
    base = baselines["heuristic"]
    rows = []
    for name in ("heuristic", "popularity"):
        b = baselines[name]
        rows.append(
            [
                name if name != "heuristic" else "Heuristic (production baseline)",
                "-",
                "-",
                *(f"{b[f'ndcg@{k}']:.4f}" for k in KS),
                *(
                    ("-",) * 3
                    if name == "heuristic"
                    else (f"{lift(b[f'ndcg@{k}'], base[f'ndcg@{k}']):+.2f}" for k in KS)
                ),
            ]
        )
    groups = group_runs(runs, label)
    archs = [a + n + c + p for a in ORDER for n in ("", PRE_NORM) for c in ("", COSINE, WSD) for p in ("", PRIOR)]
    recipes = sorted({key[0].partition(" ")[2] for key in groups})  # '' (the default recipe) first
    variants = [variant_key(a, r) for a in archs for r in recipes]
    for arch in variants:  # each beside its prior twin, recipes after the default one
        for loss in ("pairwise", "listwise"):
            ms = groups.get((arch, loss, 50))
            if not ms:
                continue
            rows.append(
                [
                    display_name(arch),
                    loss,
                    str(len(ms)),
                    *(_fmt([m["test"][f"ndcg@{k}"] for m in ms]) for k in KS),
                    *(_fmt([lift(m["test"][f"ndcg@{k}"], base[f"ndcg@{k}"]) for m in ms], pct=True) for k in KS),
                ]
            )
    return rows


def table15(
    runs: dict[str, dict],
    baselines: dict[str, dict],
    arch: str = "xp+pop",
    loss: str = "listwise",
    label: str = "basket",
) -> list[list[str]]:
    """Lift of one variant over the heuristic per cart-size bucket (context items)."""
    ms = group_runs(runs, label).get((arch, loss, 50), [])
    base = baselines["heuristic"]["by_cart_size"]
    rows = []
    for bucket, b in base.items():
        lifts = {
            k: [
                lift(m["test"]["by_cart_size"][bucket][f"ndcg@{k}"], b[f"ndcg@{k}"])
                for m in ms
                if bucket in m["test"]["by_cart_size"]
            ]
            for k in KS
        }
        if lifts[KS[0]]:
            rows.append([bucket, str(b["carts"]), *(_fmt(lifts[k], pct=True) for k in KS)])
    return rows


def ablation(
    runs: dict[str, dict], arch: str = "xp+pop", loss: str = "listwise", label: str = "basket"
) -> list[list[str]]:
    """NDCG with 30 vs 50 cart items of context; the change in % is against the 50-item runs of the same seeds."""
    groups = group_runs(runs, label)
    rows = []
    full = groups.get((arch, loss, 50), [])
    for cart in (50, 30):
        ms = groups.get((arch, loss, cart), [])
        if not ms:
            continue
        seeds = {m["_seed"] for m in ms}
        same = [m for m in full if m["_seed"] in seeds]  # compare on the same seeds only
        change = (
            ["-"] * 3
            if cart == 50 or not same
            else [
                f"{lift(float(np.mean([m['test'][f'ndcg@{k}'] for m in ms])), float(np.mean([m['test'][f'ndcg@{k}'] for m in same]))):+.2f}"
                for k in KS
            ]
        )
        rows.append([str(cart), str(len(ms)), *(_fmt([m["test"][f"ndcg@{k}"] for m in ms]) for k in KS), *change])
    return rows
