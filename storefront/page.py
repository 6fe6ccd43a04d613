"""The storefront pipeline: household -> placement themes -> constrained keywords -> retrieval -> filtering.

    sf = Storefront.open()                       # data store, LLM (XP_LLM / config / local), page cache
    page = sf.page(1234, context="hosting a barbecue")

Stages (the cascaded generative storefront): the LLM proposes k themed placements from the household's
recent baskets (`placements`), then keywords per placement decoded under an enum over a shortlist of the
catalog vocabulary (`keywords`), which retrieve items ordered by the learned re-ranker when trained, else
by the household's own purchases and popularity (`retrieval`, `ordering`), deduplicated across the page;
a judge first drops themes that are unsafe or irrelevant for the household (`placement_review`), then
items and placements that do not fit their theme (`coherence`), with reasons; optionally
the LLM re-ranker re-orders each placement for the context. Every fallback is recorded in the page's
provenance. Finished pages are kept in a page cache and served from it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from xpollinate.catalog.store import DataStore
from xpollinate.llm import LLM, get_llm
from xpollinate.storefront import coherence, keywords, llm_reranker, placement_review, placements
from xpollinate.storefront.coherence import ITEM_THRESHOLD, MIN_ITEMS, judge_items
from xpollinate.storefront.data import HouseholdHistory, StorefrontData
from xpollinate.storefront.errors import StorefrontError, check_context
from xpollinate.storefront.keywords import DEFAULT_KEYWORDS, KeywordsOutcome, placement_keywords
from xpollinate.storefront.llm_reranker import Candidate, llm_rerank
from xpollinate.storefront.model import (
    PAGE_VERSION,
    Dropped,
    LLMCall,
    PageItem,
    Placement,
    Provenance,
    StorefrontPage,
)
from xpollinate.storefront.ordering import ItemOrder, item_order
from xpollinate.storefront.page_cache import PageCache, page_key, pages_dir
from xpollinate.storefront.placement_review import REVIEW_THRESHOLD, review_placements
from xpollinate.storefront.placements import DEFAULT_K, propose_placements
from xpollinate.storefront.retrieval import retrieve
from xpollinate.storefront.schemas import PlacementIdea
from xpollinate.storefront.vocabulary import SHORTLIST, StorefrontVocabulary

if TYPE_CHECKING:
    from xpollinate.storefront.student import Student

PROMPTS = (placements.PROMPT, placement_review.PROMPT, keywords.PROMPT, coherence.PROMPT, llm_reranker.PROMPT)
DEFAULT_ITEMS = 6
SPARE = 2  # items retrieved beyond the placement's size, so the filter can drop some
POPULAR_TITLE = "Popular right now"


@dataclass(frozen=True)
class PageOptions:
    k: int = DEFAULT_K  # placements asked for
    keywords: int = DEFAULT_KEYWORDS  # keywords per placement
    items: int = DEFAULT_ITEMS  # items per placement
    shortlist: int = SHORTLIST  # vocabulary names offered per placement
    threshold: float = ITEM_THRESHOLD  # judge P(yes) below which an item is dropped
    min_items: int = MIN_ITEMS  # a placement with fewer kept items is dropped
    llm_rerank: bool = False  # re-order each placement's kept items with the LLM re-ranker
    review: bool = True  # drop unsafe or irrelevant themes before their keywords (placement_review@v1)
    review_threshold: float = REVIEW_THRESHOLD  # the review's P(yes) below which a theme is dropped
    generator: Literal["teacher", "student"] = "teacher"  # themes and keywords: the LLM, or the distilled student

    def check(self) -> PageOptions:
        limits = {"k": (1, 12), "keywords": (1, 10), "items": (1, 30), "shortlist": (2, 200), "min_items": (1, 30)}
        for name, (lo, hi) in limits.items():
            value = getattr(self, name)
            if not lo <= value <= hi:
                raise StorefrontError(f"{name} = {value}: choose {lo} to {hi}")
        for name in ("threshold", "review_threshold"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise StorefrontError(f"{name} = {getattr(self, name)}: choose 0 to 1")
        if self.generator not in ("teacher", "student"):
            raise StorefrontError(f"generator = {self.generator!r}: choose teacher or student")
        if self.min_items > self.items:
            raise StorefrontError(f"min_items ({self.min_items}) cannot exceed items ({self.items})")
        return self


class Storefront:
    """One process's storefront: data read once, vocabulary built on the first page generated."""

    def __init__(
        self,
        data: StorefrontData,
        llm: LLM,
        cache: PageCache | None = None,
        order: ItemOrder | None = None,
        vocabulary: Callable[[], StorefrontVocabulary] | None = None,
    ) -> None:
        self.data = data
        self.llm = llm
        self.cache = cache
        self.order = order or item_order(data.items)
        self._make_vocabulary = vocabulary or (lambda: StorefrontVocabulary.build(data))
        self._vocabulary: StorefrontVocabulary | None = None
        self.student_home: Path | None = None  # where the student adapter is found (None: the run directory)
        self._student: Student | None = None

    @classmethod
    def open(cls, home: Path | None = None, llm: LLM | str | None = None, cache: bool = True) -> Storefront:
        """From the run directory's data store; `llm` a model or spec (default: XP_LLM, config, local)."""
        store = DataStore.open(home)
        model = llm if isinstance(llm, LLM) else get_llm(llm)
        folder = (home / "index" / "embeddings") if home else None
        data = StorefrontData.from_store(store)
        sf = cls(
            data,
            model,
            PageCache(pages_dir(home)) if cache else None,
            order=item_order(data.items, store, home),
            vocabulary=lambda: StorefrontVocabulary.build(data, folder=folder),
        )
        sf.student_home = home
        return sf

    def student(self) -> Student:
        """The distilled student (loaded on first use, reloaded when CURRENT moves); an error when none is trained."""
        from xpollinate.storefront.student import Student, find_adapter

        folder = find_adapter(self.student_home)
        if self._student is None or self._student.folder != folder:
            self._student = Student.load(path=folder)
        return self._student

    @property
    def vocabulary(self) -> StorefrontVocabulary:
        if self._vocabulary is None:
            self._vocabulary = self._make_vocabulary()
        return self._vocabulary

    def key(self, household_id: int, context: str | None, options: PageOptions) -> str:
        """The page cache key (see `page_cache`)."""
        registry = self.llm.registry
        parts = {
            "version": PAGE_VERSION,
            "household": household_id,
            "context": context,
            "options": {k: v for k, v in asdict(options).items() if k != "generator"},
            "llm": self.llm.identity(),
            "prompts": {ref: registry.get(ref).sha256 for ref in PROMPTS},
            "data": self.data.build_id,
            "ranker": self.order.name,
        }
        if options.generator == "student":  # a student page never shares a key with a teacher page
            from xpollinate.storefront.student import adapter_id, find_adapter

            parts["student"] = adapter_id(find_adapter(self.student_home))
        return page_key(parts)

    def cached(self, household_id: int, context: str | None = None, options: PageOptions | None = None) -> dict | None:
        """The cached page as JSON-able data (no validation: the HTTP hot path), None on a miss; bad input raises."""
        context = check_context(context)
        options = (options or PageOptions()).check()
        self.data.history(household_id)  # an unknown household is an error even when nothing is cached
        if self.cache is None:
            return None
        raw = self.cache.get_raw(self.key(household_id, context, options))
        if raw is not None:
            raw = {**raw, "provenance": {**raw["provenance"], "served_from_page_cache": True}}
        return raw

    def page(
        self,
        household_id: int,
        context: str | None = None,
        options: PageOptions | None = None,
        refresh: bool = False,
    ) -> StorefrontPage:
        """The household's page: from the page cache unless `refresh`, else generated and cached."""
        context = check_context(context)
        options = (options or PageOptions()).check()
        history = self.data.history(household_id)
        key = self.key(household_id, context, options)
        if self.cache is not None and not refresh:
            hit = self.cache.get(key)
            if hit is not None:
                hit.provenance.served_from_page_cache = True
                return hit
        page = self.generate(history, context, options)
        if self.cache is not None:
            self.cache.set(key, page)
        return page

    # -- the pipeline ------------------------------------------------------------------------

    def generate(self, history: HouseholdHistory, context: str | None, options: PageOptions) -> StorefrontPage:
        started = time.perf_counter()
        self.order.errors.clear()
        calls: list[LLMCall] = []
        dropped: list[Dropped] = []
        fallbacks: list[str] = []
        outside = hallucinated = 0
        summary = history.summary()
        shown: list[Placement] = []
        if history.empty:
            fallbacks.append("empty history: the page is one popularity placement (no LLM call)")
        else:
            if options.generator == "student":
                themes = self.student().themes(summary, context, options.k, calls)
            else:
                themes = propose_placements(self.llm, summary, context, options.k, calls)
            if themes.failure:
                fallbacks.append(f"no placement themes ({themes.failure}): the page is one popularity placement")
            for _ in range(themes.repeats):
                dropped.append(Dropped(kind="placement", placement="", reason="repeats an earlier placement's title"))
            ideas, reviews = self._review(themes.ideas, summary, context, options, calls, dropped, fallbacks)
            if ideas:
                shown, outside, hallucinated = self._fill(
                    history, ideas, reviews, context, options, calls, dropped, fallbacks
                )
            if themes.ideas and not shown:
                fallbacks.append("every placement was dropped: the page is one popularity placement")
        if not shown:
            shown = [self._popular(history, options)]
        fallbacks += [f"{e}: fallback order used" for e in dict.fromkeys(self.order.errors)]
        provenance = Provenance(
            page_version=PAGE_VERSION,
            data_build=self.data.build_id,
            llm=str(self.llm.spec),
            prompts=dict(sorted({c.prompt: c.prompt_sha256 for c in calls if c.prompt_sha256}.items())),
            generator=options.generator,
            student=self._student.identity() if options.generator == "student" and self._student else None,
            ranker=self.order.name,
            ranker_note=self.order.note,
            llm_calls=calls,
            cache_hits=sum(c.cached for c in calls),
            fallbacks=fallbacks,
            keywords_outside_vocabulary=outside,
            hallucinated_ids=hallucinated,
            seconds=round(time.perf_counter() - started, 3),
        )
        return StorefrontPage(
            household_id=history.household_id,
            context=context,
            placements=shown,
            dropped=dropped,
            history_summary=summary,
            provenance=provenance,
        )

    def _review(
        self,
        ideas: list[PlacementIdea],
        summary: list[str],
        context: str | None,
        options: PageOptions,
        calls: list[LLMCall],
        dropped: list[Dropped],
        fallbacks: list[str],
    ) -> tuple[list[PlacementIdea], dict[str, float]]:
        """The themes the safety and relevance judge keeps (the teacher LLM judges, whoever generated them) and
        its P(yes) per kept title."""
        if not ideas or not options.review:
            return ideas, {}
        reviewed = review_placements(self.llm, ideas, summary, context, options.review_threshold, calls)
        if reviewed.failure:
            fallbacks.append(f"placements not reviewed ({reviewed.failure})")
        for idea, p in reviewed.rejected:
            reason = f"judge P(safe and relevant) {p:.2f} < {options.review_threshold:g}"
            dropped.append(Dropped(kind="placement", placement=idea.title, reason=reason))
        p_yes = reviewed.p_yes or []
        return reviewed.kept, {i.title: p for i, p in zip(ideas, p_yes) if p >= options.review_threshold}

    def _fill(
        self,
        history: HouseholdHistory,
        ideas: list[PlacementIdea],
        reviews: dict[str, float],
        context: str | None,
        options: PageOptions,
        calls: list[LLMCall],
        dropped: list[Dropped],
        fallbacks: list[str],
    ) -> tuple[list[Placement], int, int]:
        """Keywords, items and the judge's filter for each idea, in order; (placements kept, keywords outside the
        vocabulary, hallucinated re-ranker ids). A keyword is used by one placement only: later placements are
        offered the shortlist without the earlier ones' keywords, and a repeat that still comes back is dropped
        (unless it is the placement's only keyword), so the page's carousels show different product types."""
        vocab = self.vocabulary
        shortlists = vocab.shortlist([f"{i.title}: {i.why}" for i in ideas], options.shortlist)
        taken: set[int] = set()
        kept: list[Placement] = []
        outside = hallucinated = 0
        items = self.data.items
        by_student = (
            self.student().keywords(vocab, ideas, shortlists, context, options.keywords, calls)
            if options.generator == "student"
            else None
        )
        used: dict[str, str] = {}  # keyword -> the placement that took it
        for n, (idea, shortlist) in enumerate(zip(ideas, shortlists)):
            fresh = [name for name in shortlist if name not in used]
            kw = (
                by_student[n]
                if by_student is not None
                else placement_keywords(
                    self.llm, vocab, idea, fresh if len(fresh) >= 2 else shortlist, context, options.keywords, calls
                )
            )
            kw = _without_repeats(kw, used, idea.title, dropped)
            outside += len(kw.outside)
            for name in kw.outside:
                dropped.append(
                    Dropped(kind="keyword", placement=idea.title, reason=f"{name!r} is not in the vocabulary")
                )
            if not kw.keywords:
                dropped.append(Dropped(kind="placement", placement=idea.title, reason=kw.failure or "no keyword"))
                continue
            found = retrieve(
                self.data,
                self.order,
                history.household_id,
                history.bought,
                kw.keywords,
                kw.product_types,
                options.items + SPARE,
                taken,
            )
            if not found:
                dropped.append(
                    Dropped(kind="placement", placement=idea.title, reason="its keywords retrieved no new item")
                )
                continue
            judged = judge_items(self.llm, idea, [str(items.at[f.item_id, "text"]) for f in found], calls)
            if judged.p_yes is None:
                fallbacks.append(f"{idea.title!r}: not filtered ({judged.failure})")
            p_yes: list[float | None] = list(judged.p_yes) if judged.p_yes is not None else [None] * len(found)
            chosen: list[PageItem] = []
            for f, p in zip(found, p_yes):
                if p is not None and p < options.threshold:
                    dropped.append(
                        Dropped(
                            kind="item",
                            placement=idea.title,
                            item_id=f.item_id,
                            reason=f"judge P(fits theme) {p:.2f} < {options.threshold:g}",
                        )
                    )
                    continue
                if len(chosen) < options.items:
                    chosen.append(
                        PageItem(
                            item_id=f.item_id,
                            text=str(items.at[f.item_id, "text"]),
                            product_type=f.product_type,
                            keyword=f.keyword,
                            score=round(f.score, 6),
                            coherence=None if p is None else round(p, 4),
                            bought_before=history.bought.get(f.item_id, 0),
                        )
                    )
            if len(chosen) < options.min_items:
                dropped.append(
                    Dropped(
                        kind="placement",
                        placement=idea.title,
                        reason=f"{len(chosen)} items passed the judge; a placement needs {options.min_items}",
                    )
                )
                continue
            if options.llm_rerank:
                chosen, missed = self._llm_order(chosen, history, context, calls, fallbacks, idea.title)
                hallucinated += missed
            taken.update(c.item_id for c in chosen)
            used.update((k, idea.title) for k in kw.keywords)
            scores = [c.coherence for c in chosen if c.coherence is not None]
            kept.append(
                Placement(
                    title=idea.title,
                    why=idea.why,
                    keywords=kw.keywords,
                    items=chosen,
                    coherence=round(sum(scores) / len(scores), 4) if scores else None,
                    review=round(reviews[idea.title], 4) if idea.title in reviews else None,
                )
            )
        return kept, outside, hallucinated

    def _llm_order(
        self,
        chosen: list[PageItem],
        history: HouseholdHistory,
        context: str | None,
        calls: list[LLMCall],
        fallbacks: list[str],
        title: str,
    ) -> tuple[list[PageItem], int]:
        outcome = llm_rerank(self.llm, [Candidate(c.item_id, c.text) for c in chosen], history.summary(), context)
        calls.extend(outcome.calls)
        if outcome.fallback:
            fallbacks.append(f"{title!r}: {outcome.fallback}")
        by_id = {c.item_id: c for c in chosen}
        return [by_id[i] for i in outcome.order], len(outcome.hallucinated)

    def _popular(self, history: HouseholdHistory, options: PageOptions) -> Placement:
        items = self.data.items
        ids = self.data.popular(options.items)
        return Placement(
            title=POPULAR_TITLE,
            why="the catalog's most purchased items",
            keywords=[],
            items=[
                PageItem(
                    item_id=i,
                    text=str(items.at[i, "text"]),
                    product_type=str(items.at[i, "product_type"]),
                    keyword="",
                    score=float(items.at[i, "n_baskets"]),
                    bought_before=history.bought.get(i, 0),
                )
                for i in ids
            ],
            source="popularity",
        )


def _without_repeats(kw: KeywordsOutcome, used: dict[str, str], title: str, dropped: list[Dropped]) -> KeywordsOutcome:
    """`kw` without the keywords an earlier placement took (each recorded as dropped), unless none would remain."""
    repeats = [k for k in kw.keywords if k in used]
    if not repeats or len(repeats) == len(kw.keywords):
        return kw
    for k in repeats:
        dropped.append(Dropped(kind="keyword", placement=title, reason=f"{k!r} is already a keyword of {used[k]!r}"))
    keep = [i for i, k in enumerate(kw.keywords) if k not in used]
    return replace(kw, keywords=[kw.keywords[i] for i in keep], product_types=[kw.product_types[i] for i in keep])
