"""An A/B arm named on the command line: `GRAPH[,PROMPT@VERSION...][,ROLE=MODEL...][,SETTING=VALUE...]`.

A ROLE is `llm` (the generator), `evaluator_llm` or `judge_llm`; a MODEL is provider:model or
ENDPOINT:model, so arms can differ in any role (`theme,judge_llm=vllm:qwen2.5-7b`).

A SETTING is any field of `ItemXPConfig` (plan, grounding, evaluator_mode, match_k, expand, picks,
history_pts, ...). Examples: `theme`, `theme,plan=paper`, `theme,grounding=free`,
`theme,plan=paper,evaluator_mode=batched,match_k=1,expand=0`, `naive,llm=local-small`.
An arm without a judge uses the comparison's one judge.
Unnamed settings are the plan's defaults (lean, catalog grounding).
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from xpollinate.batch.prompt_refs import prompt_set
from xpollinate.errors import XPError
from xpollinate.graphs.item_xp import GraphKind, ItemXPConfig, PromptSet

ROLE_KEYS = ("llm", "evaluator_llm", "judge_llm")


@dataclass(frozen=True)
class Arm:
    label: str
    kind: GraphKind
    prompts: PromptSet
    llm: str | None = None
    settings: tuple[tuple[str, str], ...] = ()
    evaluator_llm: str | None = None
    judge_llm: str | None = None

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
            f"{self.llm or 'default model'}{self._roles()})"
        )

    def _roles(self) -> str:
        named = [
            f"{role} {model}" for role, model in (("evaluator", self.evaluator_llm), ("judge", self.judge_llm)) if model
        ]
        return f"; {', '.join(named)}" if named else ""


def parse_arm(label: str, spec: str) -> Arm:
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    if not parts or parts[0] not in ("theme", "naive"):
        raise XPError(f"arm {label}: {spec!r} must start with a graph, theme or naive (e.g. 'theme,theme@v1')")
    models: dict[str, str | None] = {}
    refs: list[str] = []
    settings: list[tuple[str, str]] = []
    for p in parts[1:]:
        name, eq, value = p.partition("=")
        name, value = name.strip(), value.strip()
        if not eq:
            refs.append(p)
        elif name in ROLE_KEYS:
            models[name] = value or None
        elif name in ItemXPConfig.model_fields and name != "prompts":
            settings.append((name, value))
        else:
            fields = ", ".join(f for f in ItemXPConfig.model_fields if f != "prompts")
            raise XPError(f"arm {label}: {name!r} is not a setting; settings: {', '.join(ROLE_KEYS)}, {fields}")
    try:
        arm = Arm(
            label,
            parts[0],  # type: ignore[arg-type]
            prompt_set(refs),
            models.get("llm"),
            tuple(settings),
            models.get("evaluator_llm"),
            models.get("judge_llm"),
        )
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
