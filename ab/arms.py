"""An A/B arm named on the command line: `GRAPH[,PROMPT@VERSION...][,llm=PROVIDER:MODEL]`.

Examples: `theme`, `theme,theme@v1,theme_recs@v1`, `naive,naive@v1,llm=local-small`.
"""

from __future__ import annotations

from dataclasses import dataclass

from xpollinate.batch.prompt_refs import prompt_set
from xpollinate.errors import XPError
from xpollinate.graphs.item_xp import GraphKind, PromptSet


@dataclass(frozen=True)
class Arm:
    label: str
    kind: GraphKind
    prompts: PromptSet
    llm: str | None = None

    def describe(self) -> str:
        used = [self.prompts.theme, self.prompts.recommend] if self.kind == "theme" else [self.prompts.naive]
        return f"{self.kind} ({', '.join(used)}; {self.llm or 'default model'})"


def parse_arm(label: str, spec: str) -> Arm:
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or parts[0] not in ("theme", "naive"):
        raise XPError(f"arm {label}: {spec!r} must start with a graph, theme or naive (e.g. 'theme,theme@v1')")
    llm = None
    refs = []
    for p in parts[1:]:
        if p.startswith("llm="):
            llm = p[4:].strip() or None
        else:
            refs.append(p)
    try:
        prompts = prompt_set(refs)
    except XPError as exc:
        raise XPError(f"arm {label}: {exc}") from exc
    return Arm(label, parts[0], prompts, llm)  # type: ignore[arg-type]
