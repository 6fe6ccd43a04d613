"""`LLM`: one dependable way to ask a model for a typed answer.

    llm = get_llm()                                   # XP_LLM, config file, or local default
    res = llm.structured("theme@v2", {"anchor_item": "Ground coffee"})
    if res.ok: themes = res.value                     # a Themes instance
    else:      record(res)                            # a Failure: kind, message, attempts

A request renders a versioned prompt, looks in the response cache, calls the provider
with the output schema (constrained decoding where the backend has it), validates the
answer against the pydantic model, re-asks a bounded number of times with the
validation errors when it does not fit, and retries transient errors with backoff.
Only setup errors raise (`XPError`); a bad answer is a `Failure` value, so one item never
sinks a batch. Thread-safe; `astructured` is the asyncio variant.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Generic, Literal, TypeVar, cast

from pydantic import BaseModel, SecretStr, ValidationError

from xpollinate.cache import ResponseCache, response_key
from xpollinate.llm.errors import LLMConfigError, ProviderError
from xpollinate.llm.providers.base import ChatRequest, Completion, Provider
from xpollinate.llm.retry import RetriesExhausted, RetryPolicy, call_with_retries
from xpollinate.llm.settings import LLMSettings, LLMSpec, api_key, load_settings, parse_spec
from xpollinate.llm.tracing import CallTrace
from xpollinate.llm.usage import CallUsage, UsageLedger
from xpollinate.prompts import PromptRegistry, PromptTemplate, default_registry
from xpollinate.prompts.schemas import YesProbabilities, YesProbability, yes_no_schema

log = logging.getLogger("xpollinate.llm")
T = TypeVar("T", bound=BaseModel)
FailureKind = Literal["invalid_output", "invalid_input", "transient", "provider_error"]
RAW_KEEP = 2000  # characters of the last bad answer kept in a Failure
FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
PROBABILITY_ALTERNATIVES = 20  # first-token alternatives asked for a yes/no probability
_WORD = re.compile(r"[^a-z]")


@dataclass(frozen=True)
class Result(Generic[T]):
    """A validated answer and where it came from (for provenance: prompt hash, model)."""

    value: T
    prompt: str
    prompt_sha256: str
    llm: str
    cached: bool
    usage: CallUsage
    ok: Literal[True] = True


@dataclass(frozen=True)
class Failure:
    """A request that produced no valid answer; recorded against its item, never raised."""

    kind: FailureKind
    message: str
    prompt: str
    prompt_sha256: str
    llm: str
    attempts: int
    usage: CallUsage
    raw: str | None = None
    errors: list[str] = field(default_factory=list)
    ok: Literal[False] = False


def extract_json(text: str) -> Any:
    """The JSON value in a model answer: the whole text, else a fenced block, else the outermost {...}."""
    text = text.strip()
    candidates = [text]
    candidates += [m.group(1).strip() for m in FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    error: json.JSONDecodeError | None = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except json.JSONDecodeError as exc:
            error = error or exc
    raise error or json.JSONDecodeError("empty answer", text, 0)


def validation_errors(exc: Exception) -> list[str]:
    if isinstance(exc, ValidationError):
        return [f"{'.'.join(map(str, e['loc'])) or 'answer'}: {e['msg']}" for e in exc.errors()[:8]]
    return [f"not valid JSON: {exc}"]


def repair_message(errors: list[str]) -> str:
    lines = "\n".join(f"- {e}" for e in errors)
    return (
        "Your previous answer does not match the required JSON format:\n"
        f"{lines}\n"
        "Answer again with only the corrected JSON object, in the format given above."
    )


def yes_probability(logprobs: Mapping[str, float]) -> YesProbability | None:
    """P(yes) from a first token's alternatives ("Yes", " yes", "YES" all count); None when neither answer is among them."""
    mass = {"yes": 0.0, "no": 0.0}
    for token, logprob in logprobs.items():
        word = _WORD.sub("", token.lower())
        if word in mass:
            mass[word] += math.exp(logprob)
    total = mass["yes"] + mass["no"]
    if total <= 0.0:
        return None
    return YesProbability(p_yes=round(mass["yes"] / total, 6), mass=round(min(total, 1.0), 6))


