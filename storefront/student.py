"""The trained student as the page's generator of themes and keywords (instead of the teacher LLM).

    student = Student.load()                      # the adapter CURRENT names, merged into SmolLM2-135M
    themes = student.themes(summary, context, k, calls)
    kws = student.keywords(vocabulary, ideas, shortlists, context, n, calls)

Themes are decoded greedily as `Title | why` lines and parsed (`student_format.parse_themes`); an answer
with no valid line is a failure, and the page falls back as it does for the teacher. Keywords are decoded
in one batch for all placements, each under a trie over its own shortlist (`groclm.decode`), so no keyword
can fall outside the vocabulary; each is still checked against it and a miss counted. Each generation is
recorded as an `LLMCall` named `student/themes` or `student/keywords` with its seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpollinate.publish import read_pointer
from xpollinate.storefront.errors import StorefrontError
from xpollinate.storefront.keywords import KeywordsOutcome, in_vocabulary
from xpollinate.storefront.model import LLMCall
from xpollinate.storefront.placements import ThemesOutcome
from xpollinate.storefront.schemas import PlacementIdea
from xpollinate.storefront.student_format import (
    FORMAT,
    ParsedThemes,
    chat,
    keywords_user,
    parse_themes,
    themes_user,
)
from xpollinate.storefront.student_train import student_root
from xpollinate.storefront.vocabulary import StorefrontVocabulary

THEMES_CALL = "student/themes"
KEYWORDS_CALL = "student/keywords"
TOKENS_PER_THEME = 40  # room per `Title | why` line (a 40-character title and an 80-character reason)
CONFIG = "groclm.json"  # the adapter's config file, as groclm.adapter writes it


class StudentNotTrainedError(StorefrontError):
    """No trained student adapter where one was asked for."""


def find_adapter(home: Path | None = None, path: Path | None = None) -> Path:
    """`path` (an adapter folder) or the adapter CURRENT names; a clear error when there is none."""
    root = student_root(home)
    if path is not None:
        if (path / CONFIG).is_file():
            return path
        raise StudentNotTrainedError(f"{path}: not a student adapter folder (no {CONFIG})")
    name = read_pointer(root)
    if name is None or not (root / name / CONFIG).is_file():
        raise StudentNotTrainedError(
            f"no trained storefront student under {root}: run `xp distill collect` then `xp distill train`"
        )
    return root / name


@dataclass(frozen=True)
class StudentThemes:
    outcome: ThemesOutcome
    parsed: ParsedThemes
    text: str


class Student:
    """A loaded student (backbone with the adapter merged) and what it was trained as."""

    def __init__(self, backbone: Any, folder: Path, config: dict[str, Any]) -> None:
        self.backbone = backbone
        self.folder = folder
        self.config = config
        self.last_themes: StudentThemes | None = None

    @classmethod
    def load(cls, home: Path | None = None, path: Path | None = None) -> Student:
        from xpollinate.groclm.adapter import load_tuned

        folder = find_adapter(home, path)
        tuned = load_tuned(folder)
        if tuned.config.get("format") != FORMAT:
            raise StudentNotTrainedError(
                f"the student {folder.name} was trained on format {tuned.config.get('format')!r}, this code reads "
                f"{FORMAT!r}: train it again with `xp distill train`"
            )
        return cls(tuned.backbone, folder, tuned.config)

    @property
    def name(self) -> str:
        return self.folder.name

    def identity(self) -> str:
        """What names this student in page provenance and cache keys: base model, adapter and its format."""
        return f"{self.backbone.model_id}+{self.name} ({FORMAT})"

    def themes(self, history: list[str], context: str | None, k: int, calls: list[LLMCall]) -> ThemesOutcome:
        """k placement ideas decoded and parsed; a failure recorded, never raised."""
        import torch

        tok, model = self.backbone.tokenizer, self.backbone.model
        started = time.perf_counter()
        enc = tok([chat(tok, themes_user(history, context, k))], return_tensors="pt", add_special_tokens=False)
        with torch.inference_mode():
            out = model.generate(
                **enc,
                max_new_tokens=TOKENS_PER_THEME * k,
                do_sample=False,
                eos_token_id=int(tok.eos_token_id),
                pad_token_id=int(tok.pad_token_id),
            )
        generated = out[0, enc["input_ids"].shape[1] :].tolist()
        text = tok.decode(generated, skip_special_tokens=True)
        parsed = parse_themes(text, k)
        calls.append(
            LLMCall(
                prompt=THEMES_CALL,
                prompt_sha256="",
                cached=False,
                ok=parsed.failure is None,
                seconds=round(time.perf_counter() - started, 3),
                message=parsed.failure or "",
                prompt_tokens=int(enc["input_ids"].shape[1]),
                generated_tokens=len(generated),
            )
        )
        outcome = ThemesOutcome(parsed.ideas, parsed.failure, parsed.repeats)
        self.last_themes = StudentThemes(outcome, parsed, text)
        return outcome

    def keywords(
        self,
        vocabulary: StorefrontVocabulary,
        ideas: Sequence[PlacementIdea],
        shortlists: Sequence[list[str]],
        context: str | None,
        n: int,
        calls: list[LLMCall],
    ) -> list[KeywordsOutcome]:
        """Up to `n` product types per idea, each decoded under the trie of its own shortlist (one batch)."""
        from xpollinate.groclm.decode import category_trie, generate_lists

        if not ideas:
            return []
        tok = self.backbone.tokenizer
        lists = [list({name.lower(): name for name in names}.values()) for names in shortlists]
        prompts = [chat(tok, keywords_user(i.title, i.why, names, context, n)) for i, names in zip(ideas, lists)]
        tries = [category_trie(tok, names) for names in lists]
        answers, seconds = generate_lists(self.backbone, prompts, tries, n)
        outcomes = []
        for a in answers:
            names, codes, outside = in_vocabulary(vocabulary, a.names)
            outcomes.append(KeywordsOutcome(names, codes, outside, None if names else "the student chose no keyword"))
        calls.append(
            LLMCall(
                prompt=KEYWORDS_CALL,
                prompt_sha256="",
                cached=False,
                ok=all(o.keywords for o in outcomes),
                seconds=round(seconds, 3),
                generated_tokens=sum(a.tokens for a in answers),
            )
        )
        return outcomes


def adapter_id(folder: Path) -> str:
    """The adapter's name and a hash of its config (a retrained adapter of the same name is another id)."""
    import hashlib

    digest = hashlib.sha256((folder / CONFIG).read_bytes()).hexdigest()[:12]
    return f"{folder.name}-{digest}"
