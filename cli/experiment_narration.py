"""`xp experiments run narration`: user narration (zero-shot LLM profile -> text retrieval) against the user tower."""

from __future__ import annotations

from pathlib import Path

from xpollinate.cli.common import emit_json, err, metrics_table, out, stage_bars


def run(
    households: int | None, seed: int, llm: str | None, threads: int, results: Path | None, json_out: Path | None
) -> None:
    """Sample the households, run every method, print the table and write the page when asked."""
    import torch

    from xpollinate.catalog.store import DataStore
    from xpollinate.llm import get_llm
    from xpollinate.reports import git_commit
    from xpollinate.retrieval.twotower.recommend import Recommender
    from xpollinate.storefront import narration_report
    from xpollinate.storefront.narration import DEFAULT_HOUSEHOLDS, NarrationError, run_narration

    n = DEFAULT_HOUSEHOLDS if households is None else households
    if n < 1:
        raise NarrationError(f"--households {n}: sample at least 1 household")
    if threads < 1:
        raise NarrationError(f"--threads {threads}: need at least 1 torch thread")
    commit = git_commit() if results is not None else None
    torch.set_num_threads(threads)
    store = DataStore.open()
    model = get_llm(llm)
    tower = Recommender(store)
    with stage_bars(transient=True) as progress:
        result = run_narration(store, model, tower, households=n, seed=seed, progress=progress)
    data = narration_report.payload(result)
    if not emit_json(json_out, data):
        s = result.settings
        title = f"{s['households']} households, held-out weeks {s['test_weeks']}"
        out.print(metrics_table(title, "method", result.metrics))
        secs = data["llm_seconds_per_household"]
        out.print(
            f"LLM {s['llm']}: {secs['mean']} s per household (median {secs['median']}), "
            f"{result.cache_hits} cache hits, {result.failures} failed"
        )
    if results is not None:
        err.print(f"wrote {narration_report.write(result, data, results, commit)}")
