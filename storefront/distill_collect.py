"""Collect the teacher's answers: run the real placements@v1 and placement_keywords@v1 calls per household.

The calls are the page's own (`propose_placements`, the vocabulary shortlist, `placement_keywords`), so the
student learns exactly what the product asks; the judge is skipped (it is not distilled). Held-out households
are collected first: their cold seconds are the teacher's side of the latency comparison.
"""

from __future__ import annotations

from collections.abc import Callable

from xpollinate.storefront.distill_data import (
    CallRecord,
    DistillDataset,
    DistillManifest,
    DistillSplit,
    Split,
    draw_split,
)
from xpollinate.storefront.keywords import placement_keywords
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.page import Storefront
from xpollinate.storefront.placements import propose_placements
from xpollinate.storefront.schemas import PlacementIdea

Progress = Callable[[int, str], None]  # (calls made so far, what is being done)


def eligible_households(sf: Storefront) -> list[int]:
    """Households with at least one basket (a page for the others makes no LLM call)."""
    return sorted(int(h) for h in sf.data.baskets["household_id"].unique())


def plan(
    sf: Storefront, n_train: int, n_test: int, seed: int, k: int, keywords: int, shortlist: int
) -> DistillManifest:
    split: DistillSplit = draw_split(eligible_households(sf), n_train, n_test, seed)
    return DistillManifest(str(sf.llm.spec), k, keywords, shortlist, split, sf.data.build_id)


def collect(
    sf: Storefront, dataset: DistillDataset, manifest: DistillManifest, progress: Progress | None = None
) -> int:
    """Run the teacher for every household of the split not yet in the dataset; the number of new calls."""
    manifest = dataset.start(manifest)
    done = {r.key: r for r in dataset.records()}
    made = 0
    order: list[tuple[int, Split]] = [(h, "test") for h in manifest.split.test]
    order += [(h, "train") for h in manifest.split.train]
    for household, split in order:
        history = sf.data.history(household)
        themes = done.get((household, "themes", 0))
        if themes is None:
            if progress:
                progress(made, f"household {household} ({split}): themes")
            calls: list[LLMCall] = []
            summary = history.summary()
            outcome = propose_placements(sf.llm, summary, None, manifest.k, calls)
            themes = _record(
                household,
                split,
                "themes",
                0,
                {"history": summary, "context": None, "k": manifest.k},
                {"placements": [i.model_dump() for i in outcome.ideas]} if outcome.ideas else None,
                outcome.failure,
                calls[-1],
                {"repeats": outcome.repeats},
            )
            dataset.append(themes)
            made += 1
        if themes.output is None:
            continue
        ideas = [PlacementIdea(**p) for p in themes.output["placements"]]
        shortlists = sf.vocabulary.shortlist([f"{i.title}: {i.why}" for i in ideas], manifest.shortlist)
        for index, (idea, names) in enumerate(zip(ideas, shortlists)):
            if (household, "keywords", index) in done:
                continue
            if progress:
                progress(made, f"household {household} ({split}): keywords {index + 1}/{len(ideas)}")
            calls = []
            kw = placement_keywords(sf.llm, sf.vocabulary, idea, names, None, manifest.keywords, calls)
            dataset.append(
                _record(
                    household,
                    split,
                    "keywords",
                    index,
                    {
                        "title": idea.title,
                        "why": idea.why,
                        "shortlist": names,
                        "context": None,
                        "n": manifest.keywords,
                    },
                    {"keywords": kw.keywords} if kw.keywords else None,
                    kw.failure or (None if kw.keywords else "no keyword inside the vocabulary"),
                    calls[-1],
                    {"outside": kw.outside},
                )
            )
            made += 1
    return made


def _record(
    household: int,
    split: Split,
    task: str,
    index: int,
    inputs: dict,
    output: dict | None,
    failure: str | None,
    call: LLMCall,
    extra: dict,
) -> CallRecord:
    return CallRecord(
        household=household,
        split=split,
        task=task,  # type: ignore[arg-type]
        index=index,
        inputs=inputs,
        output=output,
        ok=output is not None,
        seconds=call.seconds,
        cached=call.cached,
        failure=failure,
        prompt_tokens=call.prompt_tokens,
        generated_tokens=call.generated_tokens,
        extra=extra,
    )
