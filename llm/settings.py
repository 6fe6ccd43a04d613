"""Which model to call and how: the LLM spec and settings, from arguments, env or a config file.

Precedence, strongest first: an explicit argument (`--llm`), environment variables
(`XP_LLM=provider:model`, `XP_LLM_THREADS`, ...), the config file (`$XP_CONFIG`, else
`$XP_HOME/config.toml`, section `[llm]`), built-in defaults. API keys are read from the
environment only, at the moment a provider is built, and never stored in settings,
cache keys or logs.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, ValidationError

from xpollinate.llm.errors import LLMConfigError
from xpollinate.llm.model_files import LOCAL_MODELS, QWEN, SMOLLM2
from xpollinate.llm.pricing import PRICES, Price, known_models
from xpollinate.settings import run_home

PROVIDERS = ("local", "local-small", "openai", "anthropic", "langchain")
DEFAULT_MODELS = {
    "local": QWEN.model_id,
    "local-small": SMOLLM2.model_id,
    "openai": "gpt-4o",  # the paper's model
    "anthropic": "claude-sonnet-4-5",
}
ENV_VARS = {
    "llm": "XP_LLM",
    "threads": "XP_LLM_THREADS",
    "n_ctx": "XP_LLM_CTX",
    "parallel": "XP_LLM_PARALLEL",
    "timeout_s": "XP_LLM_TIMEOUT",
    "max_retries": "XP_LLM_MAX_RETRIES",
    "max_repairs": "XP_LLM_MAX_REPAIRS",
    "temperature": "XP_LLM_TEMPERATURE",
    "cache": "XP_LLM_CACHE",
    "openai_base_url": "OPENAI_BASE_URL",
    "anthropic_base_url": "ANTHROPIC_BASE_URL",
    "langchain_output": "XP_LLM_LANGCHAIN_OUTPUT",
}
log = logging.getLogger(__name__)
API_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}


class LLMSettings(BaseModel):
    """Every knob of the LLM layer (no secrets here)."""

    llm: str = Field("local", description="provider:model, or a provider name for its default model")
    threads: int | None = Field(None, ge=1, le=256, description="CPU threads for local models (default: all cores)")
    n_ctx: int = Field(16384, ge=512, le=131072, description="context window of local models, shared by their slots")
    parallel: int = Field(4, ge=1, le=64, description="slots of a local model: requests decoded together in one batch")
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    seed: int = 42
    timeout_s: float = Field(120.0, gt=0, description="per request, remote providers")
    max_retries: int = Field(4, ge=0, le=20, description="retries of transient errors (timeouts, 429, 5xx)")
    backoff_base_s: float = Field(1.0, ge=0)
    backoff_max_s: float = Field(30.0, ge=0)
    max_repairs: int = Field(2, ge=0, le=10, description="re-asks after an answer that fails the schema")
    cache: bool = True
    openai_base_url: str | None = Field(None, repr=False)  # may embed credentials: kept out of repr
    openai_response_format: Literal["json_schema", "json_object", "none"] = "json_schema"
    anthropic_base_url: str | None = Field(None, repr=False)
    langchain_output: Literal["none", "json_schema"] = Field(
        "none", description="langchain chat models: parse the text answer, or bind the schema (with_structured_output)"
    )
    prices: dict[str, Price] = Field(default_factory=dict, description="extra or overriding prices per provider:model")

    def price_table(self) -> dict[str, Price]:
        return {**PRICES, **self.prices}


def config_path() -> Path:
    return Path(os.environ["XP_CONFIG"]).expanduser() if os.environ.get("XP_CONFIG") else run_home() / "config.toml"


def _config_values() -> dict[str, Any]:
    path = config_path()
    if not path.is_file():
        if os.environ.get("XP_CONFIG"):
            raise LLMConfigError(f"XP_CONFIG points at {path}, which does not exist")
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise LLMConfigError(f"cannot read config file {path}: {exc}") from exc
    section = data.get("llm", {})
    if any(k.endswith("api_key") for k in section):
        raise LLMConfigError(
            f"{path}: API keys do not belong in the config file; set {' or '.join(API_KEY_ENV.values())} instead"
        )
    prices = section.pop("prices", {})
    section["prices"] = {k: Price(**v) for k, v in prices.items()}
    return section


def load_settings(llm: str | None = None, **overrides: Any) -> LLMSettings:
    """Settings from defaults < config file < environment < arguments (`llm` is `--llm`)."""
    values: dict[str, Any] = _config_values()
    for field, var in ENV_VARS.items():
        raw = os.environ.get(var)
        if raw not in (None, ""):
            values[field] = raw.strip().lower() not in ("0", "false", "no", "off") if field == "cache" else raw
    if llm:
        values["llm"] = llm
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return LLMSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise LLMConfigError(f"invalid LLM settings: {problems}") from exc


@dataclass(frozen=True)
class LLMSpec:
    """A resolved provider and model; `local-small` resolves to `local:smollm2-135m-instruct`."""

    provider: str
    model: str

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def parse_spec(text: str, settings: LLMSettings | None = None) -> LLMSpec:
    """Validate `provider[:model]`; an unknown provider or model lists the valid ones."""
    settings = settings or LLMSettings()
    provider, _, model = text.strip().partition(":")
    provider = provider.lower()
    if provider not in PROVIDERS:
        raise LLMConfigError(f"unknown LLM provider {provider!r} in {text!r}; valid providers: {', '.join(PROVIDERS)}")
    if provider == "langchain":
        if ":" not in model.strip():
            raise LLMConfigError(
                f"{text!r}: a langchain model is named by an import path, langchain:MODULE:NAME (e.g. "
                "langchain:my_models:judge, where my_models.judge is a chat model or returns one)"
            )
        return LLMSpec(provider, model.strip())
    model = model.strip() or DEFAULT_MODELS[provider]
    if provider.startswith("local"):
        valid = [SMOLLM2.model_id] if provider == "local-small" else list(LOCAL_MODELS)
        if model not in valid:
            raise LLMConfigError(f"unknown model {model!r} for provider {provider}; valid models: {', '.join(valid)}")
        return LLMSpec("local", model)
    if provider == "openai" and settings.openai_base_url:
        return LLMSpec(provider, model)  # an OpenAI-compatible server serves models of its own
    valid = known_models(provider, settings.price_table())
    if model not in valid:
        log.warning(
            "model %r of provider %s has no price (priced models: %s); its usage is reported as unpriced. Add a price "
            "in the config file under [llm.prices].",
            model,
            provider,
            ", ".join(valid),
        )
    return LLMSpec(provider, model)


def api_key(provider: str, required: bool = True) -> str | None:
    """The provider's API key from its environment variable; an error naming the variable if required."""
    var = API_KEY_ENV[provider]
    key = os.environ.get(var, "").strip()
    if not key and required:
        raise LLMConfigError(f"{provider} needs an API key: set the environment variable {var}")
    return key or None


def public_url(url: str | None) -> str | None:
    """A base URL without credentials or query (safe for cache keys and logs)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
