"""Reasoning alignment of the LLM re-ranker: its answer (`llm_rerank@v2`) gives a one-line reason for each
of its top picks, and these measures check, without a model, whether the reasons fit what they sit beside.

For a reason attached to candidate `i` (words compared after lower-casing and dropping a plural `s`; the
catalog's boilerplate words -- "product", "brand", "national", "private", "grocery", ... -- never count, as
every item text carries some of them and a generic "this product" would otherwise name any item):
- names its item: the reason shares a content word with `i`'s own text (product type, category, department);
- only copies its item: every content word of the reason is in `i`'s text (the item's name repeated, no why);
- names another item instead: it shares none with `i`'s text but does with another candidate's text (words
  every candidate shares do not count, as they are in `i`'s text too);
- mentions the context: with a context given, it shares a word of 4+ letters with the context;
- beside a top pick: `i` is among the first `n` ids of the answer's own ranking (a reason for an item the
  answer ranked low, or for an id outside the candidates, is not a reason for a pick).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, create_model

from xpollinate.storefront.schemas import Ranking
from xpollinate.storefront.text_words import content_words

PROMPT = "llm_rerank@v2"
REASONS = 3  # top picks that get a reason
REASON_MAX_CHARS = 100
BOILERPLATE = frozenset(
    "product brand national private grocery item drug misc oz lb ct pk dz".split()
)  # words of the catalog's item-text format, not of what an item is


class PickReason(BaseModel):
    id: int
    reason: str = Field(min_length=1, max_length=REASON_MAX_CHARS)


class ReasonedRanking(Ranking):
    """`llm_rerank@v2`: candidate ids, most likely bought first, and a reason for each of the first picks."""

    reasons: list[PickReason] = Field(default_factory=list, max_length=20)


def reasoned_ranking_model(candidate_ids: Sequence[int], reasons: int = REASONS) -> type[ReasonedRanking]:
    """`ReasonedRanking` whose schema allows only `candidate_ids` in the ranking and beside each reason."""
    ids = list(dict.fromkeys(int(i) for i in candidate_ids))
    if not ids:
        raise ValueError("re-ranking needs at least one candidate")
    enum: dict[str, Any] = {"type": "integer", "enum": ids}
    reason = create_model(  # type: ignore[call-overload]
        "PickReason", __base__=PickReason, id=(int, Field(json_schema_extra=enum))
    )
    n = min(reasons, len(ids))
    return create_model(  # type: ignore[call-overload, no-any-return]
        "ReasonedRanking",
        __base__=ReasonedRanking,
        ranking=(list[int], Field(min_length=1, max_length=len(ids), json_schema_extra={"items": enum})),
        reasons=(list[reason], Field(min_length=n, max_length=n)),  # type: ignore[valid-type]
    )


def _norm(words: set[str]) -> set[str]:
    return {w[:-1] if w.endswith("s") and len(w) > 3 else w for w in words}


@dataclass(frozen=True)
class ReasonCheck:
    item_id: int
    reason: str
    candidate: bool  # the id is one of the candidates
    top_pick: bool  # among the first n ids of the answer's ranking
    names_own: bool
    copies_item: bool
    names_other_only: bool
    mentions_context: bool | None  # None without a context


def check_reasons(
    reasons: Sequence[tuple[int, str]],
    ranking: Sequence[int],
    texts: Mapping[int, str],
    context: str | None,
    n: int = REASONS,
) -> list[ReasonCheck]:
    """Each reason checked against its own item's text, the other candidates' texts and the context."""
    words = {i: _norm(content_words(t)) - BOILERPLATE for i, t in texts.items()}
    ctx = {w for w in _norm(content_words(context)) if len(w) >= 4} if context else set()
    top = list(dict.fromkeys(ranking))[:n]
    out = []
    for item, reason in reasons:
        said = _norm(content_words(reason)) - BOILERPLATE
        own = words.get(item, set())
        others = set().union(*(w for j, w in words.items() if j != item)) - own
        names_own = bool(said & own)
        out.append(
            ReasonCheck(
                item_id=item,
                reason=reason,
                candidate=item in words,
                top_pick=item in top,
                names_own=names_own,
                copies_item=names_own and said <= own,
                names_other_only=not names_own and bool(said & others),
                mentions_context=bool(said & ctx) if context else None,
            )
        )
    return out


def alignment_rates(checks: Sequence[ReasonCheck], calls: int) -> dict[str, Any]:
    """The share of reasons (or of calls) meeting each check; context mentions over reasons given a context."""
    n = len(checks)
    with_ctx = [c for c in checks if c.mentions_context is not None]

    def share(xs: Sequence[bool], total: int) -> float:
        return sum(xs) / total if total else 0.0

    return {
        "reasons given": n,
        "reasons per call": n / calls if calls else 0.0,
        "reasons beside an id outside the candidates (share)": share([not c.candidate for c in checks], n),
        "reasons beside one of the answer's top picks (share)": share([c.top_pick for c in checks], n),
        "reasons naming their own item's type/category words (share)": share([c.names_own for c in checks], n),
        "reasons that only copy their item's words (share)": share([c.copies_item for c in checks], n),
        "reasons naming another candidate instead (share)": share([c.names_other_only for c in checks], n),
        "reasons mentioning the context, when one is given (share)": share(
            [bool(c.mentions_context) for c in with_ctx], len(with_ctx)
        ),
    }
