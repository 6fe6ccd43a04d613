"""GroCLM's training pieces with the real tokenizer (answers spelled as the trie decoder spells them, left
padding, the answer-only loss), the adapter's vocabulary check, and one small real run on the fixture data:
`xp groclm train` -> `xp groclm eval --tuned` -> `xp groclm recommend` -> the categories route, each decoding
only valid, distinct category names; a vocabulary changed since training is refused, naming the category."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from xpollinate.cli.main import app
from xpollinate.errors import XPError
from xpollinate.groclm.adapter import VocabularyChanged, check_vocabulary, resolve_adapter
from xpollinate.groclm.decode import category_trie
from xpollinate.groclm.stages import Example, answer_ids, stage1_examples, target_order
from xpollinate.groclm.train import answer_loss, collate
from xpollinate.serving.app import create_app
from xpollinate.serving.config import ServeConfig


def test_answers_decode_back_through_the_trie(backbone) -> None:
    tok = backbone.tokenizer
    names = ["FLUID MILK PRODUCTS", "BAKED BREAD/BUNS/ROLLS", "EGGS", "CHEESE"]
    ids = answer_ids(tok, names[:3])
    assert ids[-1] == backbone.eos_id
    trie = category_trie(tok, names)
    assert trie.finished(ids[:-1]) == names[:3]  # what Stage 2 teaches is exactly what the trie lets through


def test_stage1_answer_text(backbone) -> None:
    stats = pd.DataFrame({"name": ["EGGS", "CANDY"], "mean_days": [12.34, 30.0], "sd_days": [5.06, float("nan")]})
    tok = backbone.tokenizer
    ex = stage1_examples(tok, stats)
    assert tok.decode(ex[0].answer[:-1]) == "mean 12.3 days, sd 5.1 days" and ex[0].answer[-1] == backbone.eos_id
    assert tok.decode(ex[1].answer[:-1]) == "mean 30.0 days, sd unknown"
    assert "Product category: eggs" in tok.decode(ex[0].prompt)


def test_target_order_follows_the_history_then_popularity() -> None:
    counts = np.array([3.0, 0.0, 5.0, 1.0, 0.0])
    since = np.array([2.0, np.nan, 9.0, 1.0, np.nan])
    pop = np.array([1.0, 10.0, 1.0, 1.0, 20.0])
    assert target_order(np.array([0, 1, 2, 4]), counts, since, pop) == [2, 0, 4, 1]


def test_collate_left_pads_and_the_loss_matches_the_full_logits(backbone) -> None:
    import torch

    batch = [Example([5, 6, 7, 8, 9], [10, 11]), Example([5, 6], [12, 13, 14])]
    ids, mask, positions, labels = collate(batch, pad_id=0)
    assert ids.tolist() == [[5, 6, 7, 8, 9, 10, 11], [0, 0, 5, 6, 12, 13, 14]]
    assert mask[1].tolist() == [0, 0, 1, 1, 1, 1, 1] and positions[1].tolist() == [0, 0, 0, 1, 2, 3, 4]
    assert labels.tolist() == [[-100, 10, 11], [12, 13, 14]]
    model = backbone.model
    with torch.inference_mode():
        ours = float(answer_loss(model, ids, mask, positions, labels))
        # reference: the model's own loss on each example alone (no padding), tokens weighted equally
        total = 0.0
        for e in batch:
            seq = torch.tensor([e.prompt + e.answer])
            lab = torch.tensor([[-100] * len(e.prompt) + e.answer])
            total += float(model(input_ids=seq, labels=lab).loss) * len(e.answer)
    assert ours == pytest.approx(total / 5, rel=1e-3)


def test_vocabulary_check_names_the_change() -> None:
    check_vocabulary(["A", "B"], ["A", "B"])
    with pytest.raises(VocabularyChanged, match=r"added C; removed B\)"):
        check_vocabulary(["A", "B"], ["A", "C"])


def test_resolve_adapter_errors(tmp_path: Path) -> None:
    with pytest.raises(XPError, match="no trained GroCLM adapter under .*xp groclm train"):
        resolve_adapter(None, tmp_path / "adapters")
    with pytest.raises(XPError, match="not a GroCLM adapter folder"):
        resolve_adapter(tmp_path, tmp_path / "adapters")


@pytest.fixture()
def home(fixture_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(fixture_home / "data", copy / "data")
    monkeypatch.setenv("XP_HOME", str(copy))
    return copy


@pytest.mark.slow  # ~110 s on 2 shared cores: four model loads, a training run, decoding
def test_train_eval_recommend_serve_end_to_end(home: Path, tmp_path: Path, backbone) -> None:
    runner = CliRunner()
    train = ["groclm", "train", "--train-until", "8", "--from-week", "2", "--stage2-examples", "4"]
    train += ["--batch-size", "2", "--max-minutes", "3", "--stage1-minutes", "0.2", "--max-prompt-tokens", "160"]
    res = runner.invoke(app, [*train, "--json", "-"])
    assert res.exit_code == 0, res.output
    trained = json.loads(res.stdout)
    folder = Path(trained["folder"])
    assert (folder / "adapter_model.safetensors").is_file() and (
        folder.parent / "CURRENT"
    ).read_text().strip() == folder.name
    stages = {r["name"]: r for r in trained["runs"]}
    assert stages["stage1"]["steps"] >= 1 and stages["stage2"]["steps"] == 2 and stages["stage2"]["examples_seen"] == 4
    assert all(np.isfinite(r["loss"]).all() for r in trained["runs"]) and trained["train_seconds"] > 0

    args = ["groclm", "eval", "--train-until", "8", "--val-until", "10", "--task", "next", "--seeds", "0", "--k", "3"]
    lm = ["--tuned", "--no-untuned", "--lm-households", "2", "--lm-examples", "2", "--lm-no-trie"]
    lm += ["--latency-households", "1", "--results", str(tmp_path / "results")]
    res = runner.invoke(app, [*args, *lm, "--json", "-"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)["tasks"]["next"]["lm_subset"]["info"]
    assert set(info) == {"groclm", "groclm_no_trie"}
    assert info["groclm"][0]["invalid"] == 0 and info["groclm"][0]["duplicates"] == 0
    summary = json.loads((tmp_path / "results" / "groclm.json").read_text())
    assert summary["lm_subset"]["next"]["models"]["groclm"]["invalid_rate"] == 0.0
    assert summary["training"]["adapter"] == folder.name and summary["latency"]["households"] == 1
    assert "## Training" in (tmp_path / "results" / "groclm-lm.md").read_text()

    res = runner.invoke(app, ["groclm", "recommend", "--household", "3", "--k", "4", "--json", "-"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.stdout)
    assert rec["source"] == "groclm" and rec["adapter"] == folder.name
    assert len(rec["categories"]) == 4 == len(set(rec["categories"])) and rec["generated"] >= 1

    client = TestClient(create_app(ServeConfig(home=home, item_xp="off", watch_s=0)))
    answer = client.get("/v1/households/3/categories", params={"task": "restock", "k": 5})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    names = set(json.loads((folder / "groclm.json").read_text())["categories"])
    assert body["source"] == "groclm" and set(body["categories"]) <= names
    assert len(set(body["categories"])) == len(body["categories"]) >= 1

    config = json.loads((folder / "groclm.json").read_text())
    config["categories"] = [*config["categories"][1:], "SPACE FOOD"]
    (folder / "groclm.json").write_text(json.dumps(config))
    res = runner.invoke(app, ["groclm", "recommend", "--household", "3"])
    said = " ".join(res.output.split())
    assert res.exit_code == 2 and "category vocabulary changed" in said and "removed SPACE FOOD" in said
