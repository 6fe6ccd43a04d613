"""What the results page and `docs/results/groclm.json` say about the language models: the decoding table
(invalid and duplicate lines, list lengths, speed), the training run, and the verdict against the best
baseline at F1@10 with the numbers that explain it. Pure functions over `evaluate.Evaluation`s.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from xpollinate.groclm.baselines import BASELINES

LM_PREFIXES = ("lm_", "groclm")
GIVEN_HALF = ("cooccurrence", "cooc_personal")  # the in-basket baselines (groclm.inbasket)


def is_lm(name: str) -> bool:
    return name.startswith(LM_PREFIXES)


def _sum(per_seed: list[dict[str, Any]], key: str) -> float:
    return float(sum(s[key] for s in per_seed))


def _weighted(per_seed: list[dict[str, Any]], key: str) -> float:
    n = _sum(per_seed, "generated")
    return float(sum(s[key] * s["generated"] for s in per_seed) / n) if n else 0.0


def decoding_row(name: str, per_seed: list[dict[str, Any]]) -> dict[str, Any]:
    """One model's decoding counts over the seeds."""
    lines = max(_sum(per_seed, "lines"), 1.0)
    timed = sum(s["generated"] / max(s["baskets_per_second"], 1e-9) for s in per_seed)
    return {
        "model": name,
        "lists": int(_sum(per_seed, "generated")),
        "lines": int(_sum(per_seed, "lines")),
        "invalid_rate": _sum(per_seed, "invalid") / lines,
        "duplicate_rate": _sum(per_seed, "duplicates") / lines,
        "ended_before_k": int(_sum(per_seed, "stopped_early")),
        "names_per_list": _weighted(per_seed, "names_mean"),
        "new_to_household": _weighted(per_seed, "new_names_share"),
        "s_per_basket_p50": float(np.median([s["seconds_p50"] for s in per_seed])),
        "baskets_per_s": _sum(per_seed, "generated") / timed if timed else 0.0,
        "batch": per_seed[0]["batch_size"],
        "beams": per_seed[0]["beams"],
        "prompt_tokens": _weighted(per_seed, "prompt_tokens_mean"),
        "history_shown": _weighted(per_seed, "history_shown_mean"),
        "history_bought": _weighted(per_seed, "history_bought_mean"),
    }


def decoding_frame(ev: Any) -> pd.DataFrame:
    return pd.DataFrame([decoding_row(name, per) for name, per in ev.info.items()])


def training_frame(config: dict[str, Any]) -> pd.DataFrame:
    """Per stage: steps run of planned, examples seen, tokens, seconds, loss at the first step and over the last 5."""
    rows = []
    for r in config.get("runs", []):
        rows.append(
            {
                "stage": r["name"],
                "steps": f"{r['steps']} of {r['steps_planned']}",
                "examples_seen": f"{r['examples_seen']} of {r['examples']}",
                "tokens": r["tokens"],
                "seconds": r["seconds"],
                "s_per_step": round(r["seconds"] / r["steps"], 1) if r["steps"] else None,
                "loss_first_step": r["loss_first"],
                "loss_last_5_steps": r["loss_last5"],
                "stopped_by_budget": r["stopped_by_budget"],
            }
        )
    return pd.DataFrame(rows)


def best_baseline(summary: dict[str, dict[str, dict[str, Any]]], metric: str) -> tuple[str, float]:
    scored = [(name, summary[name][metric]["mean"]) for name in (*BASELINES, *GIVEN_HALF) if name in summary]
    return max(scored, key=lambda t: t[1])


