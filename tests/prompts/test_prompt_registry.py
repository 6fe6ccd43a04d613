from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from xpollinate.prompts import (
    PromptDeclarationError,
    PromptNotFoundError,
    PromptRegistry,
    TemplateSyntaxError,
    default_registry,
)
from xpollinate.prompts.registry import TEMPLATES_DIR

PAPER_PROMPTS = {"naive": "A.1", "theme": "A.2", "theme_recs": "A.3", "evaluator": "A.4", "judge": "A.5"}


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    """A writable copy of the shipped templates."""
    return Path(shutil.copytree(TEMPLATES_DIR, tmp_path / "templates"))


def test_every_appendix_prompt_has_a_first_version() -> None:
    registry = default_registry()
    for name in PAPER_PROMPTS:
        assert registry.get(f"{name}@v1").name == name


def test_stored_hashes_match_every_version() -> None:
    """A released version is never edited in place: its text must still hash to the recorded value."""
    registry = default_registry()
    assert registry.lock_problems() == []
    locked = json.loads((TEMPLATES_DIR / "hashes.json").read_text())
    assert set(locked) == {t.ref for t in registry.all()}


def test_edit_in_place_is_reported_with_the_next_version(templates: Path) -> None:
    path = templates / "theme@v2.txt"
    path.write_text(path.read_text() + "\nBe creative.\n")
    problems = PromptRegistry(templates).lock_problems()
    assert len(problems) == 1
    assert problems[0].startswith("theme@v2: text changed") and "theme@v4" in problems[0]  # the next free version


def test_new_and_removed_versions_are_reported(templates: Path) -> None:
    shutil.copy(templates / "judge@v2.txt", templates / "judge@v3.txt")
    shutil.copy(templates / "judge@v2.toml", templates / "judge@v3.toml")
    (templates / "naive@v1.txt").unlink()
    (templates / "naive@v1.toml").unlink()
    problems = PromptRegistry(templates).lock_problems()
    assert any(p.startswith("judge@v3: not recorded") for p in problems)
    assert any(p.startswith("naive@v1: recorded in hashes.json but its file is gone") for p in problems)


def test_lock_records_new_versions_only(templates: Path) -> None:
    shutil.copy(templates / "judge@v2.txt", templates / "judge@v3.txt")
    shutil.copy(templates / "judge@v2.toml", templates / "judge@v3.toml")
    before = json.loads((templates / "hashes.json").read_text())
    registry = PromptRegistry(templates)
    assert registry.lock_new_versions() == ["judge@v3"]
    after = json.loads((templates / "hashes.json").read_text())
    assert {k: v for k, v in after.items() if k != "judge@v3"} == before
    assert registry.lock_problems() == []


def test_paper_wording_and_examples_are_kept() -> None:
    r = default_registry()
    assert "identify the top 5 most popular usage contexts" in r.get("theme@v1").text
    assert "**Paper Plates:**" in r.get("theme@v1").text
    assert "generate 10 complementary non-grocery item recommendations" in r.get("theme_recs@v1").text
    assert "**Dog Food - Daily Feeding Context:**" in r.get("theme_recs@v1").text
    assert "Milk Frothers" in r.get("naive@v1").text
    evaluator = r.get("evaluator@v1").text
    for weight in ("(40% weight)", "(30% weight)", "(20% weight)", "(10% weight)"):
        assert weight in evaluator
    judge = r.get("judge@v1").text
    for weight in ("DISCOVERY (25%)", "COHERENCE (35%)", "UTILITY (25%)", "ACCURACY (15%)"):
        assert weight in judge
    for t in r.all():
        assert "↪" not in t.text and "****" not in t.text  # PDF artifacts removed


def test_v2_changes_only_the_output_section() -> None:
    r = default_registry()
    for name, marker in (("evaluator", "Provide a score"), ("judge", "OUTPUT FORMAT:"), ("theme", "Output format:")):
        v1, v2 = r.get(f"{name}@v1").text, r.get(f"{name}@v2").text
        assert v2.startswith(v1[: v1.index(marker)])


def test_latest_version_and_unknown_refs() -> None:
    r = default_registry()
    assert r.get("theme").ref == "theme@v3"
    assert [t.version for t in r.versions("theme")] == ["v1", "v2", "v3"]
    with pytest.raises(PromptNotFoundError, match="known: ") as unknown:
        r.get("themes@v1")
    known = str(unknown.value).split("known: ", 1)[1].split(", ")
    assert known == sorted(known)  # the message lists every prompt name, in order
    assert {"evaluator", "evaluator_batch", "fit", "judge", "match", "naive", "pick", "theme", "theme_recs"} <= set(
        known
    )
    with pytest.raises(PromptNotFoundError, match="theme has theme@v1, theme@v2, theme@v3"):
        r.get("theme@v9")
    with pytest.raises(PromptNotFoundError, match="expected name@vN"):
        r.get("theme@latest")


def test_diff_shows_the_changed_lines() -> None:
    diff = default_registry().diff("judge@v1", "judge@v2")
    assert diff.startswith("--- judge@v1\n+++ judge@v2\n")
    assert '-  "score": <decimal from 0.0 to 1.0>,' in diff
    assert '+  "relevance_coherence": <integer 0 to 10>,' in diff
    assert default_registry().diff("judge@v2", "judge@v2") == ""


def test_stray_brace_is_a_syntax_error_naming_the_line(templates: Path) -> None:
    (templates / "theme@v1.txt").write_text("Analyze {anchor_item}\nand return {json}\nwith a } brace\n")
    with pytest.raises(TemplateSyntaxError, match=r"theme@v1.txt:3: stray '}'"):
        PromptRegistry(templates)


def test_undeclared_or_unused_variables_are_rejected(templates: Path) -> None:
    (templates / "theme@v1.txt").write_text("Analyze {anchor_item} for {season}\n")
    with pytest.raises(
        PromptDeclarationError, match=r"used \['anchor_item', 'season'\] but declared \['anchor_item'\]"
    ):
        PromptRegistry(templates)
