"""Versioned prompt templates (the XP paper's Appendix A) and their registry.

from xpollinate.prompts import default_registry
prompt = default_registry().render("theme@v2", {"anchor_item": "Ground coffee"})
"""

from xpollinate.prompts.registry import (
    PromptDeclarationError,
    PromptNotFoundError,
    PromptRegistry,
    PromptTemplate,
    RenderedPrompt,
    default_registry,
)
from xpollinate.prompts.render import PromptVariableError, TemplateSyntaxError

__all__ = [
    "PromptDeclarationError",
    "PromptNotFoundError",
    "PromptRegistry",
    "PromptTemplate",
    "PromptVariableError",
    "RenderedPrompt",
    "TemplateSyntaxError",
    "default_registry",
]
