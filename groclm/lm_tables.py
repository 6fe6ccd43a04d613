"""The results page's paper-shaped tables over the LM subset: Table 2 (main comparison), Table 3
(ablations at equal steps), Table 4 (rebuying cycles in context instead of Stage 1), Figure 4 (Stage-2
data size), Table 5 (in-basket), and what the validation weeks chose. Each GroCLM row names its adapter's
training (Stage-1 and Stage-2 steps, seconds), so rows compared at equal steps can be checked to be so.
Pure functions over `evaluate.Evaluation`s and the adapters' configs."""

from __future__ import annotations

from typing import Any

import pandas as pd

from xpollinate.groclm.baselines import BASELINES
from xpollinate.groclm.lm_report import decoding_row

INBASKET_BASELINES = ("cooccurrence", "cooc_personal")
BLOCK = tuple[str, str, Any]


def _cell(metric: dict[str, Any]) -> str:
    sd = metric["sd"]
    return f"{metric['mean']:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def training_of(config: dict[str, Any] | None) -> dict[str, Any]:
    """Stage-1 and Stage-2 steps (an init adapter's Stage 1 counted), Stage-2 baskets seen, training seconds."""
    if not config:
        return {"stage1_steps": None, "stage2_steps": None, "stage2_baskets": None, "train_s": None}
    runs = {r["name"]: r for r in config.get("runs", [])}
    init = {r["name"]: r for r in (config.get("init_adapter") or {}).get("runs", [])}
    s1 = runs.get("stage1") or init.get("stage1")
    s2 = runs.get("stage2")
    seconds = sum(r["seconds"] for r in runs.values()) + (init["stage1"]["seconds"] if "stage1" in init else 0.0)
    return {
        "stage1_steps": s1["steps"] if s1 else 0,
        "stage2_steps": s2["steps"] if s2 else 0,
        "stage2_baskets": s2["examples_seen"] if s2 else 0,
        "train_s": round(seconds),
    }


