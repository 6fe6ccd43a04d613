"""Naive generator, XP paper A.1: top-n recommendations with no themes (the paper's baseline).

With a lean prompt (`pick@v1` / `pick_free@v1`) it is one pick call for a general situation,
from the anchor's shortlist when the prompt is grounded.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import ask, call_ref, failure_record
from xpollinate.agents.copying import copies
from xpollinate.agents.normalize import normalize
from xpollinate.agents.recommend import GENERAL_CONTEXT, CatalogNames, pick, with_product_types
from xpollinate.llm import LLM
from xpollinate.prompts.schemas import Picks
from xpollinate.records import ItemXPState, anchor_of


@dataclass(frozen=True)
class NaiveAgent:
    llm: LLM
    prompt: str = "naive@v1"
    n: int = 10
    names: CatalogNames | None = None

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        output = self.llm.registry.get(self.prompt).output_model
        if output is not None and issubclass(output, Picks):
            return pick(
                self.llm,
                self.prompt,
                anchor,
                GENERAL_CONTEXT,
                self.n,
                None,
                "naive",
                state.get("shortlist"),
                self.names,
            )
        result = ask(self.llm, self.prompt, {"item_input": anchor.prompt_text, "n": self.n})
        if not result.ok:
            return {"failures": [failure_record(result, "naive", anchor.text)]}
        recs, drops = normalize(result.value.pairs(), None, "naive")
        recs = with_product_types(recs, self.names)
        examples = self.llm.registry.get(self.prompt).examples
        return {
            "recs": recs,
            "dropped": drops,
            "copied": copies([r.text for r in recs], examples),
            "provenance": {"naive": call_ref(result)},
        }
