"""A model per role on real parts: the generator on the embedded model (SmolLM2 through llama.cpp in
process) and the judge on an OpenAI-compatible server named in the config file (llama.cpp's HTTP
server), in one batch on the real weeks 1-8 slice; every call is a LangChain run naming its model."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.llm.test_tracing import Recorder
from xpollinate.batch.jobs import DefaultParts
from xpollinate.catalog.anchors import resolve
from xpollinate.catalog.store import DataStore
from xpollinate.cli.main import app
from xpollinate.graphs.item_xp import build_graph
from xpollinate.graphs.runner import anchor_from_item, run_anchor
from xpollinate.llm.tracing import traced
from xpollinate.xpstore.item_xp_store import ItemXPStore

EMBEDDED = "local:smollm2-135m-instruct"
SERVED = "srv:smollm2-135m-instruct"


@pytest.fixture()
def role_env(
    indexed_home: Path, smollm2_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, str]:
    config = tmp_path / "xp.toml"
    config.write_text(f'[llm.endpoints.srv]\nbase_url = "{smollm2_server}"\n')
    env = {"XP_HOME": str(indexed_home), "XP_CONFIG": str(config), "XP_LLM_THREADS": "1"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def test_embedded_generator_and_served_judge_in_one_batch(role_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "summary.json"
    args = ["batch", "--top", "1", "--llm", "local-small", "--judge-llm", SERVED, "--quiet", "--json", str(out)]
    result = CliRunner().invoke(app, args, env=role_env)
    assert result.exit_code in (0, 1), result.output  # 1: the toy model's anchor failed, and says so
    (run_id,) = json.loads(out.read_text())["run_ids"]
    with sqlite3.connect(Path(role_env["XP_HOME"]) / "item_xp.sqlite") as db:
        settings = json.loads(db.execute("SELECT settings FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0])
        (anchor_id,) = db.execute("SELECT anchor_id FROM anchors WHERE run_id = ?", (run_id,)).fetchone()
    assert settings["llm"] == EMBEDDED and settings["judge_llm"] == SERVED
    assert settings["judge_model"]["backend"]["endpoint"] == role_env_url(role_env)
    anchor = ItemXPStore(Path(role_env["XP_HOME"]) / "item_xp.sqlite").anchor(run_id, anchor_id)
    assert anchor is not None
    provenance = anchor["audit"]["provenance"]
    assert provenance["context"]["llm"] == EMBEDDED
    assert provenance["judge"]["llm"] == SERVED


def role_env_url(env: dict[str, str]) -> str:
    return Path(env["XP_CONFIG"]).read_text().split('"')[1]


def test_every_call_of_each_role_is_a_traced_run_naming_its_model(role_env: dict[str, str]) -> None:
    deps = DefaultParts(home=role_env["XP_HOME"], llm="local-small", judge_llm=SERVED).build()
    assert deps.judge_llm is not None and str(deps.judge.spec) == SERVED and str(deps.llm.spec) == EMBEDDED
    store = DataStore.open(Path(role_env["XP_HOME"]))
    anchor = anchor_from_item(resolve(store.items(), "hot dog buns"))
    rec = Recorder()
    with traced([rec]):
        outcome, _ = run_anchor(build_graph("theme", deps), deps.llm, anchor)
    models = {s["name"].split("@")[0]: s["invocation_params"]["model"] for s in rec.llm_starts}
    assert models["theme"] == EMBEDDED and models["pick"] == EMBEDDED
    assert outcome.audit["n_matches"] > 0 and models["relevance"] == SERVED  # the judge ran, on the server
    assert len(rec.llm_starts) == len(rec.llm_ends) + len(rec.llm_errors)
