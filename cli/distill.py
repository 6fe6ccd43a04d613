"""`xp distill`: the storefront's teacher-student distillation (collect the teacher's answers, train the student)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Optional

import typer

from xpollinate.cli.common import JsonOption, emit_json, err, handle_errors, out
from xpollinate.cli.options import LLMOption

app = typer.Typer(
    help="Teacher-student distillation of the storefront's themes and keywords (SmolLM2-135M + LoRA).",
    no_args_is_help=True,
)


@app.command("collect")
@handle_errors
def collect_cmd(
    households: Annotated[int, typer.Option(help="Training households (seeded draw among those with history).")] = 20,
    test: Annotated[int, typer.Option(help="Held-out households (collected first; the comparison's test set).")] = 5,
    k: Annotated[int, typer.Option("--k", help="Placements asked per household (1-12).")] = 3,
    keywords: Annotated[int, typer.Option(help="Keywords asked per placement (1-10).")] = 4,
    seed: Annotated[int, typer.Option(help="Seed of the household split.")] = 0,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Dataset folder (default: $XP_HOME/storefront/distill/<teacher>).")
    ] = None,
    llm: LLMOption = None,
    json_out: JsonOption = None,
) -> None:
    """Run the teacher (the configured LLM) through the page's real placements@v1 and placement_keywords@v1 calls
    for the held-out then the training households, appending each call's inputs, parsed answer and cold seconds
    to a JSONL dataset as it goes (a rerun with the same settings resumes)."""
    from xpollinate.storefront.distill_collect import collect, plan
    from xpollinate.storefront.distill_data import DistillDataset, distill_dir
    from xpollinate.storefront.page import PageOptions, Storefront

    PageOptions(k=k, keywords=keywords).check()
    with err.status("distill: data store and teacher"):
        sf = Storefront.open(llm=llm, cache=False)
    manifest = plan(sf, households, test, seed, k, keywords, PageOptions().shortlist)
    dataset = DistillDataset(out_dir or distill_dir(manifest.teacher))
    with err.status("distill: teacher calls") as live:
        made = collect(sf, dataset, manifest, lambda n, what: live.update(f"distill: {n} calls made; {what}"))
    records = dataset.records()
    summary = {
        "dataset": str(dataset.folder),
        "teacher": manifest.teacher,
        "new_calls": made,
        "records": len(records),
        "failed": sum(not r.ok for r in records),
        "cold_calls": sum(not r.cached for r in records),
        "cold_seconds": round(sum(r.seconds for r in records if not r.cached), 1),
    }
    if emit_json(json_out, summary):
        return
    out.print(
        f"{summary['records']} teacher calls in {summary['dataset']} ({made} new, {summary['failed']} failed); "
        f"{summary['cold_calls']} cold calls took {summary['cold_seconds']} s",
        highlight=False,
    )


@app.command("train")
@handle_errors
def train_cmd(
    minutes: Annotated[
        float, typer.Option(help="Training budget in minutes (stops before a step would pass it).")
    ] = 10.0,
    max_steps: Annotated[Optional[int], typer.Option(help="Stop after this many optimizer steps.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the example shuffles.")] = 0,
    batch_size: Annotated[int, typer.Option(help="Examples per step (memory grows with it: ~2 GB an example).")] = 4,
    threads: Annotated[int, typer.Option(help="torch threads (the machine's cores are shared).")] = 1,
    name: Annotated[Optional[str], typer.Option(help="Adapter name (default: a timestamp).")] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Dataset folder (default: the configured teacher's).")
    ] = None,
    llm: LLMOption = None,
    json_out: JsonOption = None,
) -> None:
    """Train the student (SmolLM2-135M + LoRA) on the teacher dataset's training households, both tasks, within
    the budget; publish the adapter atomically with its config (the storefront's --generator student uses it)."""
    import torch

    from xpollinate.cli.common import stage_bars
    from xpollinate.errors import XPError
    from xpollinate.storefront.distill_data import open_dataset
    from xpollinate.storefront.student_train import STUDENT_LORA, train_student

    if threads < 1:
        raise XPError(f"--threads {threads}: need at least 1")
    torch.set_num_threads(threads)
    dataset = open_dataset(out_dir, llm)
    with stage_bars(transient=True) as progress:
        run = train_student(
            dataset,
            minutes=minutes,
            max_steps=max_steps,
            settings=replace(STUDENT_LORA, batch_size=batch_size),
            seed=seed,
            name=name,
            progress=progress,
        )
    losses = [v for p in run.passes for v in p.loss]
    summary = {
        "adapter": str(run.adapter),
        "examples": {"themes": run.data.themes, "keywords": run.data.keywords},
        "train_households": run.data.households,
        "passes": len(run.passes),
        "steps": run.steps,
        "loss_first": round(losses[0], 4) if losses else None,
        "loss_last5": round(sum(losses[-5:]) / len(losses[-5:]), 4) if losses else None,
        "seconds": round(run.seconds, 1),
    }
    if emit_json(json_out, summary):
        return
    out.print(
        f"student {run.adapter.name}: {run.steps} steps over {len(run.passes)} passes of {len(run.data.examples)} "
        f"examples ({run.data.themes} themes, {run.data.keywords} keywords; {run.data.households} households), "
        f"loss {summary['loss_first']} -> {summary['loss_last5']}, {summary['seconds']} s; published {run.adapter}",
        highlight=False,
    )


@app.command("eval")
@handle_errors
def eval_cmd(
    items: Annotated[int, typer.Option(help="Items per placement on both pages.")] = 6,
    extra: Annotated[
        int, typer.Option(help="More households outside the dataset for the student-only validity check (0: none).")
    ] = 20,
    threads: Annotated[int, typer.Option(help="torch threads of the student (the machine's cores are shared).")] = 1,
    results: Annotated[
        Optional[Path], typer.Option(help="Write the results page (storefront-student: md, html, json) here.")
    ] = None,
    out_dir: Annotated[
        Optional[Path], typer.Option("--out", help="Dataset folder (default: the configured teacher's).")
    ] = None,
    llm: LLMOption = None,
    json_out: JsonOption = None,
) -> None:
    """The student against its teacher on the dataset's held-out households: two pages each through the same
    pipeline, the teacher model judging both (mean P(fits theme) over every item), constraint validity, and
    themes + keywords seconds per page (teacher: its cold collection calls; student: measured)."""
    import torch

    from xpollinate.cli.common import stage_bars
    from xpollinate.errors import XPError
    from xpollinate.reports import git_commit
    from xpollinate.storefront import student_report
    from xpollinate.storefront.distill_data import open_dataset
    from xpollinate.storefront.page import Storefront
    from xpollinate.storefront.student_eval import run_student_eval

    if threads < 1:
        raise XPError(f"--threads {threads}: need at least 1")
    commit = git_commit() if results is not None else None
    torch.set_num_threads(threads)
    dataset = open_dataset(out_dir, llm)
    with err.status("distill: data store, teacher and student"):
        sf = Storefront.open(llm=llm, cache=False)
    with stage_bars(transient=True) as progress:
        result = run_student_eval(sf, dataset, items=items, extra=extra, progress=progress)
    data = student_report.payload(result)
    if not emit_json(json_out, data):
        m = result.summary
        for side in ("teacher", "student"):
            v = m[side]
            out.print(
                f"{side}: judge {v['judge_mean_all']} (pages with placements {v['pages_with_placements']}), themes valid {v['themes_valid_share']}, keywords outside "
                f"{v['keywords_outside_vocabulary']} of {v['keywords']}, {v['generation_seconds_mean']} s per page",
                highlight=False,
            )
        out.print(
            f"{m['households']} held-out households; judge share {m['judge_share']} (within 10%: "
            f"{m['within_10_percent']}); latency ratio {m['latency_ratio']}",
            highlight=False,
        )
    if results is not None:
        err.print(f"wrote {student_report.write(result, data, results, commit)}")
