"""The LLM layer: providers, structured output, retries, caching and usage accounting.

Public surface (what agents import)::

    from xpollinate.llm import get_llm, Result, Failure
    from xpollinate.prompts.schemas import Themes, ContextualEvaluation, JudgeEvaluation

    llm = get_llm()            # or get_llm("openai:gpt-4o"), get_llm("local-small")
    res = llm.structured("evaluator@v2", {"anchor_item": ..., "recommendation": ..., "explanation": ...})
    res.value.score if res.ok else res.kind
"""

from xpollinate.llm.client import LLM, Failure, Result, build_provider, get_llm
from xpollinate.llm.errors import LLMConfigError, ModelFilesError, ProviderError, TransientProviderError
from xpollinate.llm.roles import RoleModels, role_llms
from xpollinate.llm.settings import LLMSettings, LLMSpec, load_settings, parse_spec
from xpollinate.llm.usage import CallUsage, UsageLedger

__all__ = [
    "LLM",
    "CallUsage",
    "Failure",
    "LLMConfigError",
    "LLMSettings",
    "LLMSpec",
    "ModelFilesError",
    "ProviderError",
    "Result",
    "RoleModels",
    "TransientProviderError",
    "UsageLedger",
    "build_provider",
    "get_llm",
    "load_settings",
    "parse_spec",
    "role_llms",
]
