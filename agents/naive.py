"""Naive generator, XP paper A.1: top-n recommendations with no themes (the paper's baseline)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import ask, call_ref, failure_record
from xpollinate.agents.normalize import normalize
from xpollinate.graphs.state import ItemXPState, anchor_of
from xpollinate.llm import LLM


@dataclass(frozen=True)
class NaiveAgent:
    llm: LLM
    prompt: str = "naive@v1"
    n: int = 10

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        result = ask(self.llm, self.prompt, {"item_input": anchor.prompt_text, "n": self.n})
        if not result.ok:
            return {"failures": [failure_record(result, "naive", anchor.text)]}
        recs, drops = normalize(result.value.pairs(), None, "naive")
        return {"recs": recs, "dropped": drops, "provenance": {"naive": call_ref(result)}}
