"""Context (theme) agent, XP paper A.2: the anchor's most popular usage contexts.

The paper's prompt (`theme@v2`) answers contexts with explanations; the lean one
(`theme@v3`) short names only. Both answers give (context, explanation) pairs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import anchor_words, ask, call_ref, failure_record
from xpollinate.agents.normalize import PLACEHOLDER_REASON, clean, explanation_text, is_placeholder, key
from xpollinate.llm import LLM
from xpollinate.records import Drop, ItemXPState, Theme, anchor_of


@dataclass(frozen=True)
class ContextAgent:
    llm: LLM
    prompt: str = "theme@v2"

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        anchor = anchor_of(state)
        result = ask(self.llm, self.prompt, {"anchor_item": anchor_words(self.llm, self.prompt, anchor)})
        if not result.ok:
            return {"themes": [], "failures": [failure_record(result, "context", anchor.text)]}
        themes: list[Theme] = []
        drops: list[Drop] = []
        seen: set[str] = set()
        for context, explanation in result.value.pairs():
            name = clean(context)
            if name and is_placeholder(name):
                drops.append(Drop(stage="context", reason=PLACEHOLDER_REASON, text=name))
                continue
            if not name or key(name) in seen:
                drops.append(Drop(stage="context", reason="duplicate theme" if name else "empty theme", text=context))
                continue
            seen.add(key(name))
            themes.append(Theme(context=name, explanation=explanation_text(explanation)))
        return {"themes": themes, "dropped": drops, "provenance": {"context": call_ref(result)}}
