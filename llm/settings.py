"""Which model to call and how: the LLM settings, from flags, environment or a config file.

Precedence, strongest first: flags (`--llm`, `--judge-llm`, ...), environment variables
(`XP_LLM=provider:model`, `XP_LLM_THREADS`, ...), the config file (`$XP_CONFIG`, else
`$XP_HOME/config.toml`, section `[llm]`), built-in defaults; pydantic-settings merges them.

A model has a role: the generator (themes and recommendations), the contextual evaluator
and the judge; each defaults to the generator. A model is `provider:model` or
`ENDPOINT:model`, where ENDPOINT is a named server in the config file::

    [llm.endpoints.vllm]
    base_url = "http://127.0.0.1:8000/v1"
    api_key_env = "VLLM_API_KEY"       # the variable that holds its key (optional)
    response_format = "json_schema"

API keys come from environment variables only, are held as `SecretStr`, and never reach
settings dumps, cache keys or logs; a key in the config file is an error.
"""

from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

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
Role = Literal["generator", "evaluator", "judge"]
ROLES: tuple[Role, ...] = ("generator", "evaluator", "judge")
API_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}
ResponseFormat = Literal["json_schema", "json_object", "none"]
log = logging.getLogger(__name__)


class Endpoint(BaseModel):
    """A named model server (`[llm.endpoints.NAME]`): OpenAI-compatible (vLLM, Ollama, llama.cpp's
    server, a gateway) or Anthropic's API behind another URL."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["openai", "anthropic"] = Field("openai", description="the API the server speaks")
    base_url: str = Field(..., repr=False, description="the server's URL, e.g. http://127.0.0.1:8000/v1")
    api_key_env: str | None = Field(None, description="the environment variable that holds its key (none: no key)")
    response_format: ResponseFormat = Field(
        "json_schema", description="structured output: json_schema, json_object, or none (the answer is parsed)"
    )
    model: str | None = Field(None, description="the model asked for when a spec names only the endpoint")

    def key(self) -> SecretStr | None:
        """The key from its environment variable, at the moment a provider is built."""
        if not self.api_key_env:
            return None
        value = os.environ.get(self.api_key_env, "").strip()
        if not value:
            raise LLMConfigError(f"the endpoint's key is missing: set the environment variable {self.api_key_env}")
        return SecretStr(value)


def config_path() -> Path:
    return Path(os.environ["XP_CONFIG"]).expanduser() if os.environ.get("XP_CONFIG") else run_home() / "config.toml"


class ConfigFileSource(PydanticBaseSettingsSource):
    """The `[llm]` table of the config file (missing file: nothing; `XP_CONFIG` naming a missing file: an error)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads the whole table at once

    def __call__(self) -> dict[str, Any]:
        path = config_path()
        if not path.is_file():
            if os.environ.get("XP_CONFIG"):
                raise LLMConfigError(f"XP_CONFIG points at {path}, which does not exist")
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise LLMConfigError(f"cannot read config file {path}: {exc}") from exc
        section = dict(data.get("llm", {}))
        keys = [k for k in section if "api_key" in k and k != "api_key_env"]
        keys += [f"endpoints.{n}.{k}" for n, e in section.get("endpoints", {}).items() for k in e if k == "api_key"]
        if keys:
            raise LLMConfigError(
                f"{path}: API keys do not belong in the config file ({', '.join(keys)}); set "
                f"{' or '.join(API_KEY_ENV.values())}, or an endpoint's api_key_env variable, instead"
            )
        aliases = {name: f.validation_alias for name, f in self.settings_cls.model_fields.items()}
        return {aliases.get(k) if isinstance(aliases.get(k), str) else k: v for k, v in section.items()}  # type: ignore[misc]


