"""Recommendation agent, XP paper A.3: non-grocery recommendations for one usage context.

Runs once per theme (a LangGraph `Send` branch), so contexts are generated concurrently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from xpollinate.agents.calls import ask, call_ref, failure_record
from xpollinate.agents.normalize import normalize
from xpollinate.graphs.state import Theme, ThemeBranch, anchor_of
from xpollinate.llm import LLM


@dataclass(frozen=True)
class RecommendationAgent:
    llm: LLM
    prompt: str = "theme_recs@v2"

    def __call__(self, branch: ThemeBranch) -> dict[str, Any]:
        anchor, theme = anchor_of(branch), Theme.model_validate(branch["theme"])
        context_line = f"{theme.context} - {theme.explanation}" if theme.explanation else theme.context
        result = ask(self.llm, self.prompt, {"anchor_item": anchor.prompt_text, "anchor_contexts": context_line})
        if not result.ok:
            return {"failures": [failure_record(result, "recommend", theme.context)]}
        pairs = [p for ctx in result.value.contexts for p in ctx.pairs()]
        recs, drops = normalize(pairs, theme.context, "recommend")
        return {"recs": recs, "dropped": drops, "provenance": {"recommend": call_ref(result)}}
