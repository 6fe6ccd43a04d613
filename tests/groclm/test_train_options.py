"""`xp groclm train`'s step budgets, snapshots, init adapter and in-context cycles prompt: one tiny real run
on the fixture data (Stage 1 then Stage 2 with a snapshot), a second run starting Stage 2 from the first's
Stage-1 adapter, and the bad inputs refused with a message naming the option."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from xpollinate.cli.main import app

TINY = ["groclm", "train", "--train-until", "8", "--from-week", "2", "--stage2-examples", "6", "--batch-size", "2"]
TINY += ["--max-minutes", "5", "--stage1-minutes", "2", "--max-prompt-tokens", "200", "--keep-current"]


@pytest.fixture()
def home(fixture_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    copy = tmp_path / "home"
    shutil.copytree(fixture_home / "data", copy / "data")
    monkeypatch.setenv("XP_HOME", str(copy))
    return copy


def _said(output: str) -> str:
    return " ".join(output.split())


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--stage2-steps", "-1"], "--stage2-steps must be 0 or more, got -1"),
        (["--stage1-steps", "-3"], "--stage1-steps must be 0 or more, got -3"),
        (["--stage2-steps", "4", "--save-steps", "4"], "--save-steps [4]: give Stage-2 steps from 1 to below"),
        (["--init-adapter", "x", "--stage1-steps", "2"], "--init-adapter and --stage1-steps exclude each other"),
    ],
)
def test_bad_step_options(home: Path, extra: list[str], message: str) -> None:
    res = CliRunner().invoke(app, [*TINY, *extra])
    assert res.exit_code == 2 and message in _said(res.output), res.output


@pytest.mark.slow  # ~80 s on 2 shared cores: three tiny training runs, each loading the backbone
def test_step_budgets_snapshots_and_init_adapter(home: Path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, [*TINY, "--stage1-steps", "1", "--stage2-steps", "2", "--save-steps", "1", "--save-stage1", "--json", "-"]
    )
    assert res.exit_code == 0, res.output
    done = json.loads(res.stdout)
    folder = Path(done["folder"])
    assert [(r["name"], r["steps"]) for r in done["runs"]] == [("stage1", 1), ("stage2", 2)]
    assert not (folder.parent / "CURRENT").exists()  # --keep-current
    stage1 = folder.parent / f"{folder.name}-stage1"
    snap = json.loads((folder.parent / f"{folder.name}-s2-1" / "groclm.json").read_text())
    assert [(r["name"], r["steps"]) for r in snap["runs"]] == [("stage1", 1), ("stage2", 1)]
    first = json.loads((stage1 / "groclm.json").read_text())
    assert [r["name"] for r in first["runs"]] == ["stage1"] and (stage1 / "adapter_model.safetensors").is_file()

    res = runner.invoke(
        app,
        [*TINY, "--init-adapter", str(stage1), "--stage2-steps", "1", "--prompt-style", "cycles"]
        + ["--grad-checkpointing", "--json", "-"],
    )
    assert res.exit_code == 0, res.output
    second = json.loads(res.stdout)
    assert [(r["name"], r["steps"]) for r in second["runs"]] == [("stage2", 1)]
    assert second["init_adapter"]["name"] == stage1.name and second["init_adapter"]["runs"][0]["steps"] == 1
    assert second["prompt_style"] == "cycles" and second["stage2"]["prompt_tokens_mean"] <= 200
    assert second["grad_checkpointing"] and all(r["loss"][0] > 0 for r in second["runs"])

    first["categories"] = [*first["categories"][1:], "SPACE FOOD"]
    (stage1 / "groclm.json").write_text(json.dumps(first))
    res = runner.invoke(app, [*TINY, "--init-adapter", str(stage1), "--stage2-steps", "1"])
    assert res.exit_code == 2 and "category vocabulary changed" in _said(res.output), res.output
    assert "removed SPACE FOOD" in _said(res.output)