def yes_probabilities(tokens: Sequence[tuple[str, Mapping[str, float]]], n: int) -> list[YesProbability] | None:
    """P(yes) at each of the first `n` answer tokens ("yes" or "no" as generated) of a yes/no list; None when the
    answer holds fewer, or an answer token's alternatives hold neither word."""
    answers = []
    for token, alternatives in tokens:
        if _WORD.sub("", token.lower()) in ("yes", "no"):
            answer = yes_probability(alternatives)
            if answer is None:
                return None
            answers.append(answer)
            if len(answers) == n:
                return answers
    return None


def build_provider(spec: LLMSpec, settings: LLMSettings) -> Provider:
    """The backend for a resolved spec (SDKs and llama.cpp are imported only when chosen)."""
    if spec.provider == "local":
        from xpollinate.llm.providers.llamacpp import LlamaCppProvider

        return LlamaCppProvider(spec.model, threads=settings.threads, n_ctx=settings.n_ctx, parallel=settings.parallel)
    if spec.endpoint is not None:
        ep = settings.endpoints[spec.endpoint]
        if ep.kind == "anthropic":
            from xpollinate.llm.providers.anthropic_api import AnthropicProvider

            return AnthropicProvider(spec.model, ep.base_url, settings.timeout_s, key=ep.key() or SecretStr(""))
        from xpollinate.llm.providers.openai_api import NO_KEY, OpenAIProvider

        # A named server gets its own key or none, never OPENAI_API_KEY (meant for another server).
        own = ep.key() or SecretStr(NO_KEY)
        return OpenAIProvider(spec.model, ep.base_url, settings.timeout_s, ep.response_format, key=own)
    if spec.provider == "openai":
        from xpollinate.llm.providers.openai_api import OpenAIProvider

        key = api_key("openai", required=settings.openai_base_url is None, settings=settings)
        return OpenAIProvider(
            spec.model, settings.openai_base_url, settings.timeout_s, settings.openai_response_format, key=key
        )
    if spec.provider == "anthropic":
        from xpollinate.llm.providers.anthropic_api import AnthropicProvider

        key = api_key("anthropic", settings=settings)
        return AnthropicProvider(spec.model, settings.anthropic_base_url, settings.timeout_s, key=key)
    if spec.provider == "langchain":
        from xpollinate.llm.providers.langchain_chat import LangChainProvider, load_chat_model

        return LangChainProvider(load_chat_model(spec.model), spec.model, settings.langchain_output)
    raise LLMConfigError(f"no backend for provider {spec.provider!r}")


