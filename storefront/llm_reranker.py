"""The LLM re-ranker: a household's candidates (plus an optional shopping context) re-ordered by the LLM.

The answer's ids are a JSON-schema enum over the candidates (`ranking_model`), so a model decoding under
the schema cannot name anything else; ids outside the candidates are still counted (a backend that
ignores schemas), never used. llama.cpp's grammar cannot enforce distinct or complete lists, so repeats
are dropped, and candidates the answer leaves out are appended in their input order: a recorded
fallback, counted per call. A failed call keeps the input order, also recorded. Answers come through the
LLM layer and its response cache, so the same candidates and context are answered once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from xpollinate.llm import LLM
from xpollinate.storefront import reasoning
from xpollinate.storefront.calls import ask, context_text
from xpollinate.storefront.errors import StorefrontError, check_context
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.schemas import ranking_model

PROMPT = "llm_rerank@v1"
MAX_CANDIDATES = 200


@dataclass(frozen=True)
class Candidate:
    item_id: int
    text: str


@dataclass(frozen=True)
class RerankOutcome:
    order: list[int]  # every candidate exactly once, best first
    placed_by_llm: int  # distinct candidates the answer placed
    completed: list[int]  # candidates the answer missed, appended in input order
    duplicates: int  # repeated ids dropped from the answer
    hallucinated: list[int]  # answered ids that are not candidates (dropped)
    failure: str | None  # the call failed: the input order stands
    calls: list[LLMCall] = field(default_factory=list)
    reasons: list[tuple[int, str]] = field(default_factory=list)  # (id, reason) as answered (llm_rerank@v2)

    @property
    def fallback(self) -> str | None:
        """The recorded fallback in words, None when the answer covered every candidate."""
        if self.failure:
            return f"LLM re-ranker failed, input order kept ({self.failure})"
        if self.completed:
            return f"LLM re-ranker answer missed {len(self.completed)} of {len(self.order)} candidates; appended in input order"
        return None


def llm_rerank(
    llm: LLM,
    candidates: Sequence[Candidate],
    history: Sequence[str],
    context: str | None = None,
    prompt: str = PROMPT,
) -> RerankOutcome:
    """`candidates` re-ordered for a household with this `history` summary and optional `context` (1-200 chars).
    `prompt` llm_rerank@v2 (`reasoning.PROMPT`) also asks a reason for each top pick, kept in `reasons`."""

    context = check_context(context)
    ids = [c.item_id for c in candidates]
    if not ids:
        raise StorefrontError("the LLM re-ranker needs at least one candidate")
    if len(set(ids)) != len(ids):
        raise StorefrontError("the candidates repeat an item id; give each candidate once")
    if len(ids) > MAX_CANDIDATES:
        raise StorefrontError(f"{len(ids)} candidates; the LLM re-ranker takes at most {MAX_CANDIDATES}")
    calls: list[LLMCall] = []
    reasoned = prompt == reasoning.PROMPT
    variables = {
        "history": "\n".join(history) or "- nothing yet",
        "context": context_text(context),
        "candidates": "\n".join(f"{c.item_id}: {c.text}" for c in candidates),
    }
    if reasoned:
        variables["n"] = str(min(reasoning.REASONS, len(ids)))
    output = reasoning.reasoned_ranking_model(ids) if reasoned else ranking_model(ids)
    result = ask(llm, prompt, variables, output, calls)
    if not result.ok:
        return RerankOutcome(ids, 0, [], 0, [], f"{result.kind}: {result.message[:200]}", calls)
    allowed = set(ids)
    answered = list(result.value.ranking)
    hallucinated = [i for i in answered if i not in allowed]
    placed = list(dict.fromkeys(i for i in answered if i in allowed))
    duplicates = len(answered) - len(hallucinated) - len(placed)
    completed = [i for i in ids if i not in set(placed)]
    reasons = [(int(r.id), r.reason) for r in getattr(result.value, "reasons", [])]
    return RerankOutcome(placed + completed, len(placed), completed, duplicates, hallucinated, None, calls, reasons)
