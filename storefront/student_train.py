"""Train the storefront's student: SmolLM2-135M + LoRA on the teacher's themes and keywords, within a budget.

The examples are the teacher dataset's training households only (held-out ones never train): each themes
call becomes (the student's themes prompt -> the teacher's placements as `Title | why` lines), each keywords
call (title, why, shortlist -> the teacher's product types, one per line as the trie decoder spells them).
Training is GroCLM's: a fresh backbone, one LoRA adapter, answer-only loss, passes over the shuffled examples
until the minutes or steps run out. The adapter is published atomically with its config under
`$XP_HOME/storefront/student/adapters/<name>/`, and `CURRENT` points at it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from xpollinate.groclm.stages import Example, answer_ids
from xpollinate.groclm.train import LoraSettings, StageRun, make_optimizer, peft_model, run_stage
from xpollinate.settings import run_home
from xpollinate.storefront.distill_data import CallRecord, DistillDataError, DistillDataset
from xpollinate.storefront.student_format import FORMAT, chat, keywords_user, themes_answer, themes_user

MIN_EXAMPLES = 8  # fewer teacher answers than this cannot teach both tasks
DEFAULT_MINUTES = 10.0
# batch 4: a step over ~450-token prompts holds ~2 GB of activations per example in float32
STUDENT_LORA = LoraSettings(rank=16, alpha=32, dropout=0.05, learning_rate=1e-3, warmup_steps=2, batch_size=4)
Progress = Callable[[str, int, int], None]


def student_root(home: Path | None = None) -> Path:
    return (home or run_home()) / "storefront" / "student" / "adapters"


def _ids(tokenizer: Any, text: str) -> list[int]:
    return [int(t) for t in tokenizer.encode(text, add_special_tokens=False)]


def record_example(tokenizer: Any, record: CallRecord) -> Example | None:
    """One teacher call as a training example in the student's formats (None for a failed call)."""
    if not record.ok or record.output is None:
        return None
    inp, eos = record.inputs, int(tokenizer.eos_token_id)
    if record.task == "themes":
        prompt = chat(tokenizer, themes_user(inp["history"], inp.get("context"), int(inp["k"])))
        answer = [*_ids(tokenizer, themes_answer(record.output["placements"])), eos]
        return Example(_ids(tokenizer, prompt), answer)
    prompt = chat(
        tokenizer, keywords_user(inp["title"], inp["why"], inp["shortlist"], inp.get("context"), int(inp["n"]))
    )
    return Example(_ids(tokenizer, prompt), answer_ids(tokenizer, record.output["keywords"]))


@dataclass(frozen=True)
class TrainingData:
    examples: list[Example]
    themes: int
    keywords: int
    households: int
    failed_skipped: int


def check_enough(records: list[CallRecord]) -> None:
    """Too few usable teacher answers of training households is an error saying how many there are (checked
    before any model loads)."""
    train = [r for r in records if r.split == "train"]
    ok = [r for r in train if r.ok and r.output is not None]
    themes = sum(r.task == "themes" for r in ok)
    keywords = len(ok) - themes
    if len(ok) < MIN_EXAMPLES or not themes or not keywords:
        raise DistillDataError(
            f"the teacher dataset has {themes} themes and {keywords} keywords answers of training households "
            f"({len(train) - len(ok)} failed calls skipped); the student needs at least {MIN_EXAMPLES} with both "
            "tasks: collect more with `xp distill collect --households N`"
        )


def training_data(tokenizer: Any, records: list[CallRecord]) -> TrainingData:
    """The training households' successful calls as examples (held-out households never train)."""
    check_enough(records)
    train = [r for r in records if r.split == "train"]
    examples, themes, keywords, failed = [], 0, 0, 0
    for r in train:
        ex = record_example(tokenizer, r)
        if ex is None:
            failed += 1
            continue
        examples.append(ex)
        themes += r.task == "themes"
        keywords += r.task == "keywords"
    return TrainingData(examples, themes, keywords, len({r.household for r in train}), failed)


@dataclass
class StudentTraining:
    adapter: Path
    data: TrainingData
    passes: list[StageRun]
    seconds: float
    load_seconds: float

    @property
    def steps(self) -> int:
        return sum(p.steps for p in self.passes)


def train_student(
    dataset: DistillDataset,
    minutes: float = DEFAULT_MINUTES,
    max_steps: int | None = None,
    settings: LoraSettings = STUDENT_LORA,
    seed: int = 0,
    home: Path | None = None,
    name: str | None = None,
    progress: Progress | None = None,
) -> StudentTraining:
    """Passes over the shuffled examples until `minutes` (or `max_steps`) run out; the adapter published."""
    from xpollinate.groclm.adapter import publish_adapter
    from xpollinate.groclm.backbone import fresh_backbone

    settings.check()
    if minutes <= 0 or (max_steps is not None and max_steps < 1):
        raise DistillDataError(f"--minutes {minutes} --max-steps {max_steps}: give a positive budget")
    manifest = dataset.manifest()
    records = dataset.records()
    check_enough(records)
    started = time.perf_counter()
    backbone = fresh_backbone()
    data = training_data(backbone.tokenizer, records)
    model = peft_model(backbone.model, settings)
    optimizer = make_optimizer(model, settings)
    budget, steps_left = minutes * 60.0, max_steps
    passes: list[StageRun] = []
    train_started = time.perf_counter()
    while True:
        left = budget - (time.perf_counter() - train_started)
        if left <= 0 or (steps_left is not None and steps_left <= 0):
            break
        examples = list(data.examples)
        random.Random(seed * 1000 + len(passes)).shuffle(examples)
        if steps_left is not None:
            examples = examples[: steps_left * settings.batch_size]
        run = run_stage(
            model,
            optimizer,
            examples,
            f"pass {len(passes) + 1}",
            settings,
            left,
            seed=seed + len(passes),
            pad_id=int(backbone.tokenizer.pad_token_id),
            progress=progress,
        )
        passes.append(run)
        if steps_left is not None:
            steps_left -= run.steps
        if run.stopped_by_budget or run.steps == 0:
            break
    seconds = time.perf_counter() - started
    config = {
        "kind": "storefront-student",
        "format": FORMAT,
        "base_model": backbone.model_id,
        "teacher": manifest.teacher,
        "dataset": str(dataset.folder),
        "data_build": manifest.data_build,
        "k": manifest.k,
        "keywords": manifest.keywords,
        "shortlist": manifest.shortlist,
        "train_households": data.households,
        "examples": {"themes": data.themes, "keywords": data.keywords, "failed_skipped": data.failed_skipped},
        "lora": asdict(settings),
        "budget": {"minutes": minutes, "max_steps": max_steps},
        "seed": seed,
        "steps": sum(p.steps for p in passes),
        "passes": [p.to_json() for p in passes],
        "train_seconds": round(seconds, 1),
    }
    folder = publish_adapter(model, config, student_root(home), name)
    return StudentTraining(folder, data, passes, seconds, backbone.load_seconds)
