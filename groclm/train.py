"""GroCLM's LoRA training (paper sections 3.1-3.2) on the SmolLM2 backbone, on the CPU, within a time budget.

Both stages share one LoRA adapter (as in the paper): Stage 1 (rebuying cycles) trains it first, Stage 2
(household history -> next basket) goes on training the same layers. Each stage is one pass over its
examples in a seeded shuffle, batches left-padded, the loss (mean token cross-entropy) on the answer tokens
only, their logits alone computed; AdamW with a constant learning rate after a short warm-up. A stage stops cleanly before a step that
would overrun its minutes (the step's time is estimated from the last one), so a budget is a budget: what
ran is recorded (steps, examples, seconds, the loss of every step).

The backbone is a fresh copy (not the cached inference model) so training never alters what others decode
with. One torch thread by default: the machine's cores are shared.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from xpollinate.errors import XPError
from xpollinate.groclm.stages import Example

Progress = Callable[[str, int, int], None]
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


@dataclass(frozen=True)
class LoraSettings:
    """The adapter's shape and the optimiser (the paper: r 64, alpha 16, dropout 0.1 on an 8B model; a 135M
    model on a CPU budget gets a smaller rank and a higher learning rate)."""

    rank: int = 16
    alpha: int = 32
    dropout: float = 0.05
    learning_rate: float = 5e-4
    warmup_steps: int = 4
    batch_size: int = 8

    def check(self) -> None:
        if self.rank < 1 or self.alpha < 1 or self.batch_size < 1 or self.warmup_steps < 0:
            raise XPError(f"LoRA rank, alpha and batch size must be at least 1, got {self}")
        if not 0.0 <= self.dropout < 1.0 or not self.learning_rate > 0:
            raise XPError(f"LoRA dropout must be in [0, 1) and the learning rate positive, got {self}")


@dataclass
class StageRun:
    """What one stage did."""

    name: str
    examples: int  # examples in the stage's data
    steps_planned: int
    steps: int = 0
    examples_seen: int = 0
    tokens: int = 0  # tokens forwarded, padding excluded
    seconds: float = 0.0
    stopped_by_budget: bool = False
    loss: list[float] = field(default_factory=list)  # per step

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["loss"] = [round(v, 4) for v in self.loss]
        data["seconds"] = round(self.seconds, 1)
        data["loss_first"] = data["loss"][0] if self.loss else None
        data["loss_last5"] = round(sum(self.loss[-5:]) / len(self.loss[-5:]), 4) if self.loss else None
        return data


def peft_model(base: Any, settings: LoraSettings) -> Any:
    """The base model wrapped with a fresh LoRA adapter on every attention and MLP projection."""
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(TARGET_MODULES),
        task_type="CAUSAL_LM",
    )
    return get_peft_model(base, config)


def collate(batch: Sequence[Example], pad_id: int) -> tuple[Any, Any, Any, Any]:
    """Left-padded input ids, attention mask, position ids and the answers' labels: every answer ends the row,
    so the logits (a 49k vocabulary) are computed only over the last `labels.shape[1] + 1` positions."""
    import torch

    width = max(len(e) for e in batch)
    span = max(len(e.answer) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), span), -100, dtype=torch.long)
    for i, e in enumerate(batch):
        seq = e.prompt + e.answer
        ids[i, width - len(seq) :] = torch.tensor(seq)
        mask[i, width - len(seq) :] = 1
        labels[i, span - len(e.answer) :] = torch.tensor(e.answer)
    positions = (mask.cumsum(1) - 1).clamp(min=0)
    return ids, mask, positions, labels


def answer_loss(model: Any, ids: Any, mask: Any, positions: Any, labels: Any) -> Any:
    """Mean cross-entropy of the answer tokens (logits only where they are predicted)."""
    import torch

    span = labels.shape[1]
    out = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=span + 1)
    logits = out.logits[:, :-1, :]
    return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), labels.reshape(-1))


def run_stage(
    model: Any,
    optimizer: Any,
    examples: Sequence[Example],
    name: str,
    settings: LoraSettings,
    max_seconds: float,
    seed: int = 0,
    pad_id: int = 0,
    progress: Progress | None = None,
    max_steps: int | None = None,
    on_step: Callable[[StageRun], None] | None = None,
) -> StageRun:
    """One pass over `examples` (shuffled with `seed`), stopping before a step that would pass `max_seconds`
    or after `max_steps` steps (a step budget: runs compared at equal steps see the same batches, since the
    shuffle depends on the seed alone). `on_step` sees the run after every step (e.g. to save a snapshot)."""
    import torch

    if max_steps is not None and max_steps < 0:
        raise XPError(f"{name}: a step budget must be 0 or more, got {max_steps}")
    order = list(examples)
    random.Random(seed).shuffle(order)
    batches = [order[i : i + settings.batch_size] for i in range(0, len(order), settings.batch_size)]
    if max_steps is not None:
        batches = batches[:max_steps]
    run = StageRun(name, len(examples), len(batches))
    say = progress or (lambda _s, _n, _t: None)
    say(name, 0, len(batches))
    model.train()
    started = last = time.perf_counter()
    step_seconds = 0.0
    for batch in batches:
        if run.steps and (time.perf_counter() - started) + step_seconds > max_seconds:
            run.stopped_by_budget = True
            break
        ids, mask, positions, labels = collate(batch, pad_id)
        loss = answer_loss(model, ids, mask, positions, labels)
        if not torch.isfinite(loss):
            raise XPError(f"{name}: the loss is {float(loss)} at step {run.steps + 1}; lower the learning rate")
        loss.backward()
        torch.nn.utils.clip_grad_norm_([p for p in model.parameters() if p.requires_grad], 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        run.steps += 1
        run.examples_seen += len(batch)
        run.tokens += int(mask.sum())
        run.loss.append(float(loss.detach()))
        now = time.perf_counter()
        step_seconds, last = now - last, now
        run.seconds = now - started
        say(name, run.steps, len(batches))
        if on_step is not None:
            on_step(run)
    run.seconds = time.perf_counter() - started
    model.eval()
    return run


def make_optimizer(model: Any, settings: LoraSettings) -> Any:
    """AdamW over the adapter's weights, linear warm-up then constant."""
    import torch

    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.learning_rate, weight_decay=0.0)
    warm = max(settings.warmup_steps, 0)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / (warm + 1)))
    return _Stepper(optimizer, scheduler)


class _Stepper:
    """The optimiser and its schedule stepped together."""

    def __init__(self, optimizer: Any, scheduler: Any) -> None:
        self.optimizer, self.scheduler = optimizer, scheduler

    def step(self) -> None:
        self.optimizer.step()
        self.scheduler.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)
