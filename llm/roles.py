"""A model per role: the generator (themes, recommendations), the contextual evaluator and the judge.

Each role defaults to the generator; a role named in the settings (`[llm] judge = ...`,
`XP_LLM_JUDGE`) or on the command line (`--judge-llm`) takes its own model, so a batch can
generate on the embedded model and judge on a server. Roles that resolve to the same model
share one `LLM` (one llama.cpp instance, one cache).
"""

from __future__ import annotations

from dataclasses import dataclass

from xpollinate.llm.client import LLM, get_llm
from xpollinate.llm.settings import ROLES, LLMSettings, Role, load_settings, parse_spec


@dataclass(frozen=True)
class RoleModels:
    """The model text given for each role (None: the settings' choice for it, else the generator's)."""

    generator: str | None = None
    evaluator: str | None = None
    judge: str | None = None

    def resolve(self, settings: LLMSettings | None = None) -> dict[Role, str]:
        """Each role's resolved spec (`provider:model`), e.g. {"generator": "local:qwen...", ...}."""
        settings = settings or load_settings()
        generator = self.generator or settings.llm
        given: dict[Role, str] = {
            "generator": generator,
            "evaluator": self.evaluator or settings.evaluator or generator,
            "judge": self.judge or settings.judge or generator,
        }
        return {role: str(parse_spec(text, settings)) for role, text in given.items()}


def role_llms(roles: RoleModels, settings: LLMSettings | None = None, *, cache: bool = True) -> dict[Role, LLM]:
    """One `LLM` per distinct resolved model, mapped to every role that uses it."""
    settings = settings or load_settings()
    specs = roles.resolve(settings)
    built: dict[str, LLM] = {}
    for role in ROLES:
        if specs[role] not in built:
            built[specs[role]] = get_llm(specs[role], settings, cache=cache)
    return {role: built[specs[role]] for role in ROLES}