def configs_by_row(names: list[str], tuned_info: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """Each row's adapter config: an ablation's own, the main adapter's for its decodings, None otherwise."""
    extra = {a["label"]: a["config"] for a in tuned_info.get("ablations", [])}
    out: dict[str, dict[str, Any] | None] = {}
    for name in names:
        if name in extra:
            out[name] = extra[name]
        elif name.startswith("groclm"):
            out[name] = tuned_info["config"]
        else:
            out[name] = None
    return out


def table(ev: Any, rows: list[str], tuned_info: dict[str, Any], decoding: bool = False) -> pd.DataFrame:
    """P/R/F1@10 and F1 at every k per row present, each LM row with its adapter's training and (optionally)
    its decoding counts."""
    summary = ev.summary()
    present = [r for r in dict.fromkeys(rows) if r in summary]  # each row once, in order
    configs = configs_by_row(present, tuned_info)
    out = []
    for name in present:
        m = summary[name]
        row: dict[str, Any] = {"model": name}
        row |= {key: _cell(m[key]) for key in ("p@10", "r@10") if key in m}
        row |= {f"f1@{k}": _cell(m[f"f1@{k}"]) for k in ev.ks}
        row |= training_of(configs[name]) if name.startswith("groclm") else {}
        if decoding and name in ev.info:
            d = decoding_row(name, ev.info[name])
            row |= {
                "names_per_list": round(d["names_per_list"], 2),
                "invalid_rate": round(d["invalid_rate"], 3),
                "duplicate_rate": round(d["duplicate_rate"], 3),
                "history_shown": round(d["history_shown"], 1),
                "prompt_tokens": round(d["prompt_tokens"], 1),
            }
        out.append(row)
    return _no_float_counts(pd.DataFrame(out))


def _no_float_counts(frame: pd.DataFrame) -> pd.DataFrame:
    """Step and second counts as integers ('-' where a row has none), not floats widened by the gaps."""
    for col in ("stage1_steps", "stage2_steps", "stage2_baskets", "train_s"):
        if col in frame:
            frame[col] = [("-" if v is None or v != v else str(int(v))) for v in frame[col]]
    return frame


def _f1(ev: Any, name: str, metric: str = "f1@10") -> float:
    return float(ev.summary()[name][metric]["mean"])


def comparison(ev: Any, groclm_rows: list[str], baselines: tuple[str, ...], metric: str = "f1@10") -> str:
    """The best GroCLM row against the best baseline, in numbers."""
    summary = ev.summary()
    ours = [r for r in groclm_rows if r in summary]
    theirs = [b for b in baselines if b in summary]
    if not ours or not theirs:
        return ""
    top = max(ours, key=lambda r: _f1(ev, r, metric))
    best = max(theirs, key=lambda b: _f1(ev, b, metric))
    a, b = _f1(ev, top, metric), _f1(ev, best, metric)
    verb = f"beats it by {a - b:.3f}" if a > b else f"falls short by {b - a:.3f} ({(b - a) / b:.0%})"
    return (
        f"The best GroCLM row, {top}, scores {metric.upper()} {a:.3f}; the best baseline, {best}, {b:.3f}: "
        f"GroCLM {verb}."
    )


def paper_blocks(lm_evaluations: dict[str, Any], tuned_info: dict[str, Any], validation: dict[str, Any]) -> list[BLOCK]:
    """The paper-shaped blocks for the tasks evaluated."""
    blocks: list[BLOCK] = []
    ev = lm_evaluations.get("next")
    chosen = (validation.get("decoding") or {}).get("chosen")
    if ev is not None:
        summary = ev.summary()
        lm_rows = ["lm_trie", "groclm", "groclm_restock", *([chosen] if chosen else [])]
        lm_rows += [n for n in summary if n.startswith("groclm_min") and n not in lm_rows]
        text = (
            "The main comparison on the LM subset (the same baskets for every row): the baselines, the untuned "
            "SmolLM2 with the trie (lm_trie, the paper's AS1), GroCLM (both LoRA stages, greedy, trie), its "
            "restock decoding and the decoding chosen on the validation weeks"
            + (f" ({chosen})" if chosen else "")
            + ". stage1_steps/stage2_steps/train_s: the adapter's training. "
            + comparison(ev, [r for r in lm_rows if r.startswith("groclm")], BASELINES)
        )
        blocks.append(("Table 2: next basket, main comparison", text, table(ev, [*BASELINES, *lm_rows], tuned_info)))
        twin1 = equal_steps(ev, "groclm_no_stage1", tuned_info)
        rows3 = ["groclm", *([twin1] if twin1 and twin1 != "groclm" else []), "groclm_no_stage1"]
        rows3 += ["groclm_no_stage2", "groclm_no_trie"]
        text3 = (
            "Ablations at equal steps: groclm_no_stage2 is the full model's own Stage-1 adapter (no Stage-2 "
            "step); groclm_no_stage1 trains Stage 2 alone (the same baskets in the same order) and is compared with "
            "the full run at the same number of Stage-2 steps"
            + (f" ({twin1})" if twin1 else "")
            + "; groclm_no_trie decodes groclm's adapter as free text (invalid and duplicate lines counted). "
        )
        if twin1:
            d = _f1(ev, twin1) - _f1(ev, "groclm_no_stage1")
            text3 += f"Stage 1 changes F1@10 by {d:+.3f} at equal Stage-2 steps. "
        if "groclm_no_stage2" in summary:
            text3 += (
                f"Without Stage 2 the model lists "
                f"{decoding_row('groclm_no_stage2', ev.info['groclm_no_stage2'])['names_per_list']:.1f} names per "
                f"list and scores F1@10 {_f1(ev, 'groclm_no_stage2'):.3f}."
            )
        blocks.append(("Table 3: ablations (equal steps)", text3, table(ev, rows3, tuned_info, decoding=True)))
        twin4 = equal_steps(ev, "groclm_incontext", tuned_info)
        if "groclm_incontext" in summary and twin4:
            d = _f1(ev, "groclm_incontext") - _f1(ev, twin4)
            text4 = (
                "Rebuying cycles in context instead of Stage 1: groclm_incontext's prompt states each shown "
                "category's cycle (mean ± sd days, training weeks) beside its count and recency, and is trained "
                f"on Stage 2 alone; {twin4} is Stage 1 + the plain prompt at the same Stage-2 steps (the same "
                "baskets in the same order). The cycles take room in the same prompt budget (256 tokens), so fewer "
                "categories are shown (history_shown). "
                f"In-context cycles change F1@10 by {d:+.3f} against Stage 1 at equal steps."
            )
            rows4 = [twin4, "groclm_incontext"] + (["groclm"] if twin4 != "groclm" else [])
            blocks.append(("Table 4: in-context rebuying statistics", text4, table(ev, rows4, tuned_info, True)))
        blocks.append(figure4_block(ev, tuned_info))
    ev5 = lm_evaluations.get("inbasket")
    if ev5 is not None:
        rows5 = [*BASELINES, *INBASKET_BASELINES, *[n for n in ev5.summary() if n.startswith(("lm_", "groclm"))]]
        text5 = (
            "In-basket (Appendix A): half the basket's items given, predict the other half's categories. "
            "cooccurrence: mean P(c | given category) over the training weeks; cooc_personal adds the household's "
            "own rate of c (weight chosen on the validation weeks); GroCLM's prompt states the given categories "
            "(the next-basket adapter, not trained on this task). "
            + comparison(ev5, [n for n in ev5.summary() if n.startswith("groclm")], (*BASELINES, *INBASKET_BASELINES))
        )
        blocks.append(("Table 5: in-basket", text5, table(ev5, rows5, tuned_info)))
    if validation:
        blocks += validation_blocks(validation)
    return blocks


def equal_steps(ev: Any, name: str, tuned_info: dict[str, Any]) -> str | None:
    """The full run's row (Stage 1 + plain prompt: groclm or a groclm_s2_N snapshot) with as many Stage-2
    steps as `name`, or None."""
    summary = ev.summary()
    if name not in summary:
        return None
    candidates = ["groclm", *(n for n in summary if n.startswith("groclm_s2_"))]
    configs = configs_by_row([n for n in [*candidates, name] if n in summary], tuned_info)
    steps = training_of(configs[name])["stage2_steps"]
    return next((c for c in candidates if c in configs and training_of(configs[c])["stage2_steps"] == steps), None)


def figure4_block(ev: Any, tuned_info: dict[str, Any]) -> BLOCK:
    """F1@10 against the Stage-2 baskets seen, every point from the same Stage-1 adapter."""
    summary = ev.summary()
    names = ["groclm_no_stage2", *sorted((n for n in summary if n.startswith("groclm_s2_")), key=lambda n: int(n[10:]))]
    names.append("groclm")
    configs = configs_by_row([n for n in names if n in summary], tuned_info)
    rows = []
    for name, config in configs.items():
        rows.append({"model": name, **training_of(config), "f1@10": _cell(summary[name]["f1@10"])})
    frame = pd.DataFrame(rows).sort_values("stage2_steps", kind="stable") if rows else pd.DataFrame()
    steps = ", ".join(str(v) for v in frame["stage2_steps"]) if len(frame) else "no"
    text = (
        f"Stage-2 data size: F1@10 after {steps} Stage-2 steps of 8 baskets, on the same test baskets (0: the "
        "Stage-1 adapter). Snapshots of one training run (`--save-stage1 --save-steps`) share its Stage 1, and "
        "each size's baskets hold the smaller sizes' (one seeded order)."
    )
    return ("Figure 4: Stage-2 training baskets", text, frame)


def validation_blocks(validation: dict[str, Any]) -> list[BLOCK]:
    blocks: list[BLOCK] = []
    chosen = validation.get("chosen")
    if chosen:
        tifu = pd.DataFrame(validation["tifu_knn"]).sort_values("f1@10", ascending=False, kind="stable")
        t = chosen["tifu_knn"]
        text = (
            "TIFU-KNN's parameters chosen on the validation weeks (next basket, first seed, the evaluation's "
            f"household sample): {t['neighbours']} neighbours, alpha {t['alpha']}, r_b {t['within_decay']}, r_g "
            f"{t['group_decay']}, {t['groups']} groups; cooc_personal's weight: {chosen['cooc_personal_weight']:g} "
            "(in-basket, validation weeks). The grid, best first:"
        )
        blocks.append(("Validation: baselines", text, tifu.round(4)))
        blocks.append(("Validation: cooc_personal weight", "", pd.DataFrame(validation["cooc_personal"]).round(4)))
    dec = validation.get("decoding")
    if dec:
        ev = dec["evaluation"]
        rows = [n for n in ev.summary() if n.startswith("groclm")]
        text = (
            f"GroCLM's decoding chosen on the validation weeks' LM subset ({ev.config.max_households} households, "
            f"at most {ev.config.max_examples} baskets per seed, seeds {', '.join(map(str, ev.seeds))}): _minM "
            "keeps the list open until M names (the trie's end token is masked before), _restock lists only the "
            f"household's past categories. Chosen by F1@10: {dec['chosen']}."
        )
        blocks.append(("Validation: decoding", text, table(ev, [*BASELINES, *rows], {"config": {}}, decoding=True)))
    return blocks


def validation_json(validation: dict[str, Any]) -> dict[str, Any]:
    """The validation choices for the page's JSON (the decoding grid as F1@10 per row)."""
    out = {k: v for k, v in validation.items() if k != "decoding"}
    dec = validation.get("decoding")
    if dec:
        summary = dec["evaluation"].summary()
        out["decoding"] = {
            "chosen": dec["chosen"],
            "f1@10": {n: summary[n]["f1@10"]["mean"] for n in summary},
        }
    return out