class LLMSettings(BaseSettings):
    """Every setting of the LLM layer. Field names are the config file's keys; `validation_alias`
    (or `XP_LLM_` + the name) is the environment variable."""

    model_config = SettingsConfigDict(
        env_prefix="XP_LLM_", validate_by_name=True, extra="forbid", frozen=True, env_ignore_empty=True
    )

    llm: str = Field(
        "local",
        validation_alias="XP_LLM",
        description="the generator model (themes, recommendations): provider:model, a provider "
        "(local, local-small, openai, anthropic, langchain:MODULE:NAME) or ENDPOINT:model",
    )
    evaluator: str | None = Field(None, description="the contextual evaluator's model (default: the generator)")
    judge: str | None = Field(None, description="the LLM judge's model (default: the generator)")
    threads: int | None = Field(None, ge=1, le=256, description="CPU threads of a local model (default: all cores)")
    n_ctx: int = Field(
        16384,
        ge=512,
        le=131072,
        validation_alias="XP_LLM_CTX",
        description="context of a local model, shared by its slots",
    )
    parallel: int = Field(4, ge=1, le=64, description="slots of a local model: requests decoded together")
    temperature: float = Field(0.0, ge=0.0, le=2.0, description="sampling temperature")
    seed: int = Field(42, description="sampling seed (where the backend takes one)")
    timeout_s: float = Field(
        120.0, gt=0, validation_alias="XP_LLM_TIMEOUT", description="per request, remote models, seconds"
    )
    max_retries: int = Field(4, ge=0, le=20, description="retries of transient errors (timeouts, 429, 5xx)")
    backoff_base_s: float = Field(1.0, ge=0, description="first retry's wait, seconds (doubles per retry)")
    backoff_max_s: float = Field(30.0, ge=0, description="longest wait between retries, seconds")
    max_repairs: int = Field(2, ge=0, le=10, description="re-asks after an answer that fails its schema")
    cache: bool = Field(True, description="the response cache (0 turns it off)")
    openai_base_url: str | None = Field(
        None, repr=False, validation_alias="OPENAI_BASE_URL", description="the server behind the openai provider"
    )
    openai_response_format: ResponseFormat = Field(
        "json_schema", description="structured output of the openai provider: json_schema, json_object or none"
    )
    anthropic_base_url: str | None = Field(
        None, repr=False, validation_alias="ANTHROPIC_BASE_URL", description="the server behind the anthropic provider"
    )
    langchain_output: Literal["none", "json_schema"] = Field(
        "none", description="langchain chat models: parse the text answer, or bind the schema (with_structured_output)"
    )
    openai_api_key: SecretStr | None = Field(
        None, validation_alias="OPENAI_API_KEY", exclude=True, description="key of api.openai.com"
    )
    anthropic_api_key: SecretStr | None = Field(
        None,
        validation_alias="ANTHROPIC_API_KEY",
        exclude=True,
        description="key of Anthropic's API",
    )
    endpoints: dict[str, Endpoint] = Field(
        default_factory=dict, description="named model servers ([llm.endpoints.NAME])"
    )
    prices: dict[str, Price] = Field(default_factory=dict, description="extra or overriding prices per provider:model")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, ConfigFileSource(settings_cls)

    @field_validator("endpoints")
    @classmethod
    def _endpoint_names(cls, value: dict[str, Endpoint]) -> dict[str, Endpoint]:
        clash = sorted(set(value) & set(PROVIDERS))
        if clash:
            raise ValueError(f"endpoint names must differ from the providers ({', '.join(PROVIDERS)}): {clash}")
        return value

    def price_table(self) -> dict[str, Price]:
        return {**PRICES, **self.prices}

    def role_spec(self, role: Role) -> str:
        """The model text of a role: its own setting, else the generator's."""
        own = {"generator": None, "evaluator": self.evaluator, "judge": self.judge}[role]
        return own or self.llm


def load_settings(llm: str | None = None, **overrides: Any) -> LLMSettings:
    """Settings from defaults < config file < environment < arguments (`llm` is `--llm`; None: not given)."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if llm:
        values["llm"] = llm
    try:
        return LLMSettings(**values)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise LLMConfigError(f"invalid LLM settings: {problems}") from exc


@dataclass(frozen=True)
class LLMSpec:
    """A resolved model: `local-small` resolves to `local:smollm2-135m-instruct`; a named endpoint
    keeps its name (`vllm:qwen2.5-7b`, provider openai)."""

    provider: str
    model: str
    endpoint: str | None = None

    def __str__(self) -> str:
        return f"{self.endpoint or self.provider}:{self.model}"


def parse_spec(text: str, settings: LLMSettings | None = None) -> LLMSpec:
    """Validate `provider[:model]` or `ENDPOINT[:model]`; an unknown one lists the valid names."""
    settings = settings or LLMSettings()
    provider, _, model = text.strip().partition(":")
    if provider in settings.endpoints:
        ep = settings.endpoints[provider]
        model = model.strip() or (ep.model or "")
        if not model:
            raise LLMConfigError(f"{text!r}: name the model, {provider}:MODEL (endpoint {provider} sets no model)")
        return LLMSpec(ep.kind, model, endpoint=provider)
    provider = provider.lower()
    if provider not in PROVIDERS:
        named = f"; endpoints in the config file: {', '.join(settings.endpoints)}" if settings.endpoints else ""
        raise LLMConfigError(
            f"unknown LLM provider {provider!r} in {text!r}; valid providers: {', '.join(PROVIDERS)}{named}"
        )
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


def api_key(provider: str, required: bool = True, settings: LLMSettings | None = None) -> SecretStr | None:
    """The provider's API key from its environment variable; an error naming the variable if required."""
    settings = settings or load_settings()
    key = settings.openai_api_key if provider == "openai" else settings.anthropic_api_key
    if (key is None or not key.get_secret_value().strip()) and required:
        raise LLMConfigError(f"{provider} needs an API key: set the environment variable {API_KEY_ENV[provider]}")
    return key


def public_url(url: str | None) -> str | None:
    """A base URL without credentials or query (safe for cache keys and logs)."""
    if not url:
        return None
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path.rstrip("/"), "", ""))