def verdict(ev: Any, tuned_info: dict[str, Any] | None, metric: str = "f1@10") -> str:
    """The fine-tuned model against the best baseline on the same baskets, and the numbers behind the gap."""
    summary = ev.summary()
    if metric not in ev.metrics():
        metric = f"f1@{max(ev.ks)}"
    if "groclm" not in summary:
        return ""
    name, best = best_baseline(summary, metric)
    ours = summary["groclm"][metric]["mean"]
    ablations = ("groclm_no_stage", "groclm_s2_", "groclm_incontext")  # other adapters, not decodings
    tuned_rows = [n for n in summary if n.startswith("groclm") and "no_trie" not in n and not n.startswith(ablations)]
    top = max(tuned_rows, key=lambda n: summary[n][metric]["mean"])
    gap = best - ours
    rel = gap / best if best else 0.0
    head = (
        f"On these baskets GroCLM (fine-tuned, trie, greedy) scores {metric.upper()} {ours:.3f} against the best "
        f"baseline, {name}, at {best:.3f}: "
        + (
            f"it beats it by {-gap:.3f} ({-rel:.0%})."
            if gap < 0
            else f"it falls short by {gap:.3f} ({rel:.0%} of the baseline)."
        )
    )
    if top != "groclm":
        head += f" Its best decoding, {top}, scores {summary[top][metric]['mean']:.3f}."
    if gap < 0 or "groclm" not in ev.info:
        return head
    row = decoding_row("groclm", ev.info["groclm"])
    k = int(metric.split("@")[1])
    why = [
        f"The model lists {row['names_per_list']:.1f} categories on average before ending its answer (the rest of "
        f"the {k} slots are filled by popularity), {row['new_to_household']:.0%} of them new to the household",
        f"its prompt shows {row['history_shown']:.1f} of the household's {row['history_bought']:.1f} past "
        f"categories ({row['prompt_tokens']:.0f} tokens) while {name} reads the whole history",
    ]
    if tuned_info is not None:
        runs = {r["name"]: r for r in tuned_info["config"].get("runs", [])}
        s2 = runs.get("stage2")
        if s2:
            why.append(
                f"Stage 2 saw {s2['examples_seen']} training baskets in {s2['steps']} steps "
                f"({s2['seconds']:.0f} s; loss {s2['loss_first']} at the first step, {s2['loss_last5']} over the "
                "last 5), a small sample of the training weeks"
            )
    return head + " Why, by the numbers: " + "; ".join(why) + "."


def model_json(
    lm_evaluations: dict[str, Any], evaluations: dict[str, Any], tuned_info: dict[str, Any] | None
) -> dict[str, Any]:
    """groclm.json: per task and model P/R/F1 at each k (mean, sd), invalid and duplicate rates, speed; the
    training run; the full-sample baselines."""
    tasks: dict[str, Any] = {}
    for task, ev in lm_evaluations.items():
        models: dict[str, Any] = {}
        for name, metrics in ev.summary().items():
            entry: dict[str, Any] = {m: {"mean": v["mean"], "sd": v["sd"]} for m, v in metrics.items()}
            if name in ev.info:
                row = decoding_row(name, ev.info[name])
                entry |= {
                    "invalid_rate": row["invalid_rate"],
                    "duplicate_rate": row["duplicate_rate"],
                    "seconds_per_household_p50_batched": row["s_per_basket_p50"],
                    "baskets_per_second_batched": row["baskets_per_s"],
                    "batch_size": row["batch"],
                    "beams": row["beams"],
                    "names_per_list": row["names_per_list"],
                }
            models[name] = entry
        tasks[task] = {
            "subset": {"households_per_seed": ev.config.max_households, "baskets_per_seed": ev.config.max_examples},
            "seeds": list(ev.seeds),
            "models": models,
        }
        metric = "f1@10" if 10 in ev.ks else f"f1@{max(ev.ks)}"
        if "groclm" in ev.summary():
            name, best = best_baseline(ev.summary(), metric)
            tasks[task][f"{metric}_vs_best_baseline"] = {
                "groclm": ev.summary()["groclm"][metric]["mean"],
                "best_baseline": name,
                f"best_baseline_{metric}": best,
            }
    full = {
        task: {
            name: {m: {"mean": v["mean"], "sd": v["sd"]} for m, v in metrics.items()}
            for name, metrics in ev.summary().items()
        }
        for task, ev in evaluations.items()
    }
    out: dict[str, Any] = {"lm_subset": tasks, "baselines_full_sample": full}
    if tuned_info is not None:
        config = tuned_info["config"]
        out["training"] = {
            "adapter": tuned_info["adapter"],
            "train_seconds": config.get("train_seconds"),
            "wall_seconds": config.get("wall_seconds"),
            "stages": [
                {key: r[key] for key in ("name", "steps", "steps_planned", "examples_seen", "tokens", "seconds")}
                | {"loss_first": r["loss_first"], "loss_last5": r["loss_last5"]}
                for r in config.get("runs", [])
            ],
        }
        out["latency"] = {
            "households": len(tuned_info["latency_seconds"]),
            "seconds_per_household_p50_alone": tuned_info["latency_p50"],
            "seconds": tuned_info["latency_seconds"],
        }
    return out
