"""The student: its answer formats and parsing, trie-constrained keywords on the real SmolLM2 tokenizer/model,
the training data's bad input, and the page's generator option (no student trained, cache keys apart)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.storefront.scripted import storefront
from xpollinate.catalog.store import DataStore
from xpollinate.storefront.distill_data import CallRecord, DistillDataError
from xpollinate.storefront.errors import StorefrontError
from xpollinate.storefront.page import PageOptions
from xpollinate.storefront.student import Student, StudentNotTrainedError, adapter_id, find_adapter
from xpollinate.storefront.student_format import parse_themes, themes_answer
from xpollinate.storefront.student_train import record_example, student_root, training_data

IDEAS = [{"title": "Coffee Corner", "why": "you buy ground coffee often"}, {"title": "Cookout", "why": "buns | coal"}]


def test_themes_answer_round_trips_and_bad_lines_are_counted() -> None:
    text = themes_answer(IDEAS)
    assert text == "Coffee Corner | you buy ground coffee often\nCookout | buns / coal"
    parsed = parse_themes(text, 2)
    assert [i.title for i in parsed.ideas] == ["Coffee Corner", "Cookout"] and parsed.valid(2)
    messy = parse_themes("1. Snacks | chips\n- snacks | again\nno separator here\n" + "x" * 50 + " | long\n\n", 3)
    assert [i.title for i in messy.ideas] == ["Snacks"]
    assert (messy.lines, messy.bad_lines, messy.repeats) == (4, 2, 1) and not messy.valid(3)
    assert messy.failure is None
    none = parse_themes("I cannot help with that.", 2)
    assert none.ideas == [] and none.failure and "no 'Title | why' line" in none.failure
    assert len(parse_themes("A | a\nB | b\nC | c", 2).ideas) == 2  # at most k
    long = parse_themes("Breakfast | " + "eggs and toast " * 10, 1)  # cut at 80 characters, as the teacher's schema
    assert long.clipped == 1 and long.valid(1) and len(long.ideas[0].why) <= 80


@pytest.fixture(scope="module")
def backbone():
    """The untuned SmolLM2 (GGUF -> torch), one torch thread (~10-20 s once)."""
    from xpollinate.groclm.backbone import load_backbone

    return load_backbone(threads=1)


def test_keywords_decode_inside_the_shortlist_by_construction(backbone, fixture_store: DataStore) -> None:
    sf, _, _ = storefront(fixture_store)
    vocab = sf.vocabulary
    student = Student(backbone, Path("untuned"), {})
    from xpollinate.storefront.schemas import PlacementIdea

    ideas = [PlacementIdea(title="Coffee Corner", why="ground coffee"), PlacementIdea(title="Cookout", why="grill")]
    shortlists = vocab.shortlist([f"{i.title}: {i.why}" for i in ideas], 6)
    calls: list = []
    outcomes = student.keywords(vocab, ideas, shortlists, None, 3, calls)
    assert len(outcomes) == 2 and calls[0].prompt == "student/keywords" and calls[0].seconds > 0
    for outcome, names in zip(outcomes, shortlists):
        assert 1 <= len(outcome.keywords) <= 3 and len(set(outcome.keywords)) == len(outcome.keywords)
        assert set(outcome.keywords) <= set(names) and outcome.outside == []
        assert outcome.product_types == [vocab.product_type(n) for n in outcome.keywords]


def test_training_examples_end_with_the_teachers_answer(backbone) -> None:
    tok = backbone.tokenizer
    themes = CallRecord(
        1, "train", "themes", 0, {"history": ["- Coffee (Coffee): 3 of 5 baskets"], "context": None, "k": 2},
        {"placements": IDEAS}, True, 20.0, False,
    )  # fmt: skip
    ex = record_example(tok, themes)
    assert ex is not None and ex.answer[-1] == backbone.eos_id
    assert tok.decode(ex.answer[:-1]) == themes_answer(IDEAS)
    assert "Propose 2 themed placements" in tok.decode(ex.prompt)
    kw = CallRecord(
        1, "train", "keywords", 0, {"title": "T", "why": "w", "shortlist": ["Ground Coffee", "Filters"], "n": 2},
        {"keywords": ["Ground Coffee"]}, True, 9.0, False,
    )  # fmt: skip
    ex = record_example(tok, kw)
    assert ex is not None and tok.decode(ex.answer[:-1]) == "ground coffee\n"
    failed = CallRecord(1, "train", "themes", 0, {}, None, False, 30.0, False, "timeout")
    assert record_example(tok, failed) is None
    with pytest.raises(DistillDataError, match="1 themes and 0 keywords.*collect more"):
        training_data(tok, [themes, failed])
    held_out = CallRecord(2, "test", "keywords", 0, kw.inputs, kw.output, True, 1.0, False)
    with pytest.raises(DistillDataError, match="0 themes and 0 keywords"):
        training_data(tok, [held_out])  # held-out households never train


def test_no_student_is_a_clear_error_and_keys_keep_teacher_and_student_apart(
    fixture_store: DataStore, tmp_path: Path
) -> None:
    with pytest.raises(StudentNotTrainedError, match="xp distill train"):
        find_adapter(tmp_path)
    sf, _, _ = storefront(fixture_store)
    sf.student_home = tmp_path
    with pytest.raises(StudentNotTrainedError, match="no trained storefront student"):
        sf.page(1, options=PageOptions(generator="student"))
    with pytest.raises(StorefrontError, match="choose teacher or student"):
        PageOptions(generator="teacher-ish").check()  # type: ignore[arg-type]
    teacher_key = sf.key(1, None, PageOptions())
    folder = student_root(tmp_path) / "s1"
    folder.mkdir(parents=True)
    (folder / "groclm.json").write_text(json.dumps({"format": "student-v1"}))
    (folder.parent / "CURRENT").write_text("s1")
    assert find_adapter(tmp_path) == folder
    student_key = sf.key(1, None, PageOptions(generator="student"))
    assert student_key != teacher_key
    (folder / "groclm.json").write_text(json.dumps({"format": "student-v1", "steps": 2}))  # retrained
    assert sf.key(1, None, PageOptions(generator="student")) != student_key
    assert adapter_id(folder).startswith("s1-")


@pytest.mark.slow
def test_collect_train_page_and_eval_end_to_end(backbone, fixture_store: DataStore, tmp_path: Path) -> None:
    """Scripted teacher -> dataset -> one real LoRA step on SmolLM2 -> a student page -> the comparison."""
    from xpollinate.groclm.train import LoraSettings
    from xpollinate.storefront.distill_collect import collect, plan
    from xpollinate.storefront.distill_data import DistillDataset
    from xpollinate.storefront.student_eval import run_student_eval
    from xpollinate.storefront.student_train import train_student

    sf, _, _ = storefront(fixture_store)
    dataset = DistillDataset(tmp_path / "teacher")
    collect(sf, dataset, plan(sf, 3, 1, seed=0, k=2, keywords=2, shortlist=8))
    run = train_student(
        dataset, minutes=2, max_steps=1, settings=LoraSettings(batch_size=4), home=tmp_path, name="tiny"
    )
    assert run.steps == 1 and run.data.themes == 3 and run.data.keywords == 6
    config = json.loads((run.adapter / "groclm.json").read_text())
    assert config["format"] == "student-v1" and config["steps"] == 1 and config["examples"]["themes"] == 3
    assert find_adapter(tmp_path) == run.adapter
    sf.student_home = tmp_path
    page = sf.page(dataset.manifest().split.test[0], options=PageOptions(k=2, keywords=2, generator="student"))
    prov = page.provenance
    assert prov.generator == "student" and prov.student and "tiny" in prov.student
    assert prov.llm_calls[0].prompt == "student/themes" and prov.keywords_outside_vocabulary == 0
    assert "placements@v1" not in prov.prompts and "placement_keywords@v1" not in prov.prompts
    result = run_student_eval(sf, dataset, items=3, extra=2)
    s = result.summary
    assert s["households"] == 1 and s["student"]["keywords_outside_vocabulary"] == 0
    assert s["teacher"]["themes_valid_share"] == 1.0 and s["teacher"]["judge_mean"] is not None
    assert s["latency_ratio"] is not None and isinstance(s["within_10_percent"], bool)
    more = s["student_validity_more_households"]
    assert more["households"] == 2 and more["keywords_outside_vocabulary"] == 0
    assert 0.0 <= more["themes_valid_share"] <= more["themes_with_a_placement_share"] <= 1.0
