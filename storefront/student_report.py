"""The student-vs-teacher results page (`storefront-student`: md, html, json) and its JSON payload."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from xpollinate.storefront.student_eval import TARGET_SHARE, StudentEval

PAGE = "storefront-student"


def payload(run: StudentEval) -> dict[str, Any]:
    return {
        "summary": run.summary,
        "settings": run.settings,
        "seconds": run.seconds,
        "households": [asdict(h) for h in run.households],
    }


def _fmt(v: Any, digits: int = 3) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def write(run: StudentEval, data: dict[str, Any], folder: Path, commit: str | None) -> Path:
    """The page: what was compared and how, the headline table with the verdict, and each household's pages."""
    from xpollinate.reports import Report, write_page

    s, m = run.settings, run.summary
    t, st = m["teacher"], m["student"]
    rows = []
    for label, key, digits in [
        ("mean judge score, every household (a page without themed placements scores 0)", "judge_mean_all", 4),
        ("mean judge score, pages with themed placements only", "judge_mean", 4),
        ("mean judge score, households where both pages have placements", "judge_mean_paired", 4),
        ("pages with at least one themed placement", "pages_with_placements", 0),
        ("items judged", "judged_items", 0),
        ("LLM placements shown", "placements", 0),
        ("themes answers valid (parsed, k placements, no repeat)", "themes_valid_share", 3),
        ("keywords used", "keywords", 0),
        ("keywords outside the vocabulary", "keywords_outside_vocabulary", 0),
        ("themes + keywords seconds per page (cold)", "generation_seconds_mean", 2),
    ]:
        rows.append({"measure": label, "teacher": _fmt(t[key], digits), "student": _fmt(st[key], digits)})
    table = pd.DataFrame(rows)
    share, ratio = m["judge_share"], m["latency_ratio"]
    verdict = (
        f"Student / teacher mean judge score over every held-out household: {_fmt(share, 3)} (target at least "
        f"{TARGET_SHARE:.2f}): "
        + ("within 10% of the teacher" if m["within_10_percent"] else "NOT within 10% of the teacher")
        + f" (on the {m['paired_households']} households where both pages have placements the share is "
        f"{_fmt(m['judge_share_paired'], 3)}; a student page whose themes answer does not parse falls back to "
        "popularity and has no themed item to judge)"
        + f". Latency ratio (student / teacher themes + keywords seconds per page): {_fmt(ratio, 4)}"
        + (f", i.e. the student is {1 / ratio:.0f}x faster" if ratio else "")
        + f". {m['households']} held-out households: a small sample, so the judge means carry wide error."
    )
    more = m.get("student_validity_more_households")
    if more:
        verdict += (
            f" On {more['households']} more households outside the teacher dataset (student only, no judge): themes "
            f"valid {_fmt(more['themes_valid_share'], 3)}, at least one placement parsed "
            f"{_fmt(more['themes_with_a_placement_share'], 3)}, {more['keywords_outside_vocabulary']} of "
            f"{more['keywords']} keywords outside the vocabulary, {_fmt(more['generation_seconds_mean'], 2)} s per page."
        )
    cfg = s["student_config"]
    ex = cfg.get("examples") or {}
    setup = (
        f"Teacher: {s['teacher']} (its placements@v1 and placement_keywords@v1 answers, collected cold on this "
        f"machine's shared CPU cores). Student: {s['student']}, LoRA (rank {(cfg.get('lora') or {}).get('rank')}) "
        f"trained for {cfg.get('steps')} steps on the teacher's answers for {cfg.get('train_households')} training "
        f"households ({ex.get('themes')} themes and {ex.get('keywords')} keywords examples). Held-out households "
        f"{s['held_out']} (seeded split, seed {s['split_seed']}; never trained on). Each household gets two pages "
        f"through the same pipeline: k={s['k']} placements, up to {s['keywords']} keywords per placement chosen from "
        f"a {s['shortlist']}-name shortlist of the catalog vocabulary (MiniLM, from the placement's title and "
        f"reason), {s['items']} items per placement retrieved and ordered by {s['ranker']}. The teacher writes "
        f"themes and keywords for one page (a JSON-schema enum constrains its keywords), the student for the other "
        f"(themes as 'Title | why' lines, parsed; keywords decoded under a token trie over the same kind of "
        f"shortlist). The judge is the teacher model ({s['judge']}, placement_coherence@v1) on both pages, item "
        f"threshold 0 (nothing dropped): the mean judge score is a page's mean P(yes, the item fits the placement's "
        f"theme) over all its items, averaged over households. Teacher seconds: the cold collection calls (1 themes "
        f"+ k keywords calls per page); student seconds: measured here, model loaded beforehand "
        f"({run.seconds['student load']} s load), one torch thread."
    )
    per = pd.DataFrame(
        [
            {
                "household": h.household_id,
                "teacher judge": _fmt(h.teacher.judge_mean, 3),
                "student judge": _fmt(h.student.judge_mean, 3),
                "teacher s": _fmt(h.teacher.generation_seconds, 1),
                "student s": _fmt(h.student.generation_seconds, 2),
                "student themes valid": "yes" if h.student.themes_valid else "no",
                "teacher titles": " / ".join(h.teacher.titles),
                "student titles": " / ".join(h.student.titles) or "(none: " + "; ".join(h.student.fallbacks)[:80] + ")",
            }
            for h in run.households
        ]
    )
    report = Report(
        "Storefront teacher-student: SmolLM2-135M + LoRA student against its teacher",
        [
            ("Setup", setup, None),
            ("Result", verdict, table),
            ("Per held-out household", "", per),
        ],
        headline=data,
    )
    return write_page(report, folder, PAGE, commit=commit)
