"""Prompt versions named on the command line (`theme@v1`) as a checked `PromptSet`."""

from __future__ import annotations

from collections.abc import Iterable

from xpollinate.errors import XPError
from xpollinate.graphs.item_xp import PromptSet
from xpollinate.prompts import PromptRegistry, default_registry

# prompt name -> the PromptSet field that holds its version (the lean and the paper's prompt of one role share it)
SLOT = {
    "theme": "theme",
    "theme_recs": "recommend",
    "pick": "recommend",
    "pick_free": "recommend",
    "naive": "naive",
    "evaluator": "evaluator",
    "fit": "evaluator",
    "evaluator_batch": "evaluator_batch",
    "judge": "judge",
    "relevance": "judge",
}


def prompt_set(refs: Iterable[str], base: PromptSet | None = None, registry: PromptRegistry | None = None) -> PromptSet:
    """`base` with the named versions swapped in; an unknown prompt or version is an error listing what exists."""
    registry = registry or default_registry()
    values = (base or PromptSet()).model_dump()
    for ref in refs:
        name = ref.split("@", 1)[0].strip()
        if name not in SLOT:
            raise XPError(f"prompt {ref!r}: the graph uses {', '.join(sorted(SLOT))}")
        if "@" not in ref:
            raise XPError(
                f"prompt {ref!r}: name a version, e.g. {name}@v1; {name} has "
                f"{', '.join(t.ref for t in registry.versions(name))}"
            )
        try:
            template = registry.get(ref)
        except XPError as exc:
            versions = ", ".join(t.ref for t in registry.versions(name))
            raise XPError(f"prompt {ref!r} does not exist; {name} has {versions}") from exc
        values[SLOT[name]] = template.ref
    return PromptSet(**values)
