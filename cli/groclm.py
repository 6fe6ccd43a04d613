"""`xp groclm prepare|eval`: GroCLM's category tasks, rebuying cycles and baselines (docs/groclm.md)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from xpollinate.cli.common import JsonOption, emit_json, err, handle_errors, out, stage_bars
from xpollinate.errors import XPError

app = typer.Typer(
    help="GroCLM: next-basket and in-basket product-category recommendation, rebuying cycles, baselines.",
    no_args_is_help=True,
)

TrainUntilOption = Annotated[int, typer.Option(help="Last training week (cycles, popularity, neighbours).")]
ValUntilOption = Annotated[int, typer.Option(help="Last validation week; the test weeks follow.")]


def _seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise XPError(f"--seeds {text!r}: give comma-separated integers, e.g. 0,1,2") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise XPError(f"--seeds {text!r}: give one or more distinct integers, e.g. 0,1,2")
    return seeds


@app.command("prepare")
@handle_errors
def prepare_cmd(
    train_until: TrainUntilOption = 41,
    min_households: Annotated[
        int, typer.Option(help="Repeating households a category needs for a cycle (the paper: 5).")
    ] = 5,
    json_out: JsonOption = None,
) -> None:
    """Rebuying cycles of the training weeks (mean and sd of days between a household's repeat purchases, per
    category), written to $XP_HOME/groclm/ as cycles.parquet and stage1.jsonl (GroCLM's stage-1 records)."""
    import json

    from xpollinate.catalog.store import DataStore
    from xpollinate.groclm.baskets import CategoryBaskets
    from xpollinate.groclm.rebuy import cycle_stats
    from xpollinate.publish import write_file
    from xpollinate.settings import ensure_dir, run_home

    if min_households < 1:
        raise XPError(f"--min-households must be at least 1, got {min_households}")
    store = DataStore.open()
    with err.status("category baskets"):
        cb = CategoryBaskets.from_store(store)
    if train_until < 1 or train_until > int(cb.week.max()):
        raise XPError(f"--train-until {train_until}: choose a week from 1 to {int(cb.week.max())}")
    stats = cycle_stats(cb, train_until, min_households)
    folder = ensure_dir(run_home() / "groclm" / f"{store.build_id}-t{train_until}-h{min_households}")
    stats.to_parquet(folder / "cycles.parquet.tmp", index=False)
    (folder / "cycles.parquet.tmp").replace(folder / "cycles.parquet")
    lines = [
        json.dumps({"category": r.name, "mean_days": round(r.mean_days, 1), "sd_days": _round(r.sd_days)})
        for r in stats.itertuples(index=False)
    ]
    write_file(folder / "stage1.jsonl", ("\n".join(lines) + "\n").encode())
    summary = {
        "data_build": store.build_id,
        "train_until": train_until,
        "categories": cb.n_categories,
        "with_cycle": len(stats),
        "folder": str(folder),
        "shortest": stats.nsmallest(5, "mean_days")[["name", "mean_days", "sd_days", "households"]].to_dict("records"),
    }
    if emit_json(json_out, summary):
        return
    out.print(
        f"{len(stats)} of {cb.n_categories} categories have a rebuying cycle (>= {min_households} repeating "
        f"households, weeks 1-{train_until}); wrote {folder}/cycles.parquet and stage1.jsonl"
    )
    for r in stats.nlargest(8, "households").itertuples(index=False):
        out.print(f"  {r.name.title():<34} {r.mean_days:6.1f} ± {r.sd_days:5.1f} days  ({r.households} households)")


def _round(value: float) -> float | None:
    return None if value != value else round(value, 1)


@app.command("train")
@handle_errors
def train_cmd(
    max_minutes: Annotated[
        float, typer.Option(help="Budget for both stages; each stops cleanly before overrunning.")
    ] = 30.0,
    stage1_minutes: Annotated[float, typer.Option(help="Stage 1's share of the budget (0: skip Stage 1).")] = 5.0,
    stage2_examples: Annotated[int, typer.Option(help="Training-week baskets sampled for Stage 2.")] = 400,
    from_week: Annotated[int, typer.Option(help="Stage 2's baskets from this week to --train-until.")] = 21,
    max_prompt_tokens: Annotated[
        int, typer.Option(help="Prompt length (chat markup included), kept at decoding.")
    ] = 256,
    max_targets: Annotated[int, typer.Option(help="Categories per Stage-2 answer at most.")] = 20,
    batch_size: Annotated[int, typer.Option(help="Examples per step.")] = 8,
    rank: Annotated[int, typer.Option(help="LoRA rank.")] = 16,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 5e-4,
    seed: Annotated[int, typer.Option(help="Seeds the Stage-2 sample and the shuffles.")] = 0,
    threads: Annotated[int, typer.Option(help="torch threads (1 suits a shared 2-core machine).")] = 1,
    train_until: TrainUntilOption = 41,
    min_households: Annotated[int, typer.Option(help="Repeating households a category needs for a cycle.")] = 5,
    keep_current: Annotated[
        bool, typer.Option("--keep-current", help="Publish without pointing CURRENT at it (an ablation's adapter).")
    ] = False,
    stage1_steps: Annotated[
        Optional[int], typer.Option(help="Stage 1's step budget (0: skip Stage 1; default: its minutes alone).")
    ] = None,
    stage2_steps: Annotated[
        Optional[int], typer.Option(help="Stage 2's step budget (0: Stage 1 only; default: the minutes alone).")
    ] = None,
    save_steps: Annotated[
        Optional[list[int]],
        typer.Option(help="Also publish Stage 2's adapter after this many steps (repeatable; a data-size curve)."),
    ] = None,
    save_stage1: Annotated[
        bool, typer.Option("--save-stage1", help="Also publish the adapter after Stage 1 (the Stage-1-only row).")
    ] = False,
    init_adapter: Annotated[
        Optional[Path],
        typer.Option(help="Start Stage 2 from this adapter (its Stage 1 shared by several runs); skips Stage 1."),
    ] = None,
    grad_checkpointing: Annotated[
        bool,
        typer.Option(
            "--grad-checkpointing",
            help="Recompute activations in the backward pass: the same numbers in a fraction of the memory, ~30% slower.",
        ),
    ] = False,
    prompt_style: Annotated[
        Literal["plain", "cycles"],
        typer.Option(help="Stage 2's prompt: plain, or cycles (each shown category's rebuying cycle in context)."),
    ] = "plain",
    json_out: JsonOption = None,
) -> None:
    """GroCLM's two LoRA stages on SmolLM2-135M (one shared adapter): Stage 1 the rebuying cycles, Stage 2 the
    next basket's categories from a household's history; published under $XP_HOME/groclm/.../adapters/."""
    import torch

    from xpollinate.catalog.store import DataStore
    from xpollinate.groclm import stages
    from xpollinate.groclm.adapter import adapters_root, check_vocabulary, publish_adapter
    from xpollinate.groclm.backbone import fresh_backbone
    from xpollinate.groclm.baselines import popularity
    from xpollinate.groclm.baskets import CategoryBaskets
    from xpollinate.groclm.rebuy import cycle_stats
    from xpollinate.groclm.train import TARGET_MODULES, LoraSettings, make_optimizer, peft_model, run_stage
    from xpollinate.reports import git_commit
    from xpollinate.settings import run_home

    if not max_minutes > 0 or not 0 <= stage1_minutes < max_minutes:
        raise XPError(
            f"--max-minutes must be positive and --stage1-minutes in [0, --max-minutes), got {max_minutes} and "
            f"{stage1_minutes}"
        )
    for value, flag in (
        (stage2_examples, "--stage2-examples"),
        (max_targets, "--max-targets"),
        (threads, "--threads"),
    ):
        if value < 1:
            raise XPError(f"{flag} must be at least 1, got {value}")
    if max_prompt_tokens < 128:
        raise XPError(f"--max-prompt-tokens {max_prompt_tokens}: give at least 128 (the prompt's markup alone)")
    for budget, flag in ((stage1_steps, "--stage1-steps"), (stage2_steps, "--stage2-steps")):
        if budget is not None and budget < 0:
            raise XPError(f"{flag} must be 0 or more, got {budget}")
    snapshots = sorted(set(save_steps or []))
    if snapshots and (snapshots[0] < 1 or (stage2_steps is not None and snapshots[-1] >= stage2_steps)):
        raise XPError(f"--save-steps {snapshots}: give Stage-2 steps from 1 to below --stage2-steps ({stage2_steps})")
    if init_adapter is not None and stage1_steps:
        raise XPError("--init-adapter and --stage1-steps exclude each other: the init adapter's Stage 1 is used")
    do_stage1 = init_adapter is None and stage1_minutes > 0 and stage1_steps != 0
    settings = LoraSettings(rank=rank, alpha=2 * rank, learning_rate=learning_rate, batch_size=batch_size)
    settings.check()
    started = time.perf_counter()
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    store = DataStore.open()
    with err.status("category baskets"):
        cb = CategoryBaskets.from_store(store)
    if train_until < 1 or train_until >= int(cb.week.max()):
        raise XPError(f"--train-until {train_until}: choose a week from 1 to {int(cb.week.max()) - 1}")
    with err.status("SmolLM2 (GGUF -> torch)"):
        base = fresh_backbone()
    tok = base.tokenizer
    pop = popularity(cb, train_until)
    init_config: dict[str, Any] | None = None
    if init_adapter is not None:
        from xpollinate.groclm.adapter import read_config, resolve_adapter

        init_adapter = resolve_adapter(init_adapter, init_adapter)
        init_config = read_config(init_adapter)
        check_vocabulary(init_config.get("categories", []), cb.names, f"the init adapter {init_adapter.name}")
        if init_config.get("data_build") != store.build_id or int(init_config.get("train_until", -1)) != train_until:
            raise XPError(
                f"--init-adapter {init_adapter}: trained on data build {init_config.get('data_build')} to week "
                f"{init_config.get('train_until')}, not {store.build_id} to week {train_until}"
            )
        trained = init_config.get("lora", {})
        if int(trained.get("rank", rank)) != rank:
            raise XPError(f"--init-adapter {init_adapter}: its LoRA rank is {trained.get('rank')}, not --rank {rank}")
    with err.status("training examples"):
        stats = cycle_stats(cb, train_until, min_households)
        s1 = stages.stage1_examples(tok, stats) if do_stage1 else []
        cycles = stages.cycle_lookup(stats) if prompt_style == "cycles" else None
        s2 = stages.stage2_examples(
            tok, cb, pop, train_until, stage2_examples, seed, from_week, max_prompt_tokens, max_targets, cycles
        )
    if init_adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(base.model, str(init_adapter), is_trainable=True)
    else:
        model = peft_model(base.model, settings)
    if grad_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    optimizer = make_optimizer(model, settings)
    pad = int(tok.pad_token_id)
    runs: list[Any] = []
    root = adapters_root(run_home(), store.build_id, train_until)
    name = time.strftime("a%Y%m%d-%H%M%S", time.gmtime())

    def describe(done: list[Any]) -> dict[str, Any]:
        return {
            "base_model": base.model_id,
            "commit": git_commit(),
            "data_build": store.build_id,
            "train_until": train_until,
            "categories": list(cb.names),
            "max_prompt_tokens": max_prompt_tokens,
            "max_targets": max_targets,
            "prompt_style": prompt_style,
            "grad_checkpointing": grad_checkpointing,
            "lora": {**settings.__dict__, "target_modules": list(TARGET_MODULES)},
            "seed": seed,
            "threads": threads,
            "stage1": {"categories_with_cycle": len(stats), "min_households": min_households},
            "stage2": {
                "from_week": from_week,
                "baskets_sampled": len(s2.examples),
                "eligible_baskets": s2.candidates,
                "answers_cut": s2.targets_cut,
                "histories_cut": s2.history_cut,
                "prompt_tokens_mean": round(sum(len(e.prompt) for e in s2.examples) / len(s2.examples), 1),
                "answer_tokens_mean": round(sum(len(e.answer) for e in s2.examples) / len(s2.examples), 1),
                "history_shown_mean": s2.shown_mean,
            },
            "init_adapter": (
                None
                if init_config is None or init_adapter is None
                else {"name": init_adapter.name, "runs": init_config.get("runs", [])}
            ),
            "runs": [r.to_json() for r in done],
            "train_seconds": round(sum(r.seconds for r in done), 1),
            "wall_seconds": round(time.perf_counter() - started, 1),
            "max_minutes": max_minutes,
            "stage1_minutes": stage1_minutes,
            "stage1_steps": stage1_steps,
            "stage2_steps": stage2_steps,
            "created": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        }

    def snapshot(run: Any) -> None:
        if run.steps in snapshots:
            publish_adapter(model, describe([*runs, run]), root, f"{name}-s2-{run.steps}", current=False)

    with stage_bars() as tick:
        if s1:
            runs.append(
                run_stage(model, optimizer, s1, "stage1", settings, stage1_minutes * 60, seed, pad, tick, stage1_steps)
            )
            if save_stage1:
                publish_adapter(model, describe(runs), root, f"{name}-stage1", current=False)
        if stage2_steps != 0:
            left = max_minutes * 60 - (time.perf_counter() - started)
            runs.append(
                run_stage(
                    model, optimizer, s2.examples, "stage2", settings, left, seed, pad, tick, stage2_steps, snapshot
                )
            )
    if not runs:
        raise XPError("nothing to train: Stage 1 is skipped and --stage2-steps is 0")
    config = describe(runs)
    folder = publish_adapter(model, config, root, name, current=not keep_current)
    config["folder"] = str(folder)
    if emit_json(json_out, {k: v for k, v in config.items() if k != "categories"}):
        return
    for r in runs:
        first, last = r.to_json()["loss_first"], r.to_json()["loss_last5"]
        out.print(
            f"{r.name}: {r.steps}/{r.steps_planned} steps, {r.examples_seen} of {r.examples} examples, {r.tokens} "
            f"tokens, {r.seconds:.0f} s{' (budget reached)' if r.stopped_by_budget else ''}; loss {first} -> {last} "
            "(last 5 steps)"
        )
    out.print(f"adapter {folder} ({config['wall_seconds']:.0f} s in all)")


@app.command("eval")
@handle_errors
def eval_cmd(
    task: Annotated[
        Optional[Literal["next", "inbasket"]],
        typer.Option(help="next (the next basket's categories) or inbasket (the hidden half's); default both."),
    ] = None,
    seeds: Annotated[str, typer.Option(help="Seeds (comma-separated): each draws its own subsample.")] = "0,1,2",
    max_households: Annotated[int, typer.Option(help="Households sampled per seed (0: all).")] = 500,
    max_examples: Annotated[int, typer.Option(help="Test baskets sampled among theirs per seed (0: all).")] = 5000,
    household: Annotated[Optional[list[int]], typer.Option(help="Only this household's baskets (repeatable).")] = None,
    k: Annotated[Optional[list[int]], typer.Option("--k", help="Cut-offs (repeatable); default 5, 10, 20.")] = None,
    split: Annotated[Literal["test", "val"], typer.Option(help="The weeks evaluated.")] = "test",
    train_until: TrainUntilOption = 41,
    val_until: ValUntilOption = 46,
    min_history: Annotated[
        int, typer.Option(help="Earlier baskets a household needs for the personal baselines (else popularity).")
    ] = 1,
    neighbours: Annotated[int, typer.Option(help="TIFU-KNN's nearest households.")] = 900,
    results: Annotated[
        Optional[Path],
        typer.Option(help="Write the results page groclm-baselines (groclm-lm with --lm) (md, html, json) here."),
    ] = None,
    lm: Annotated[bool, typer.Option("--lm", help="Also the untuned SmolLM2 with the trie (lm_trie; slow).")] = False,
    lm_households: Annotated[int, typer.Option(help="Households per seed for the LM (a smaller subsample).")] = 20,
    lm_examples: Annotated[int, typer.Option(help="Baskets per seed for the LM, among those households.")] = 20,
    lm_beams: Annotated[int, typer.Option(help="The LM's beams (1: greedy).")] = 1,
    lm_batch: Annotated[int, typer.Option(help="Prompts generated together.")] = 8,
    lm_threads: Annotated[int, typer.Option(help="torch threads for the LM (1 suits a shared 2-core machine).")] = 1,
    lm_restock: Annotated[
        bool, typer.Option(help="Also lm_trie_restock: only the household's past categories.")
    ] = False,
    lm_no_trie: Annotated[bool, typer.Option(help="Also lm_no_trie: free generation (the ablation).")] = False,
    tuned: Annotated[
        bool, typer.Option("--tuned", help="The fine-tuned model (groclm) on the LM subset; implies --lm.")
    ] = False,
    adapter: Annotated[
        Optional[Path], typer.Option(help="The adapter folder for --tuned (default: the latest trained).")
    ] = None,
    untuned: Annotated[
        bool, typer.Option(help="With --tuned: also the untuned model with the trie (lm_trie, the paper's AS1).")
    ] = True,
    tuned_beams: Annotated[
        Optional[list[int]], typer.Option(help="With --tuned: also a beam search of this width (repeatable).")
    ] = None,
    latency_households: Annotated[
        int, typer.Option(help="With --tuned: households decoded alone (batch 1) for the per-request latency.")
    ] = 5,
    ablation_adapter: Annotated[
        Optional[list[Path]],
        typer.Option(help="With --tuned: another adapter as a row (e.g. Stage 2 only: groclm_no_stage1; repeatable)."),
    ] = None,
    min_names: Annotated[
        int, typer.Option(help="With --tuned: also groclm_minM, its list not closed before M names (0: no row).")
    ] = 0,
    tune_min_names: Annotated[
        Optional[str],
        typer.Option(
            help="With --tuned: pick M (comma-separated, e.g. 0,5,10) and restock on/off on the validation weeks' "
            "LM subset (--tune-households x --tune-examples per seed); the chosen row is added."
        ),
    ] = None,
    tune_households: Annotated[int, typer.Option(help="Households per seed for --tune-min-names.")] = 10,
    tune_examples: Annotated[int, typer.Option(help="Baskets per seed for --tune-min-names.")] = 10,
    tune_baselines: Annotated[
        bool,
        typer.Option(
            "--tune-baselines",
            help="Choose TIFU-KNN's parameters and cooc_personal's weight on the validation weeks (first seed).",
        ),
    ] = False,
    inbasket_weight: Annotated[
        float, typer.Option(help="cooc_personal's weight of the household's own rate (in-basket task).")
    ] = 1.0,
    json_out: JsonOption = None,
) -> None:
    """Every baseline (popularity, personal top frequency, rebuy-cycle due, TIFU-KNN) on the test baskets: P, R
    and F1 at 5, 10 and 20, mean ± sd (ddof=1) over the seeds."""
    from pydantic import ValidationError

    from xpollinate.catalog.store import DataStore
    from xpollinate.cli.common import validation_message
    from xpollinate.groclm.baselines import make_baselines
    from xpollinate.groclm.baskets import CategoryBaskets
    from xpollinate.groclm.evaluate import MAX_K, evaluate
    from xpollinate.groclm.inbasket import inbasket_baselines
    from xpollinate.groclm.tasks import TASKS, TaskConfig
    from xpollinate.groclm.tifu import TifuParams
    from xpollinate.reports import git_commit

    commit = git_commit() if results is not None else None
    seed_list = _seeds(seeds)
    ks = tuple(sorted(set(k or [5, 10, 20])))
    for value, flag in ((max_households, "--max-households"), (max_examples, "--max-examples")):
        if value < 0:
            raise XPError(f"{flag} must be 0 (all) or more, got {value}")
    if min_history < 0:
        raise XPError(f"--min-history must be 0 or more, got {min_history}")
    if neighbours < 1:
        raise XPError(f"--neighbours must be at least 1, got {neighbours}")
    lm = lm or tuned
    if tuned_beams and any(b < 2 for b in tuned_beams):
        raise XPError(f"--tuned-beams: give widths of 2 or more (1 is the greedy row), got {tuned_beams}")
    if latency_households < 0:
        raise XPError(f"--latency-households must be 0 or more, got {latency_households}")
    if not inbasket_weight > 0:
        raise XPError(f"--inbasket-weight must be positive, got {inbasket_weight}")
    m_grid = _min_names(tune_min_names) if tune_min_names is not None else ()
    for m in (min_names, *m_grid):
        if not 0 <= m <= max(ks):
            raise XPError(f"--min-names {m}: choose 0 to the largest --k ({max(ks)}); a list holds at most k names")
    for value, flag in (
        (tune_households, "--tune-households"),
        (tune_examples, "--tune-examples"),
        (lm_households, "--lm-households"),
        (lm_examples, "--lm-examples"),
        (lm_beams, "--lm-beams"),
        (lm_batch, "--lm-batch"),
        (lm_threads, "--lm-threads"),
    ):
        if value < 1:
            raise XPError(f"{flag} must be at least 1, got {value}")
    try:
        configs = [
            TaskConfig(
                task=name,
                train_until=train_until,
                val_until=val_until,
                split=split,
                max_households=max_households or None,
                max_examples=max_examples or None,
                households=tuple(household) if household else None,
            )
            for name in ([task] if task else TASKS)
        ]
    except ValidationError as exc:
        raise XPError(validation_message(exc).replace("train_until", "--train-until")) from None
    started = time.perf_counter()
    store = DataStore.open()
    with err.status("category baskets"):
        cb = CategoryBaskets.from_store(store)
    bad = [v for v in ks if not 1 <= v <= MAX_K]
    if bad:
        raise XPError(
            f"--k {bad[0]}: choose 1 to {MAX_K} (lists longer than the {cb.n_categories} categories end empty)"
        )
    if household:
        known = set(cb.households())
        unknown = [h for h in household if h not in known]
        if unknown:
            raise XPError(
                f"--household {unknown[0]}: no such household in the data store "
                f"({len(known)} households, ids {min(known)}-{max(known)})"
            )
    tifu_params = TifuParams(neighbours=neighbours)
    validation: dict[str, Any] = {}
    if tune_baselines:
        from xpollinate.groclm.tuning import tune_tifu, tune_weight

        val = configs[0].model_copy(update={"split": "val", "task": "next"})
        with err.status("TIFU-KNN's grid on the validation weeks"):
            tifu_params, validation["tifu_knn"] = tune_tifu(cb, val, seed_list[:1])
        with err.status("cooc_personal's weight on the validation weeks"):
            inbasket_weight, validation["cooc_personal"] = tune_weight(
                cb, val.model_copy(update={"task": "inbasket"}), seed_list[:1], min_history=min_history
            )
        validation["chosen"] = {"tifu_knn": tifu_params.model_dump(), "cooc_personal_weight": inbasket_weight}
    with err.status("baselines on the training weeks (cycles, popularity, TIFU-KNN neighbours)"):
        models = make_baselines(cb, train_until, min_history, tifu_params)
        in_basket = inbasket_baselines(cb, train_until, inbasket_weight, min_history)
    evaluations: dict[str, Any] = {}
    with stage_bars(transient=True) as tick:
        for config in configs:
            evaluations[config.task] = evaluate(
                cb,
                config,
                seed_list,
                ks,
                baselines=[*models, *(in_basket if config.task == "inbasket" else [])],
                progress=_relay(tick, f"{config.task}: baselines x seeds"),
            )
    lm_evaluations: dict[str, Any] = {}
    tuned_info: dict[str, Any] | None = None
    if lm:
        from xpollinate.groclm.backbone import load_backbone
        from xpollinate.groclm.lm import LMRanker

        pop = models[0].popularity  # type: ignore[attr-defined]
        lms: list[Any] = []
        common: dict[str, Any] = {"batch_size": lm_batch, "min_history": min_history}
        if not tuned or untuned:
            with err.status("SmolLM2 (GGUF -> torch)"):
                backbone = load_backbone(lm_threads)
            lms.append(LMRanker(backbone, cb.names, pop, beams=lm_beams, **common))
        if tuned:
            from xpollinate.groclm.adapter import adapters_root, load_tuned, resolve_adapter
            from xpollinate.settings import run_home

            folder = resolve_adapter(adapter, adapters_root(run_home(), store.build_id, train_until))
            with err.status(f"SmolLM2 + adapter {folder.name}"):
                tuned_model = load_tuned(folder, cb.names)
            backbone, tuned_config = tuned_model.backbone, tuned_model.config
            common |= {"max_prompt_tokens": tuned_model.max_prompt_tokens, "label": "groclm"}
            lms.append(LMRanker(backbone, cb.names, pop, **common))
            lms += [LMRanker(backbone, cb.names, pop, beams=b, **common) for b in sorted(set(tuned_beams or []))]
            ablations = []
            cycles = None
            for extra in ablation_adapter or []:
                other = load_tuned(resolve_adapter(extra, extra), cb.names)
                label = _ablation_label(other.config, other.folder.name)
                if label in {m.name for m in lms}:
                    label = f"{label}_{other.folder.name}"
                if other.config.get("prompt_style") == "cycles" and cycles is None:
                    from xpollinate.groclm.rebuy import cycle_stats
                    from xpollinate.groclm.stages import cycle_lookup

                    cycles = cycle_lookup(cycle_stats(cb, train_until, other.config["stage1"]["min_households"]))
                more = {"label": label, "cycles": cycles if other.config.get("prompt_style") == "cycles" else None}
                lms.append(LMRanker(other.backbone, cb.names, pop, **(common | more)))
                ablations.append({"label": label, "adapter": other.folder.name, "config": _public(other.config)})
        else:
            common["beams"] = lm_beams
        if lm_restock:
            lms.append(LMRanker(backbone, cb.names, pop, restock=True, **common))
        if lm_no_trie:
            lms.append(LMRanker(backbone, cb.names, pop, constrained=False, **common))
        if tuned and min_names:
            lms.append(LMRanker(backbone, cb.names, pop, min_names=min_names, **common))
        chosen = None
        if tuned and m_grid:
            from xpollinate.groclm.tuning import pick

            grid = [
                LMRanker(backbone, cb.names, pop, min_names=m, restock=r, **common)
                for r in ((False, True) if lm_restock else (False,))
                for m in m_grid
            ]
            val = configs[0].model_copy(
                update={
                    "split": "val",
                    "task": "next",
                    "max_households": tune_households,
                    "max_examples": tune_examples,
                }
            )
            with stage_bars(transient=True) as tick:
                val_ev = evaluate(cb, val, seed_list, ks, baselines=[*models, *grid], progress=_relay(tick, "val: LM"))
            chosen = pick(val_ev.summary(), [g.name for g in grid])
            validation["decoding"] = {"evaluation": val_ev, "chosen": chosen}
            if chosen not in {m.name for m in lms}:
                lms.append(next(g for g in grid if g.name == chosen))
        with stage_bars(transient=True) as tick:
            for config in configs:
                small = config.model_copy(update={"max_households": lm_households, "max_examples": lm_examples})
                rows = lms
                if config.task == "inbasket" and tuned:  # the in-basket rows: GroCLM and its chosen decoding
                    rows = [m for m in lms if m.name in {"groclm", chosen, f"groclm_min{min_names}"}]
                extra_baselines = in_basket if config.task == "inbasket" else []
                lm_evaluations[config.task] = evaluate(
                    cb,
                    small,
                    seed_list,
                    ks,
                    baselines=[*models, *extra_baselines, *rows],
                    progress=_relay(tick, f"{config.task}: LM"),
                )
        if tuned:
            from xpollinate.groclm.lm import latency
            from xpollinate.groclm.tasks import build_examples

            alone: list[float] = []
            if latency_households:
                ex = build_examples(cb, configs[0].model_copy(update={"max_households": latency_households, "seed": 0}))
                states = [(ex.counts[i], ex.since[i], int(ex.n_history[i]), None) for i in range(len(ex))]
                states = [s for s in states if s[2] >= max(min_history, 1)][:latency_households]
                with err.status(f"latency: {len(states)} households decoded alone"):
                    alone = latency(next(m for m in lms if m.name == "groclm"), states, max(ks))
            tuned_info = {
                "adapter": folder.name,
                "config": _public(tuned_config),
                "ablations": ablations,
                "latency_seconds": [round(x, 3) for x in alone],
                "latency_p50": float(statistics.median(alone)) if alone else None,
            }
    seconds = time.perf_counter() - started
    payload: dict[str, Any] = {
        "data_build": store.build_id,
        "seconds": round(seconds, 1),
        "tasks": {name: ev.to_json() for name, ev in evaluations.items()},
    }
    for name, ev in lm_evaluations.items():
        payload["tasks"][name]["lm_subset"] = ev.to_json()
    if not emit_json(json_out, payload):
        for name, ev in evaluations.items():
            out.print(_rich_table(name, ev))
        for name, ev in lm_evaluations.items():
            out.print(_rich_table(f"{name} (LM subset)", ev))
            for model, per_seed in ev.info.items():
                out.print(f"  {model}: {_lm_line(per_seed)}")
        out.print(f"{seconds:.1f} s")
    if tuned_info is not None:
        payload["tuned"] = tuned_info
    if validation:
        from xpollinate.groclm.lm_tables import validation_json

        payload["validation"] = validation_json(validation)
        if "decoding" in validation and not json_out:
            out.print(_rich_table("next (validation weeks, LM subset)", validation["decoding"]["evaluation"]))
            out.print(f"chosen decoding: {validation['decoding']['chosen']}")
    if results is not None:
        path = _write_page(evaluations, payload, results, commit, tifu_params, lm_evaluations, tuned_info, validation)
        err.print(f"wrote {path}")
        if tuned_info is not None:
            import json

            from xpollinate.groclm.lm_report import model_json
            from xpollinate.publish import write_file

            data = model_json(lm_evaluations, evaluations, tuned_info)
            data["validation"] = payload.get("validation")
            data["tables"] = _tables_json(lm_evaluations, tuned_info)
            data["run"] = json.loads(path.with_suffix(".json").read_text())["run"]  # the page's command and commit
            write_file(results / "groclm.json", (json.dumps(data, indent=2) + "\n").encode())
            err.print(f"wrote {results / 'groclm.json'}")


def _relay(tick: Callable[[str, int, int], None], stage: str) -> Callable[[str, int, int], None]:
    """Progress of one task under its own bar."""
    return lambda _stage, done, total: tick(stage, done, total)


def _lm_line(per_seed: list[dict[str, Any]]) -> str:
    """The LM's counts summed over seeds: early stops, invalid and duplicate lines, seconds."""
    total = {
        key: sum(s[key] for s in per_seed) for key in ("generated", "stopped_early", "lines", "invalid", "duplicates")
    }
    lines = max(total["lines"], 1)
    p50 = float(sorted(s["seconds_p50"] for s in per_seed)[len(per_seed) // 2])
    rate = sum(s["generated"] for s in per_seed) / max(
        sum(s["generated"] / max(s["baskets_per_second"], 1e-9) for s in per_seed), 1e-9
    )
    return (
        f"{total['generated']} lists generated, {total['stopped_early']} ended early (padded by popularity); "
        f"invalid {total['invalid'] / lines:.1%}, duplicate {total['duplicates'] / lines:.1%} of "
        f"{total['lines']} lines; {p50:.2f} s per basket (p50, batch of {per_seed[0]['batch_size']}, "
        f"{per_seed[0]['beams']} beam(s)), {rate:.2f} baskets/s"
    )


def _cell(summary: dict[str, Any]) -> str:
    sd = summary["sd"]
    return f"{summary['mean']:.3f}" + (f" ± {sd:.3f}" if sd is not None else "")


def _rich_table(name: str, ev: Any) -> Any:
    from rich.table import Table

    samples = ev.samples
    title = (
        f"{name}: {ev.config.split} weeks {samples[0]['first_week']}-{samples[0]['last_week']}, "
        f"{len(ev.seeds)} seeds, {sum(s['examples'] for s in samples) / len(samples):.0f} baskets per seed"
    )
    table = Table(title=title)
    table.add_column("baseline", no_wrap=True)
    for metric in ev.metrics():
        table.add_column(metric.upper(), justify="right", no_wrap=True)
    for baseline, metrics in ev.summary().items():
        table.add_row(baseline, *(_cell(metrics[m]) for m in ev.metrics()))
    return table


def _frame(ev: Any) -> Any:
    import pandas as pd

    rows = []
    for baseline, metrics in ev.summary().items():
        rows.append({"baseline": baseline, **{m: _cell(metrics[m]) for m in ev.metrics()}})
    return pd.DataFrame(rows)


def _write_page(
    evaluations: dict[str, Any],
    payload: dict[str, Any],
    folder: Path,
    commit: str | None,
    tifu: Any,
    lm_evaluations: dict[str, Any] | None = None,
    tuned_info: dict[str, Any] | None = None,
    validation: dict[str, Any] | None = None,
) -> Path:
    import pandas as pd

    from xpollinate.reports import Report, write_page

    first = next(iter(evaluations.values()))
    c = first.config
    setup = (
        f"Complete Journey baskets as sets of product categories (grocery and GM; coupons, fuel, tobacco and other "
        f"excluded items dropped). Training weeks 1-{c.train_until} (rebuying cycles, popularity, TIFU-KNN's "
        f"neighbours), validation to week {c.val_until}, evaluated: the {c.split} weeks. Each seed samples "
        f"{c.max_households or 'all'} households among those with a basket in those weeks, then "
        + (f"at most {c.max_examples}" if c.max_examples else "all")
        + " of their baskets; a household's history is every basket it made before. "
        "next: predict the basket's categories; inbasket: half the basket's items are given (seeded), predict the "
        "other half's categories (cooccurrence and cooc_personal read the given half; the other baselines do "
        f"not). TIFU-KNN: r_b {tifu.within_decay}, r_g {tifu.group_decay}, {tifu.groups} groups, alpha "
        f"{tifu.alpha}, {tifu.neighbours} neighbours"
        + (" (chosen on the validation weeks)" if validation and validation.get("chosen") else "")
        + ". P/R/F1@k per basket, averaged over "
        "baskets; mean ± sd (ddof=1) over the seeds. Seeds: " + ", ".join(map(str, first.seeds)) + "."
    )
    blocks: list[tuple[str, str, Any]] = [("Set-up", setup, None)]
    for name, ev in evaluations.items():
        blocks.append((f"Task {name}", "", _frame(ev)))
    samples = pd.DataFrame([{"task": n, **s} for n, ev in evaluations.items() for s in ev.samples])
    blocks.append(
        (
            "Samples",
            "Per task and seed: households with a basket in the evaluated weeks, those sampled, their baskets, the "
            "examples kept, and those with no earlier basket (the personal baselines give them the popularity list).",
            samples,
        )
    )
    if tuned_info is not None and lm_evaluations:
        from xpollinate.groclm.lm_tables import paper_blocks

        blocks += paper_blocks(lm_evaluations, tuned_info, validation or {})
    for name, ev in (lm_evaluations or {}).items():
        blocks += _lm_blocks(name, ev, tuned_info)
    if tuned_info is not None:
        blocks.append(_training_block(tuned_info))
    lm_run = bool(lm_evaluations)
    title = "GroCLM baselines" + (
        " and the fine-tuned LM with the trie" if tuned_info else " and the untuned LM with the trie" if lm_run else ""
    )
    tasks = " and ".join({"next": "next-basket", "inbasket": "in-basket"}.get(n, n) for n in evaluations)
    report = Report(f"{title}: {tasks} category recommendation", blocks, headline=payload)
    return write_page(report, folder, "groclm-lm" if lm_run else "groclm-baselines", commit=commit)


def _lm_blocks(name: str, ev: Any, tuned_info: dict[str, Any] | None) -> list[tuple[str, str, Any]]:
    """The LM subset's table (every model on the same baskets), its decoding table, and the verdict."""
    from xpollinate.groclm.lm_report import decoding_frame, verdict

    c = ev.config
    models = ", ".join(ev.info)
    text = (
        f"Every model on a smaller subsample, the same baskets for all: {c.max_households} households per seed, at "
        f"most {c.max_examples} of their baskets. Language models ({models}): lm_* is the untuned "
        "SmolLM2-135M-Instruct (lm_trie: the paper's AS1, no LoRA stage), groclm the same backbone with the two "
        "LoRA stages merged in; each is prompted with the household's history and decoded under the category trie "
        "(greedy unless _beamN; _restock: the household's past categories only; _no_trie: free text matched to "
        "category names afterwards). A list the model ends before k is filled by popularity."
    )
    if tuned_info is not None:
        text += " " + verdict(ev, tuned_info)
    decoding = (
        "Decoding, summed over the seeds: lists generated, answer lines, the share of lines naming no category "
        "(invalid) or repeating one (duplicate), lists ended before k, categories per list and the share new to "
        "the household, seconds per basket (p50; a batch's wall time over its size) and baskets per second "
        "batched, the prompt's tokens and the past categories it shows of those bought."
    )
    if tuned_info is not None and tuned_info.get("latency_p50") is not None:
        decoding += (
            f" Decoded alone (batch of 1, as one request), groclm takes {tuned_info['latency_p50']:.2f} s per "
            f"household (p50 of {len(tuned_info['latency_seconds'])})."
        )
    return [(f"Task {name}: the LM subset", text, _frame(ev)), (f"Task {name}: decoding", decoding, decoding_frame(ev))]


def _tables_json(lm_evaluations: dict[str, Any], tuned_info: dict[str, Any] | None) -> dict[str, Any]:
    """Per task, each row's F1 at every k (mean, sd) and its adapter's training (the paper-shaped tables)."""
    from xpollinate.groclm.lm_tables import configs_by_row, training_of

    out: dict[str, Any] = {}
    for task, ev in lm_evaluations.items():
        summary = ev.summary()
        configs = configs_by_row(list(summary), tuned_info or {"config": {}})
        out[task] = {
            name: {f"f1@{k}": summary[name][f"f1@{k}"] for k in ev.ks} | {"training": training_of(configs[name])}
            for name in summary
        }
    return out


def _public(config: dict[str, Any]) -> dict[str, Any]:
    """An adapter's config without its category list (the results carry it elsewhere)."""
    return {key: v for key, v in config.items() if key != "categories"}


def _min_names(text: str) -> tuple[int, ...]:
    try:
        grid = tuple(sorted({int(v) for v in text.split(",") if v.strip()}))
    except ValueError:
        raise XPError(f"--tune-min-names {text!r}: give comma-separated integers, e.g. 0,5,10") from None
    if not grid:
        raise XPError(f"--tune-min-names {text!r}: give one or more integers, e.g. 0,5,10")
    return grid


def _ablation_label(config: dict[str, Any], name: str) -> str:
    """What an extra adapter is, from its config: groclm_no_stage2 (Stage 1 alone), groclm_no_stage1 (Stage 2
    alone, plain prompt), groclm_incontext (Stage 2 alone, cycles in the prompt), groclm_s2_N (Stage 1, then N
    Stage-2 steps: a point of the data-size curve), else groclm_<adapter name>."""
    runs = {r["name"]: r for r in config.get("runs", [])}
    stage1 = "stage1" in runs or bool((config.get("init_adapter") or {}).get("runs"))
    if set(runs) == {"stage1"}:
        return "groclm_no_stage2"
    if "stage2" in runs and not stage1:
        return "groclm_incontext" if config.get("prompt_style") == "cycles" else "groclm_no_stage1"
    if "stage2" in runs and config.get("prompt_style", "plain") == "plain":
        return f"groclm_s2_{runs['stage2']['steps']}"
    return f"groclm_{name}"


def _training_block(tuned_info: dict[str, Any]) -> tuple[str, str, Any]:
    import pandas as pd

    from xpollinate.groclm.lm_report import training_frame

    cfg = tuned_info["config"]
    lora, s2 = cfg["lora"], cfg["stage2"]
    text = (
        f"Adapter {tuned_info['adapter']} ({cfg['base_model']}, data build {cfg['data_build']}), trained with "
        f"`xp groclm train` at commit {cfg.get('commit', '?')}: one LoRA adapter shared by both stages (rank "
        f"{lora['rank']}, alpha {lora['alpha']}, dropout {lora['dropout']}, on "
        f"{', '.join(lora['target_modules'])}), AdamW at {lora['learning_rate']}, {lora['batch_size']} examples a "
        f"step, one pass, {cfg['threads']} torch thread(s), a budget of {cfg['max_minutes']:g} minutes "
        f"({cfg['stage1_minutes']:g} for Stage 1). Stage 1: one example per category with a rebuying cycle "
        f"({cfg['stage1']['categories_with_cycle']}). Stage 2: {s2['baskets_sampled']} baskets sampled from weeks "
        f"{s2['from_week']}-{cfg['train_until']} ({s2['eligible_baskets']} eligible), prompts of at most "
        f"{cfg['max_prompt_tokens']} tokens (mean {s2['prompt_tokens_mean']}), answers of at most "
        f"{cfg['max_targets']} categories (mean {s2['answer_tokens_mean']} tokens). Training took "
        f"{cfg['train_seconds']:.0f} s ({cfg['wall_seconds']:.0f} s with loading)."
    )
    frame = training_frame(cfg)
    for extra in tuned_info.get("ablations", []):
        c = extra["config"]
        text += (
            f" {extra['label']}: adapter {extra['adapter']}, the same settings with a budget of {c['max_minutes']:g} "
            f"minutes ({c['stage1_minutes']:g} for Stage 1), {c['train_seconds']:.0f} s of training."
        )
        more = training_frame(c)
        more["stage"] = extra["label"] + ": " + more["stage"]
        frame = pd.concat([frame, more], ignore_index=True)
    return ("Training", text, frame)


@app.command("recommend")
@handle_errors
def recommend_cmd(
    household: Annotated[int, typer.Option(help="The household id.")],
    k: Annotated[int, typer.Option("--k", help="Categories to list (1-50).")] = 10,
    task: Annotated[
        Literal["next", "restock"], typer.Option(help="next: any category; restock: only past categories.")
    ] = "next",
    adapter: Annotated[
        Optional[Path], typer.Option(help="The adapter folder (default: the latest trained on this data).")
    ] = None,
    untuned: Annotated[bool, typer.Option("--untuned", help="The untuned SmolLM2 with the trie (AS1).")] = False,
    threads: Annotated[int, typer.Option(help="torch threads.")] = 1,
    json_out: JsonOption = None,
) -> None:
    """A household's next-basket categories from its whole history (as of the data's last day): GroCLM (the
    latest adapter, decoded under the category trie), or the best baseline when no adapter was trained."""
    import torch

    from xpollinate.groclm.service import MAX_K, attach_model, open_service

    if not 1 <= k <= MAX_K:
        raise XPError(f"--k {k}: choose 1 to {MAX_K}")
    if threads < 1:
        raise XPError(f"--threads must be at least 1, got {threads}")
    if untuned and adapter is not None:
        raise XPError("--untuned and --adapter exclude each other: the untuned model has no adapter")
    torch.set_num_threads(threads)
    with err.status("category baskets"):
        service = open_service(use_model=False)
    try:
        service.check(household)
    except XPError as exc:
        raise XPError(f"--household {household}: {exc}") from None
    if not untuned:
        with err.status("the GroCLM adapter"):
            attach_model(service, adapter=adapter, threads=threads)
    if untuned:
        from xpollinate.groclm.adapter import TunedModel
        from xpollinate.groclm.backbone import load_backbone
        from xpollinate.groclm.prompting import MAX_TOKENS

        with err.status("SmolLM2 (GGUF -> torch)"):
            service.model = TunedModel(load_backbone(threads), Path(), {"max_prompt_tokens": MAX_TOKENS})
        service.label, service.model_reason = "lm", None
    try:
        payload = service.recommend(household, task, k)
    except XPError as exc:
        raise XPError(f"--household {household}: {exc}") from None
    if service.model is not None and not untuned:
        payload["adapter"] = service.model.folder.name
    if emit_json(json_out, payload):
        return
    said = f"household {household}: {payload['source']}"
    if payload.get("generated"):
        said += f", {payload['generated']} generated"
    if payload.get("reason"):
        said += f" ({payload['reason']})"
    out.print(said)
    for i, name in enumerate(payload["categories"], 1):
        out.print(f"  {i:>2}. {name}")
    out.print(f"{payload['seconds']:.1f} s")
