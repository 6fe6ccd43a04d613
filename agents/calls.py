"""One way for agents and judges to call the LLM layer and turn its answer into a state update."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import as_completed
from typing import Any, TypeVar

from langchain_core.runnables.config import ContextThreadPoolExecutor
from langgraph.config import get_stream_writer
from pydantic import BaseModel

from xpollinate.llm import LLM, Failure, Result
from xpollinate.llm.usage import CallUsage
from xpollinate.prompts.render import PromptVariableError
from xpollinate.prompts.schemas import Picks, ThemeNames, YesProbability
from xpollinate.records import Anchor, CallRef, FailureRecord, Stage

# Output models of the lean prompts: they name the anchor by its product type in words; the paper's
# prompts (Appendix A) name it with its full text and product type.
LEAN_OUTPUTS = (ThemeNames, Picks, YesProbability)

T = TypeVar("T")
X = TypeVar("X")


def call_ref(result: Result[Any] | Failure) -> CallRef:
    return CallRef(prompt=result.prompt, prompt_sha256=result.prompt_sha256, llm=result.llm)


def failure_record(failure: Failure, stage: Stage, subject: str) -> FailureRecord:
    return FailureRecord(
        stage=stage,
        prompt=failure.prompt,
        kind=failure.kind,
        message=failure.message[:500],
        attempts=failure.attempts,
        subject=subject[:200],
    )


def is_lean(llm: LLM, prompt: str) -> bool:
    """Whether `prompt` is one of the lean prompts (short names, yes/no probabilities) rather than the paper's."""
    output = llm.registry.get(prompt).output_model
    return output is not None and issubclass(output, LEAN_OUTPUTS)


def anchor_words(llm: LLM, prompt: str, anchor: Anchor) -> str:
    """The anchor as `prompt` names it: the lean prompts get its product type (with its category for a yes/no
    question), the paper's its full text."""
    if not is_lean(llm, prompt):
        return anchor.prompt_text
    output = llm.registry.get(prompt).output_model
    return anchor.label if output is not None and issubclass(output, YesProbability) else anchor.name


def ask(
    llm: LLM, prompt: str, variables: Mapping[str, object], output: type[BaseModel] | None = None
) -> Result[Any] | Failure:
    """The LLM layer's structured call (validation, repair, retries, cache); never raises on bad output.

    The answer's type is the prompt version's output model (chosen at run time), hence `Any`.
    Variables come from earlier model answers and catalog rows; one that the prompt cannot take
    (empty, too long) is a failure of this item (`invalid_input`), not of the run."""
    try:
        return llm.structured(prompt, variables, output)
    except PromptVariableError as exc:
        template = llm.registry.get(prompt)
        return Failure(
            kind="invalid_input",
            message=str(exc),
            prompt=template.ref,
            prompt_sha256=template.sha256,
            llm=str(llm.spec),
            attempts=0,
            usage=CallUsage(llm.provider.name, llm.provider.model, template.ref),
        )


def report_progress(stage: str, done: int, total: int) -> None:
    """A long node's progress on LangGraph's custom stream (`stream_mode="custom"`); a no-op outside a graph."""
    try:
        writer = get_stream_writer()
    except RuntimeError:  # not inside a graph run
        return
    writer({"stage": stage, "done": done, "total": total})


def bounded_map(fn: Callable[[X], T], items: Iterable[X], workers: int, stage: str | None = None) -> list[T]:
    """`fn` over `items` with at most `workers` in flight, results in input order; with `stage`, each finished
    item is reported as progress (`report_progress`).

    A shared local model serializes its own calls; remote providers gain real concurrency. The
    workers run in copies of the caller's context, so their LLM calls reach the LangChain callbacks
    of the node that started them (`llm.tracing`).
    """
    items = list(items)
    total = len(items)
    if workers <= 1 or total <= 1:
        out = []
        for i, x in enumerate(items, start=1):
            out.append(fn(x))
            if stage:
                report_progress(stage, i, total)
        return out
    with ContextThreadPoolExecutor(max_workers=workers, thread_name_prefix="xp-llm") as pool:
        futures = [pool.submit(fn, x) for x in items]
        for i, _ in enumerate(as_completed(futures), start=1):
            if stage:
                report_progress(stage, i, total)
        return [f.result() for f in futures]
