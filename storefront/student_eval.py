"""Student against teacher on the held-out households: judge scores, constraint validity and latency.

For each held-out household of the teacher dataset, two pages are generated through the real pipeline with
the same options (k placements, keywords, items; the same vocabulary shortlists, retrieval and re-ranker):
one whose themes and keywords the teacher writes (answered from the LLM response cache that the collection
filled: the same calls), one the student writes. The judge (`placement_coherence@v1`) is the TEACHER model on
both, with the item threshold at 0, so no item is dropped and the score is the mean P(fits theme) over every
item shown. Latency is themes + keywords per page: the teacher's from its cold collection calls, the
student's measured here (its model loaded beforehand, no cache involved).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from xpollinate.storefront.distill_data import DistillDataError, DistillDataset
from xpollinate.storefront.model import LLMCall, StorefrontPage
from xpollinate.storefront.page import PageOptions, Storefront
from xpollinate.storefront.student import KEYWORDS_CALL, THEMES_CALL
from xpollinate.storefront.student_format import parse_themes

Progress = Callable[[str, int, int], None]
TARGET_SHARE = 0.9  # the student's mean judge score must be at least 90% of the teacher's


@dataclass
class PageScore:
    """One page's numbers."""

    generator: str
    placements: int  # LLM placements on the page (not the popularity fallback)
    items: int
    judged_items: int
    judge_mean: float | None  # mean P(fits theme) over the judged items
    themes_valid: bool  # themes answer parsed (student) / schema-valid (teacher), exactly k placements
    keywords: int
    keywords_outside: int
    generation_seconds: float | None  # themes + keywords (teacher: cold collection calls)
    titles: list[str] = field(default_factory=list)
    fallbacks: list[str] = field(default_factory=list)


@dataclass
class HouseholdResult:
    household_id: int
    teacher: PageScore
    student: PageScore
    student_answer: str  # the student's raw themes answer


@dataclass
class StudentEval:
    households: list[HouseholdResult]
    settings: dict[str, Any]
    summary: dict[str, Any]
    seconds: dict[str, float]


def eval_options(k: int, keywords: int, items: int) -> PageOptions:
    """The comparison's page: nothing dropped by the judge, so its score covers every item shown."""
    return PageOptions(k=k, keywords=keywords, items=items, threshold=0.0, min_items=1).check()


def _score(page: StorefrontPage, k: int, generator: str, seconds: float | None, themes_valid: bool) -> PageScore:
    llm = [p for p in page.placements if p.source == "llm"]
    judged = [i.coherence for p in llm for i in p.items if i.coherence is not None]
    return PageScore(
        generator=generator,
        placements=len(llm),
        items=sum(len(p.items) for p in llm),
        judged_items=len(judged),
        judge_mean=round(statistics.fmean(judged), 4) if judged else None,
        themes_valid=themes_valid,
        keywords=sum(len(p.keywords) for p in llm),
        keywords_outside=page.provenance.keywords_outside_vocabulary,
        generation_seconds=None if seconds is None else round(seconds, 3),
        titles=[p.title for p in llm],
        fallbacks=list(page.provenance.fallbacks),
    )


def student_validity(
    sf: Storefront, households: list[int], k: int, n: int, shortlist: int, progress: Progress | None = None
) -> dict[str, Any]:
    """The student alone (themes, then keywords under the trie) on more held-out households: how often its
    answers are valid, keywords outside the vocabulary, and its seconds per page. No judge, no retrieval."""
    student, say = sf.student(), progress or (lambda _s, _n, _t: None)
    valid = answered = outside = keywords = 0
    seconds: list[float] = []
    for i, h in enumerate(households):
        calls: list[LLMCall] = []
        themes = student.themes(sf.data.history(h).summary(), None, k, calls)
        parsed = student.last_themes.parsed if student.last_themes else None
        valid += bool(parsed and parsed.valid(k))
        if themes.ideas:
            answered += 1
            shortlists = sf.vocabulary.shortlist([f"{x.title}: {x.why}" for x in themes.ideas], shortlist)
            for kw in student.keywords(sf.vocabulary, themes.ideas, shortlists, None, n, calls):
                outside += len(kw.outside)
                keywords += len(kw.keywords)
        seconds.append(sum(c.seconds for c in calls))
        say("student validity", i + 1, len(households))
    return {
        "households": len(households),
        "themes_valid_share": round(valid / len(households), 4) if households else None,
        "themes_with_a_placement_share": round(answered / len(households), 4) if households else None,
        "keywords": keywords,
        "keywords_outside_vocabulary": outside,
        "generation_seconds_mean": round(statistics.fmean(seconds), 3) if seconds else None,
    }


def validity_households(sf: Storefront, exclude: set[int], n: int, seed: int) -> list[int]:
    """`n` households with history outside the teacher dataset's split (seeded), for the student-only check."""
    import numpy as np

    pool = sorted(int(h) for h in sf.data.baskets["household_id"].unique() if int(h) not in exclude)
    rng = np.random.default_rng([seed, 11])
    return [int(h) for h in rng.choice(pool, size=min(n, len(pool)), replace=False)] if pool else []


