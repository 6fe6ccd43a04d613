"""The user-narration experiment's results page (`experiment-narration`: md, html, json) and JSON payload."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.storefront.narration import (
    LLM_METHOD,
    PROFILE_MAX_CHARS,
    TEMPLATE_METHOD,
    TOWER_METHOD,
    K,
    NarrationRun,
)

PAGE = "experiment-narration"
EXAMPLES = 3  # households whose profiles are quoted on the page


def payload(run: NarrationRun) -> dict[str, Any]:
    secs = run.llm_seconds
    return {
        "metrics": {m: {k: round(v, 4) for k, v in row.items()} for m, row in run.metrics.items()},
        "settings": run.settings,
        "llm_seconds_per_household": {
            "mean": round(float(np.mean(secs)), 2) if secs else None,
            "median": round(float(np.median(secs)), 2) if secs else None,
            "max": round(float(np.max(secs)), 2) if secs else None,
        },
        "llm_cache_hits": run.cache_hits,
        "llm_failures": run.failures,
        "seconds": {k: round(v, 1) for k, v in run.timings.items()},
        "profiles": [
            {"household_id": h.household_id, "llm": h.llm_profile, "template": h.template, "failure": h.llm_failure}
            for h in run.households
        ],
    }


def write(run: NarrationRun, data: dict[str, Any], folder: Path, commit: str | None) -> Path:
    """The page: setup, the metrics table with a verdict in words, timing, and a few profiles quoted."""
    from xpollinate.reports import Report, write_page

    s = run.settings
    cp = f"category precision@{K}"
    table = pd.DataFrame([{"method": m, **{c: round(v, 4) for c, v in row.items()}} for m, row in run.metrics.items()])
    llm, tpl, tower = run.metrics[LLM_METHOD], run.metrics[TEMPLATE_METHOD], run.metrics[TOWER_METHOD]
    best = max(run.metrics, key=lambda m: run.metrics[m][cp])

    def cmp(a: float, b: float) -> str:
        return f"{a:.3f} vs {b:.3f} ({'above' if a > b else 'below' if a < b else 'level with'} it by {abs(a - b):.3f})"

    verdict = (
        f"LLM narration against the trained user tower, {cp}: {cmp(llm[cp], tower[cp])}; Recall@{K}: "
        f"{cmp(llm[f'Recall@{K}'], tower[f'Recall@{K}'])}. Against the template profile (the same text route "
        f"without an LLM), {cp}: {cmp(llm[cp], tpl[cp])}. "
        + (
            "The zero-shot profile does not replace the trained tower on this sample."
            if llm[cp] < tower[cp]
            else "The zero-shot profile matches or beats the trained tower on category precision on this sample."
        )
        + f" Highest {cp}: {best} ({run.metrics[best][cp]:.3f}). A household buys "
        f"{s['mean_target_categories']:.0f} categories in the held-out weeks on average, so lists of common "
        f"categories score well on {cp}; Recall@{K} asks for the very items."
    )
    setup = (
        f"Data build {s['data_build']}. {s['households']} households sampled with seed {s['seed']} from the "
        f"{s['households_eligible']:,} with baskets both before and in the held-out weeks {s['test_weeks']} (the "
        f"two-tower split). Input: every basket before those weeks; the LLM ({s['llm']}, prompt {s['prompt']}) sees "
        f"the storefront's summary of the last 20 of them (up to 12 product types with how many baskets held them "
        f"and how long ago), and writes a profile of at most {PROFILE_MAX_CHARS} characters (schema-bounded). The "
        f"template profile names the household's top 8 categories in the same 20 baskets in one sentence. Both are "
        f"embedded with MiniLM and searched exactly over the {s['catalog_texts']:,} distinct item texts (the catalog "
        f"index's text recipe) of the {s['catalog_items']:,} shown items (sold, not excluded); a text's items follow "
        f"each other, most purchased first. The user tower: the model in use, as of the week before the held-out "
        f"weeks, over the same items; previous purchases (most often bought first) and popularity likewise. Targets: "
        f"every item bought in the held-out weeks ({s['mean_target_items']:.0f} distinct items and "
        f"{s['mean_target_categories']:.0f} categories per household on average). {cp}: the share of the {K} slots "
        f"whose item's category the household buys in the held-out weeks."
    )
    secs = run.llm_seconds
    timing = pd.DataFrame(
        [{"stage": k, "seconds": f"{v:.1f}"} for k, v in run.timings.items()]
        + [
            {
                "stage": "LLM seconds per household (mean / median / max)",
                "seconds": f"{np.mean(secs):.1f} / {np.median(secs):.1f} / {np.max(secs):.1f}" if secs else "-",
            },
            {"stage": "LLM response-cache hits / failed calls", "seconds": f"{run.cache_hits} / {run.failures}"},
        ]
    )
    examples = pd.DataFrame(
        [
            {
                "household": h.household_id,
                "LLM profile": h.llm_profile or f"(none: {h.llm_failure})",
                "template profile": h.template,
                f"slots in a target category (LLM / template / tower, of {K})": (
                    f"{h.category_hits.get(LLM_METHOD, 0)} / {h.category_hits.get(TEMPLATE_METHOD, 0)} / "
                    f"{h.category_hits.get(TOWER_METHOD, 0)}"
                ),
            }
            for h in run.households[:EXAMPLES]
        ]
    )
    report = Report(
        "Experiment 2: user narration (zero-shot text profile -> retrieval) against the trained user tower",
        [
            ("Held-out weeks", f"{setup}\n\n{verdict}", table),
            ("Time (2 shared cores, one torch thread)", "The LLM's first call includes loading the model.", timing),
            (f"Profiles of the first {min(EXAMPLES, len(run.households))} households", "", examples),
        ],
        headline=data,
    )
    return write_page(report, folder, PAGE, commit=commit)
