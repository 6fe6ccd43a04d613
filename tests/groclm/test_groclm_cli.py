from __future__ import annotations

import json

from typer.testing import CliRunner

from xpollinate.cli.main import app

SPLIT = ["--train-until", "8", "--val-until", "10"]  # the fixture spans weeks 1-12: test weeks 11-12


def _said(res) -> str:
    return " ".join(res.output.replace("│", " ").split())


def test_eval_on_the_fixture_reports_every_baseline(fixture_home, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XP_HOME", str(fixture_home))
    res = CliRunner().invoke(app, ["groclm", "eval", *SPLIT, "--json", "-"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.stdout)
    assert set(payload["tasks"]) == {"next", "inbasket"}
    for name, task in payload["tasks"].items():
        reads_given = {"cooccurrence", "cooc_personal"} if name == "inbasket" else set()
        assert set(task["baselines"]) == {"popularity", "top_frequency", "rebuy_due", "tifu_knn", *reads_given}
        for metrics in task["baselines"].values():
            for k in (5, 10, 20):
                for m in ("p", "r", "f1"):
                    cell = metrics[f"{m}@{k}"]
                    assert 0 <= cell["mean"] <= 1 and cell["sd"] is not None and len(cell["per_seed"]) == 3
    res = CliRunner().invoke(
        app, ["groclm", "eval", *SPLIT, "--task", "next", "--seeds", "0", "--results", str(tmp_path)]
    )
    assert res.exit_code == 0, res.output
    assert "tifu_knn" in res.output and "F1@20" in res.output
    page = (tmp_path / "groclm-baselines.md").read_text()
    assert "Task next" in page and "rebuy_due" in page
    assert json.loads((tmp_path / "groclm-baselines.json").read_text())["tasks"]["next"]["seeds"] == [0]


def test_eval_refuses_bad_input_naming_the_flag(fixture_home, monkeypatch) -> None:
    monkeypatch.setenv("XP_HOME", str(fixture_home))
    runner = CliRunner()
    res = runner.invoke(app, ["groclm", "eval", "--task", "basket"])
    assert res.exit_code == 2 and "--task" in _said(res) and "'next', 'inbasket'" in _said(res)
    res = runner.invoke(app, ["groclm", "eval", *SPLIT, "--household", "999"])
    assert res.exit_code == 2 and "--household 999: no such household" in _said(res)
    res = runner.invoke(app, ["groclm", "eval", *SPLIT, "--k", "0"])
    assert res.exit_code == 2 and "--k 0: choose 1 to 100" in _said(res)
    res = runner.invoke(app, ["groclm", "eval", *SPLIT, "--k", "101"])
    assert res.exit_code == 2 and "--k 101" in _said(res)
    res = runner.invoke(app, ["groclm", "eval", *SPLIT, "--seeds", "a,b"])
    assert res.exit_code == 2 and "--seeds 'a,b'" in _said(res)
    res = runner.invoke(app, ["groclm", "eval", "--train-until", "10", "--val-until", "8"])
    assert res.exit_code == 2 and "--train-until" in _said(res)
    res = runner.invoke(app, ["groclm", "eval", "--train-until", "8", "--val-until", "12"])
    assert res.exit_code == 2 and "leaves no test weeks" in _said(res)


def test_eval_of_one_household(fixture_home, monkeypatch) -> None:
    monkeypatch.setenv("XP_HOME", str(fixture_home))
    res = CliRunner().invoke(app, ["groclm", "eval", *SPLIT, "--household", "3", "--task", "next", "--json", "-"])
    assert res.exit_code == 0, res.output
    samples = json.loads(res.stdout)["tasks"]["next"]["samples"]
    assert all(s["households"] == 1 for s in samples)


def test_prepare_writes_the_cycles(fixture_home, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XP_HOME", str(tmp_path))
    (tmp_path / "data").symlink_to(fixture_home / "data")
    res = CliRunner().invoke(app, ["groclm", "prepare", "--train-until", "8", "--json", "-"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["with_cycle"] >= 1 and summary["categories"] == 10
    lines = (tmp_path / "groclm").glob("*/stage1.jsonl")
    records = [json.loads(line) for path in lines for line in path.read_text().splitlines()]
    assert len(records) == summary["with_cycle"] and {"category", "mean_days", "sd_days"} <= set(records[0])
    res = CliRunner().invoke(app, ["groclm", "prepare", "--train-until", "99"])
    assert res.exit_code == 2 and "--train-until 99" in _said(res)