def run_student_eval(
    sf: Storefront, dataset: DistillDataset, items: int = 6, extra: int = 0, progress: Progress | None = None
) -> StudentEval:
    manifest = dataset.manifest()
    records = [r for r in dataset.records() if r.split == "test"]
    test = [h for h in manifest.split.test if any(r.household == h and r.task == "themes" for r in records)]
    if not test:
        raise DistillDataError(
            f"no held-out household of {dataset.folder} has teacher answers: run `xp distill collect` first"
        )
    say = progress or (lambda _s, _n, _t: None)
    options = eval_options(manifest.k, manifest.keywords, items)
    started = time.perf_counter()
    student = sf.student()
    load_seconds = time.perf_counter() - started
    results: list[HouseholdResult] = []
    say("held-out households", 0, len(test))
    for n, h in enumerate(test):
        history = sf.data.history(h)
        mine = [r for r in records if r.household == h]
        cold = [r.seconds for r in mine if not r.cached]
        teacher_seconds = sum(cold) if len(cold) == len(mine) else None
        themes_rec = next(r for r in mine if r.task == "themes")
        teacher_page = sf.generate(history, None, options)
        teacher_valid = themes_rec.ok and len((themes_rec.output or {}).get("placements", [])) == manifest.k
        student_page = sf.generate(history, None, PageOptions(**{**asdict(options), "generator": "student"}))
        s_seconds = sum(
            c.seconds for c in student_page.provenance.llm_calls if c.prompt in (THEMES_CALL, KEYWORDS_CALL)
        )
        answer = student.last_themes.text if student.last_themes else ""
        results.append(
            HouseholdResult(
                h,
                _score(teacher_page, manifest.k, "teacher", teacher_seconds, teacher_valid),
                _score(
                    student_page, manifest.k, "student", s_seconds, parse_themes(answer, manifest.k).valid(manifest.k)
                ),
                answer,
            )
        )
        say("held-out households", n + 1, len(test))
    summary = summarise(results)
    if extra > 0:
        others = validity_households(
            sf, set(manifest.split.train) | set(manifest.split.test), extra, manifest.split.seed
        )
        summary["student_validity_more_households"] = student_validity(
            sf, others, manifest.k, manifest.keywords, manifest.shortlist, say
        )
    return StudentEval(
        results,
        {
            "teacher": manifest.teacher,
            "judge": str(sf.llm.spec),
            "student": student.identity(),
            "student_config": {k: student.config.get(k) for k in ("steps", "examples", "train_households", "lora")},
            "k": manifest.k,
            "keywords": manifest.keywords,
            "shortlist": manifest.shortlist,
            "items": items,
            "split_seed": manifest.split.seed,
            "held_out": test,
            "data_build": sf.data.build_id,
            "ranker": sf.order.name,
        },
        summary,
        {"student load": round(load_seconds, 1), "total": round(time.perf_counter() - started, 1)},
    )


def _mean(values: list[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return round(statistics.fmean(got), 4) if got else None


def summarise(results: list[HouseholdResult]) -> dict[str, Any]:
    """Means over the held-out households, validity shares, the latency ratio and the 10% verdict."""
    out: dict[str, Any] = {"households": len(results)}
    paired = [r for r in results if r.teacher.judge_mean is not None and r.student.judge_mean is not None]
    for side in ("teacher", "student"):
        pages = [getattr(r, side) for r in results]
        out[side] = {
            # a page without any LLM placement (the popularity fallback) shows no themed item: it scores 0
            "judge_mean_all": _mean([p.judge_mean if p.judge_mean is not None else 0.0 for p in pages]),
            "judge_mean": _mean([p.judge_mean for p in pages]),
            "judge_mean_paired": _mean([getattr(r, side).judge_mean for r in paired]),
            "pages_with_placements": sum(p.placements > 0 for p in pages),
            "judged_items": sum(p.judged_items for p in pages),
            "placements": sum(p.placements for p in pages),
            "themes_valid_share": round(sum(p.themes_valid for p in pages) / len(pages), 4) if pages else None,
            "keywords": sum(p.keywords for p in pages),
            "keywords_outside_vocabulary": sum(p.keywords_outside for p in pages),
            "generation_seconds_mean": _mean([p.generation_seconds for p in pages]),
        }
    t, s = out["teacher"], out["student"]
    ratio = (
        round(s["generation_seconds_mean"] / t["generation_seconds_mean"], 4)
        if t["generation_seconds_mean"] and s["generation_seconds_mean"] is not None
        else None
    )
    out["latency_ratio"] = ratio
    out["paired_households"] = len(paired)
    out["judge_share"] = (
        round(s["judge_mean_all"] / t["judge_mean_all"], 4)
        if t["judge_mean_all"] and s["judge_mean_all"] is not None
        else None
    )
    out["judge_share_paired"] = (
        round(s["judge_mean_paired"] / t["judge_mean_paired"], 4)
        if t["judge_mean_paired"] and s["judge_mean_paired"] is not None
        else None
    )
    out["within_10_percent"] = bool(out["judge_share"] is not None and out["judge_share"] >= TARGET_SHARE)
    return out
