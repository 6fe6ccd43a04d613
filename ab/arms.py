"""An A/B arm named on the command line: `GRAPH[,PROMPT@VERSION...][,llm=PROVIDER:MODEL][,SETTING=VALUE...]`.

A SETTING is any field of `ItemXPConfig` (plan, grounding, evaluator_mode, match_k, expand, picks,
history_pts, ...). Examples: `theme`, `theme,plan=paper`, `theme,grounding=free`,
`theme,plan=paper,evaluator_mode=batched,match_k=1,expand=0`, `naive,llm=local-small`.
Unnamed settings are the plan's defaults (lean, catalog grounding).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from xpollinate.batch.prompt_refs import prompt_set
from xpollinate.errors import XPError
from xpollinate.graphs.item_xp import GraphKind, ItemXPConfig, PromptSet


@dataclass(frozen=True)
class Arm:
    label: str
    kind: GraphKind
    prompts: PromptSet
    llm: str | None = None
    settings: tuple[tuple[str, str], ...] = ()

    @property
    def plan(self) -> str:
        return dict(self.settings).get("plan", "lean")

    def config(self) -> ItemXPConfig:
        return ItemXPConfig.model_validate({**dict(self.settings), "prompts": self.prompts})

    def describe(self) -> str:
        c = self.config().prompts
        used = [c.theme, c.recommend] if self.kind == "theme" else [c.naive]
        return (
            f"{self.kind}, {self.plan} plan, {self.config().grounding} grounding ({', '.join(map(str, used))}; "
            f"{self.llm or 'default model'})"
        )


def parse_arm(label: str, spec: str) -> Arm:
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or parts[0] not in ("theme", "naive"):
        raise XPError(f"arm {label}: {spec!r} must start with a graph, theme or naive (e.g. 'theme,theme@v1')")
    llm = None
    refs: list[str] = []
    settings: list[tuple[str, str]] = []
    for p in parts[1:]:
        name, eq, value = p.partition("=")
        name, value = name.strip(), value.strip()
        if not eq:
            refs.append(p)
        elif name == "llm":
            llm = value or None
        elif name in ItemXPConfig.model_fields and name != "prompts":
            settings.append((name, value))
        else:
            fields = ", ".join(f for f in ItemXPConfig.model_fields if f != "prompts")
            raise XPError(f"arm {label}: {name!r} is not a setting; settings: llm, {fields}")
    try:
        arm = Arm(label, parts[0], prompt_set(refs), llm, tuple(settings))  # type: ignore[arg-type]
        arm.config()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'grounding'}: {e['msg'].removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise XPError(f"arm {label}: {problems}") from exc
    except XPError as exc:
        raise XPError(f"arm {label}: {exc}") from exc
    return arm
