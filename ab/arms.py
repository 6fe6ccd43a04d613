"""An A/B arm named on the command line: `GRAPH[,plan=P][,grounding=G][,PROMPT@VERSION...][,llm=PROVIDER:MODEL]`.

Examples: `theme`, `theme,plan=paper`, `theme,grounding=free`, `theme,plan=paper,theme@v1,theme_recs@v1`,
`naive,llm=local-small`. Unnamed settings are the plan's defaults (lean, catalog grounding).
"""

from __future__ import annotations

from dataclasses import dataclass

from xpollinate.batch.prompt_refs import prompt_set
from xpollinate.errors import XPError
from xpollinate.graphs.config import GROUNDINGS, PLANS
from xpollinate.graphs.item_xp import GraphKind, ItemXPConfig, PromptSet


@dataclass(frozen=True)
class Arm:
    label: str
    kind: GraphKind
    prompts: PromptSet
    llm: str | None = None
    plan: str = "lean"
    grounding: str | None = None

    def config(self) -> ItemXPConfig:
        return ItemXPConfig(plan=self.plan, grounding=self.grounding, prompts=self.prompts)  # type: ignore[arg-type]

    def describe(self) -> str:
        c = self.config().prompts
        used = [c.theme, c.recommend] if self.kind == "theme" else [c.naive]
        return f"{self.kind}, {self.plan} plan, {self.config().grounding} grounding ({', '.join(map(str, used))}; " \
               f"{self.llm or 'default model'})"


def parse_arm(label: str, spec: str) -> Arm:
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or parts[0] not in ("theme", "naive"):
        raise XPError(f"arm {label}: {spec!r} must start with a graph, theme or naive (e.g. 'theme,theme@v1')")
    llm, plan, grounding = None, "lean", None
    refs = []
    for p in parts[1:]:
        if p.startswith("llm="):
            llm = p[4:].strip() or None
        elif p.startswith("plan="):
            plan = p[5:].strip()
            if plan not in PLANS:
                raise XPError(f"arm {label}: plan {plan!r} is not one of {', '.join(PLANS)}")
        elif p.startswith("grounding="):
            grounding = p[10:].strip()
            if grounding not in GROUNDINGS:
                raise XPError(f"arm {label}: grounding {grounding!r} is not one of {', '.join(GROUNDINGS)}")
        else:
            refs.append(p)
    try:
        arm = Arm(label, parts[0], prompt_set(refs), llm, plan, grounding)  # type: ignore[arg-type]
        arm.config()
    except (XPError, ValueError) as exc:
        raise XPError(f"arm {label}: {exc}") from exc
    return arm