class LLM:
    """A provider with caching, validation, repair, retries and usage accounting."""

    def __init__(
        self,
        provider: Provider,
        settings: LLMSettings | None = None,
        *,
        cache: ResponseCache | None = None,
        registry: PromptRegistry | None = None,
        retry: RetryPolicy | None = None,
        ledger: UsageLedger | None = None,
        spec: LLMSpec | None = None,
    ) -> None:
        self.provider = provider
        self._spec = spec
        self.settings = settings or LLMSettings()
        self.cache = cache
        self.registry = registry or default_registry()
        self.retry = retry or RetryPolicy(
            self.settings.max_retries, self.settings.backoff_base_s, self.settings.backoff_max_s
        )
        self.usage = ledger or UsageLedger()
        self._price = self.settings.price_table().get(str(self.spec))

    def identity(self) -> dict[str, Any]:
        """What, beside the prompts, changes this model's answers: provider and model, the backend's public
        description (an OpenAI-compatible endpoint's URL without credentials, llama.cpp's context), temperature
        and seed. A run's id hashes it, so the same model name behind another server is another run."""
        return {
            "llm": str(self.spec),
            "backend": self.provider.describe(),
            "temperature": self.settings.temperature,
            "seed": self.settings.seed,
        }

    @property
    def spec(self) -> LLMSpec:
        """The resolved model (a named endpoint keeps its name), else the provider's own."""
        return self._spec or LLMSpec(self.provider.name, self.provider.model)

    def with_ledger(self, ledger: UsageLedger) -> LLM:
        """The same provider, cache, prompts and retries, counting into `ledger` (one per worker thread)."""
        return LLM(
            self.provider,
            self.settings,
            cache=self.cache,
            registry=self.registry,
            retry=self.retry,
            ledger=ledger,
            spec=self._spec,
        )

    def structured(
        self,
        prompt: str | PromptTemplate,
        variables: Mapping[str, object],
        output: type[T] | None = None,
        *,
        max_tokens: int | None = None,
        temperature: float | None = None,
        use_cache: bool = True,
    ) -> Result[T] | Failure:
        """Ask `prompt` (e.g. "theme@v2") with `variables`; the answer parsed into `output`
        (default: the model the prompt version declares)."""
        template = prompt if isinstance(prompt, PromptTemplate) else self.registry.get(prompt)
        declared = output or template.output_model
        if declared is None:
            raise LLMConfigError(
                f"{template.ref} declares no output model; pass one, or use a version that declares it"
            )
        model = cast("type[T]", declared)
        listed = issubclass(model, YesProbabilities)
        probability = issubclass(model, YesProbability) or listed
        if probability and not getattr(self.provider, "supports_logprobs", False):
            raise LLMConfigError(
                f"{template.ref} is answered from token probabilities, which {self.spec} does not report; use a local "
                "model or an OpenAI-compatible server for it, or the paper's call plan (--plan paper)"
            )
        rendered = template.render(dict(variables))
        if listed and not isinstance(variables.get("n"), int):
            raise LLMConfigError(f"{template.ref} answers a yes/no list: it needs the integer variable n (the count)")
        n = int(variables["n"]) if listed else 0  # type: ignore[call-overload]
        if listed:
            schema: dict[str, Any] | None = yes_no_schema(n)
        else:
            schema = None if probability else model.model_json_schema()
        request = ChatRequest(
            messages=({"role": "user", "content": rendered.text},),
            schema=schema,
            schema_name=model.__name__,
            max_tokens=1 if probability and not listed else (max_tokens or template.max_tokens),
            temperature=self.settings.temperature if temperature is None else temperature,
            seed=self.settings.seed,
            top_logprobs=PROBABILITY_ALTERNATIVES if probability else 0,
        )
        usage = CallUsage(self.provider.name, self.provider.model, template.ref)
        trace = CallTrace.start(self.spec, template, rendered.text, request)
        try:
            outcome = self._answer(template, request, rendered.text, model, usage, n, use_cache)
        except BaseException as exc:
            trace.error(exc)
            raise
        trace.end(outcome)
        return outcome

    def _answer(
        self,
        template: PromptTemplate,
        request: ChatRequest,
        rendered: str,
        model: type[T],
        usage: CallUsage,
        listed: int,
        use_cache: bool,
    ) -> Result[T] | Failure:
        """From the cache, else from the model (one computation per key across threads and processes)."""
        cache = self.cache if (use_cache and self.settings.cache) else None
        key = self._key(template, request, rendered) if cache else ""
        if cache is not None and (hit := self._from_cache(cache, key, model, template, usage)) is not None:
            return hit
        with cache.compute_lock(key) if cache is not None else nullcontext():
            if cache is not None and (hit := self._from_cache(cache, key, model, template, usage)) is not None:
                return hit  # another thread or process computed it while we waited
            outcome = self._ask(request, model, template, usage, listed)
            if isinstance(outcome, Result) and cache is not None:
                cache.set(key, {"value": outcome.value.model_dump(mode="json"), "llm": str(self.spec)}, template.ref)
        self.usage.record(usage, failed=not outcome.ok)
        return outcome

    async def astructured(
        self,
        prompt: str | PromptTemplate,
        variables: Mapping[str, object],
        output: type[T] | None = None,
        **kwargs: Any,
    ) -> Result[T] | Failure:
        """`structured` for asyncio code: runs in a worker thread (calls to one local model stay serialized)."""
        return await asyncio.to_thread(partial(self.structured, prompt, variables, output, **kwargs))

    # -- internals -------------------------------------------------------------------------

    def _key(self, template: PromptTemplate, request: ChatRequest, rendered: str) -> str:
        return response_key(
            prompt_ref=template.ref,
            prompt_sha256=template.sha256,
            provider=self.provider.name,
            model=self.provider.model,
            backend=self.provider.describe(),
            params={
                "temperature": request.temperature,
                "max_tokens": request.max_tokens,
                "seed": request.seed,
                **({"top_logprobs": request.top_logprobs} if request.top_logprobs else {}),
            },
            schema=request.schema,
            rendered=rendered,
        )

    def _from_cache(
        self, cache: ResponseCache, key: str, model: type[T], template: PromptTemplate, usage: CallUsage
    ) -> Result[T] | None:
        entry = cache.get(key)
        if entry is None:
            return None
        try:
            value = model.model_validate(entry["value"])
        except (KeyError, ValidationError):
            return None  # unreadable entry: recompute and overwrite
        usage.cache_hit = True
        self.usage.record(usage)
        return Result(value, template.ref, template.sha256, str(self.spec), cached=True, usage=usage)

    def _ask(
        self, request: ChatRequest, model: type[T], template: PromptTemplate, usage: CallUsage, listed: int = 0
    ) -> Result[T] | Failure:
        """Call, validate, and re-ask with the errors up to `max_repairs` times (a probability is asked once:
        the same prompt at temperature 0 gives the same first token); `listed`: the count of a yes/no list."""
        messages = list(request.messages)
        errors: list[str] = []
        text = ""
        attempts = 0
        for _ in range(1 if request.top_logprobs else self.settings.max_repairs + 1):
            current = replace(request, messages=tuple(messages))
            try:
                completion, tries = call_with_retries(
                    partial(self.provider.complete, current),
                    self.retry,
                    self._log_retry,
                )
            except RetriesExhausted as exc:
                return self._failure("transient", str(exc.last), template, attempts + exc.attempts, usage, text, errors)
            except ProviderError as exc:
                return self._failure("provider_error", str(exc), template, attempts + 1, usage, text, errors)
            attempts += tries
            self._account(usage, completion)
            text = completion.text
            if request.top_logprobs and listed:
                answers = yes_probabilities(completion.token_logprobs, listed)
                if answers is None:
                    errors = [
                        f"the answer does not hold {listed} yes/no tokens with their alternatives: {text[:200]!r}"
                    ]
                    break
                return Result(
                    model.model_validate({"answers": [a.model_dump() for a in answers]}),
                    template.ref,
                    template.sha256,
                    str(self.spec),
                    cached=False,
                    usage=usage,
                )
            if request.top_logprobs:
                answer = yes_probability(completion.first_token_logprobs)
                if answer is None:
                    top = ", ".join(
                        sorted(
                            completion.first_token_logprobs,
                            key=completion.first_token_logprobs.__getitem__,
                            reverse=True,
                        )[:5]
                    )
                    errors = [f"the first token was neither yes nor no (most likely: {top or 'none reported'})"]
                    break
                return Result(
                    model.model_validate(answer.model_dump()),
                    template.ref,
                    template.sha256,
                    str(self.spec),
                    cached=False,
                    usage=usage,
                )
            try:
                value = model.model_validate(extract_json(text))
            except (ValidationError, json.JSONDecodeError) as exc:
                errors = validation_errors(exc)
                log.info("%s: answer failed validation (%s); asking again", template.ref, "; ".join(errors))
                messages += [
                    {"role": "assistant", "content": text},
                    {"role": "user", "content": repair_message(errors)},
                ]
                continue
            return Result(value, template.ref, template.sha256, str(self.spec), cached=False, usage=usage)
        return self._failure("invalid_output", "; ".join(errors), template, attempts, usage, text, errors)

    def _account(self, usage: CallUsage, completion: Completion) -> None:
        usage.add_call(
            completion.input_tokens, completion.output_tokens, completion.latency_s, self._price, completion.stats
        )

    def _failure(
        self,
        kind: FailureKind,
        message: str,
        template: PromptTemplate,
        attempts: int,
        usage: CallUsage,
        raw: str,
        errors: list[str],
    ) -> Failure:
        log.warning("%s with %s failed (%s): %s", template.ref, self.spec, kind, message)
        return Failure(
            kind,
            message,
            template.ref,
            template.sha256,
            str(self.spec),
            attempts,
            usage,
            raw[:RAW_KEEP] or None,
            errors,
        )

    def _log_retry(self, attempt: int, wait: float, exc: Exception) -> None:
        log.info("%s: transient error (%s); retry %d in %.1f s", self.spec, exc, attempt, wait)


def get_llm(
    spec: str | None = None, settings: LLMSettings | None = None, *, cache: ResponseCache | None | bool = True
) -> LLM:
    """An `LLM` for `spec` ("provider:model"; default from XP_LLM, the config file, or `local`).

    `cache=True` uses the run directory's response cache; pass a `ResponseCache` to use
    another one, or False to disable caching.
    """
    settings = settings or load_settings(spec)
    resolved = parse_spec(spec or settings.llm, settings)
    provider = build_provider(resolved, settings)
    chosen = ResponseCache() if cache is True else (cache or None)
    return LLM(provider, settings, cache=chosen, spec=resolved)
