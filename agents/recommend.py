"""Recommendation agent, XP paper A.3: non-grocery recommendations for one usage context.

Runs once per theme (a LangGraph `Send` branch), so contexts are generated concurrently.
Two prompt families:
- the paper's (`theme_recs@v2`): 10 free-text recommendations with explanations per context;
- the lean ones (`pick@v1`, `pick_free@v1`): a few product-type names per context. With
  catalog grounding the branch carries the anchor's shortlist, and the answer's schema is
  an enum over it (`picks_model`): the model can only name real GM product types.
Every answer is counted for copies of its prompt's examples.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from xpollinate.agents.calls import anchor_words, ask, call_ref, failure_record
from xpollinate.agents.copying import copies
from xpollinate.agents.normalize import normalize
from xpollinate.llm import LLM
from xpollinate.prompts.schemas import Picks, picks_model
from xpollinate.records import Anchor, FailureRecord, Rec, Stage, Theme, ThemeBranch, anchor_of

GENERAL_CONTEXT = "everyday use"  # the situation a pick is asked for when there are no themes (naive graph)


class CatalogNames(Protocol):
    """What an agent needs of the grounding vocabulary: the catalog product type a name stands for, and
    the name with its category for yes/no questions."""

    def product_type(self, name: str) -> str | None: ...

    def label(self, name: str) -> str: ...


def with_product_types(recs: list[Rec], names: CatalogNames | None) -> list[Rec]:
    """Recs whose text is a catalog product type's name, tagged with it (exact matching needs no search)."""
    if names is None:
        return recs
    out = []
    for r in recs:
        pt = names.product_type(r.text)
        out.append(r.model_copy(update={"product_type": pt, "label": names.label(r.text) if pt else ""}))
    return out


def pick(
    llm: LLM,
    prompt: str,
    anchor: Anchor,
    context: str,
    n: int,
    theme: str | None,
    stage: Stage,
    shortlist: Sequence[str] | None = None,
    names: CatalogNames | None = None,
) -> dict[str, Any]:
    """One lean recommendation call: `n` product types for `context`, from `shortlist` when the prompt takes one."""
    template = llm.registry.get(prompt)
    variables: dict[str, object] = {"anchor_item": anchor_words(llm, prompt, anchor), "context": context, "n": n}
    output = None
    if "shortlist" in template.variables:
        if not shortlist:
            return {"failures": [failure_record_for(llm, prompt, stage, context, "no shortlist to choose from")]}
        variables["shortlist"] = "\n".join(f"- {name}" for name in shortlist)
        output = picks_model(shortlist, n)
    result = ask(llm, prompt, variables, output)
    if not result.ok:
        return {"failures": [failure_record(result, stage, context)]}
    recs, drops = normalize(result.value.pairs(), theme, stage)
    recs = with_product_types(recs, names)
    return {
        "recs": recs,
        "dropped": drops,
        "copied": copies([r.text for r in recs], template.examples),
        "provenance": {stage: call_ref(result)},
    }


def failure_record_for(llm: LLM, prompt: str, stage: Stage, subject: str, message: str) -> FailureRecord:
    """A failure of this item before any model call (its input could not be built)."""
    return FailureRecord(
        stage=stage,
        prompt=llm.registry.get(prompt).ref,
        kind="invalid_input",
        message=message,
        attempts=0,
        subject=subject[:200],
    )


@dataclass(frozen=True)
class RecommendationAgent:
    llm: LLM
    prompt: str = "theme_recs@v2"
    picks: int = 4
    names: CatalogNames | None = None

    def __call__(self, branch: ThemeBranch) -> dict[str, Any]:
        anchor, theme = anchor_of(branch), Theme.model_validate(branch["theme"])
        output = self.llm.registry.get(self.prompt).output_model
        if output is not None and issubclass(output, Picks):
            return pick(
                self.llm,
                self.prompt,
                anchor,
                theme.context,
                self.picks,
                theme.context,
                "recommend",
                branch.get("shortlist"),
                self.names,
            )
        context_line = f"{theme.context} - {theme.explanation}" if theme.explanation else theme.context
        result = ask(self.llm, self.prompt, {"anchor_item": anchor.prompt_text, "anchor_contexts": context_line})
        if not result.ok:
            return {"failures": [failure_record(result, "recommend", theme.context)]}
        pairs = [p for ctx in result.value.contexts for p in ctx.pairs()]
        recs, drops = normalize(pairs, theme.context, "recommend")
        recs = with_product_types(recs, self.names)
        examples = self.llm.registry.get(self.prompt).examples
        return {
            "recs": recs,
            "dropped": drops,
            "copied": copies([r.text for r in recs], examples),
            "provenance": {"recommend": call_ref(result)},
        }
