"""The teacher's dataset for distillation: its placements@v1 and placement_keywords@v1 answers, one JSONL line a call.

The student learns from what the teacher (the configured LLM) actually answered through the product's own
calls. Households are split once, with a seed, among those with history: the first `test` of a seeded
permutation are held out for the student-vs-teacher comparison, the next `train` are for training; growing
`train` later keeps the earlier households. Every call is appended and flushed as soon as it returns, so a
crash loses nothing and a rerun resumes where the file ends (a torn last line is ignored).

    $XP_HOME/storefront/distill/<teacher>/manifest.json   teacher, seed, k, keywords, shortlist, the split
    $XP_HOME/storefront/distill/<teacher>/calls.jsonl     one record per call (inputs, parsed output, seconds)
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from xpollinate.settings import run_home
from xpollinate.storefront.errors import StorefrontError

Task = Literal["themes", "keywords"]
Split = Literal["train", "test"]
MANIFEST = "manifest.json"
CALLS = "calls.jsonl"


class DistillDataError(StorefrontError):
    """A teacher dataset that cannot be used as asked (missing, mismatched settings, too small)."""


def distill_dir(teacher: str, home: Path | None = None) -> Path:
    """The dataset folder of one teacher model (its spec made file-safe)."""
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", teacher).strip("-") or "teacher"
    return (home or run_home()) / "storefront" / "distill" / slug


@dataclass(frozen=True)
class DistillSplit:
    """Which households train the student and which are held out; fixed by the seed."""

    seed: int
    train: list[int]
    test: list[int]

    def split_of(self, household: int) -> Split | None:
        if household in self.test:
            return "test"
        if household in self.train:
            return "train"
        return None


def draw_split(eligible: Iterable[int], n_train: int, n_test: int, seed: int) -> DistillSplit:
    """A seeded permutation of the eligible households: held-out first, then training (disjoint by construction)."""
    pool = np.array(sorted({int(h) for h in eligible}), dtype=np.int64)
    if n_train < 1 or n_test < 1:
        raise DistillDataError(f"need at least 1 training and 1 test household (got {n_train} and {n_test})")
    if n_train + n_test > len(pool):
        raise DistillDataError(
            f"{n_train} training + {n_test} test households asked, but only {len(pool)} have history"
        )
    order = np.random.default_rng(seed).permutation(pool)
    return DistillSplit(seed, [int(h) for h in order[n_test : n_test + n_train]], [int(h) for h in order[:n_test]])


@dataclass(frozen=True)
class DistillManifest:
    teacher: str  # the LLM spec that answered
    k: int  # placements asked per household
    keywords: int  # keywords asked per placement
    shortlist: int  # vocabulary names offered per placement
    split: DistillSplit
    data_build: str = ""

    def settings(self) -> dict[str, Any]:
        """What must match for a rerun to extend this dataset instead of starting another."""
        return {
            "teacher": self.teacher,
            "k": self.k,
            "keywords": self.keywords,
            "shortlist": self.shortlist,
            "seed": self.split.seed,
            "test": self.split.test,
        }


@dataclass
class CallRecord:
    """One teacher call: the prompt's inputs, the parsed answer (None when it failed), and its cost."""

    household: int
    split: Split
    task: Task
    index: int  # themes: 0; keywords: the placement's position on the page
    inputs: dict[str, Any]
    output: dict[str, Any] | None
    ok: bool
    seconds: float
    cached: bool
    failure: str | None = None
    prompt_tokens: int = 0
    generated_tokens: int = 0
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. keywords answered outside the vocabulary

    @property
    def key(self) -> tuple[int, str, int]:
        return (self.household, self.task, self.index)


class DistillDataset:
    """The manifest and the append-only call log of one teacher."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @property
    def calls_path(self) -> Path:
        return self.folder / CALLS

    def manifest(self) -> DistillManifest:
        path = self.folder / MANIFEST
        if not path.exists():
            raise DistillDataError(
                f"no teacher dataset in {self.folder}: run `xp distill collect` first (it runs the teacher)"
            )
        raw = json.loads(path.read_text())
        split = DistillSplit(**raw.pop("split"))
        return DistillManifest(split=split, **raw)

    def start(self, manifest: DistillManifest) -> DistillManifest:
        """Write the manifest, or check a rerun against it: same settings extend the dataset, others are an error."""
        path = self.folder / MANIFEST
        if path.exists():
            old = self.manifest()
            if old.settings() != manifest.settings():
                diff = {
                    k: (v, manifest.settings()[k]) for k, v in old.settings().items() if manifest.settings()[k] != v
                }
                raise DistillDataError(
                    f"{self.folder} holds a dataset collected with other settings {diff} (old, new): "
                    "collect with the same ones to resume, or choose another --out"
                )
            kept = old.split.train + [h for h in manifest.split.train if h not in old.split.train]
            manifest = DistillManifest(
                manifest.teacher,
                manifest.k,
                manifest.keywords,
                manifest.shortlist,
                DistillSplit(old.split.seed, kept, old.split.test),
                manifest.data_build,
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(manifest), indent=2))
        os.replace(tmp, path)
        return manifest

    def records(self) -> list[CallRecord]:
        """Every complete record, in the order written (a torn last line from a crash is skipped)."""
        if not self.calls_path.exists():
            return []
        out = []
        for line in self.calls_path.read_text().splitlines():
            if not line.strip():
                continue
            try:
                out.append(CallRecord(**json.loads(line)))
            except (json.JSONDecodeError, TypeError):
                continue
        return out

    def append(self, record: CallRecord) -> None:
        """One record, flushed to disk before returning (nothing lost on a crash)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        data = self.calls_path.read_bytes()[-1:] if self.calls_path.exists() else b""
        with self.calls_path.open("a", encoding="utf-8") as fh:
            if data and data != b"\n":
                fh.write("\n")  # a torn line from a crash stays on its own line
            fh.write(json.dumps(asdict(record), sort_keys=True) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def teacher_spec(llm: str | None = None) -> str:
    """The teacher's resolved spec (as `get_llm` would resolve it), without starting its backend."""
    from xpollinate.llm import load_settings, parse_spec

    settings = load_settings(llm)
    return str(parse_spec(llm or settings.llm, settings))


def open_dataset(out: Path | None, llm: str | None, home: Path | None = None) -> DistillDataset:
    """The dataset at `out`, else the configured teacher's; missing is an error saying how to collect it."""
    dataset = DistillDataset(out or distill_dir(teacher_spec(llm), home))
    dataset.manifest()
    return dataset
