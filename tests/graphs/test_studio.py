"""LangGraph Studio's local server: `langgraph dev` serves the graphs of `langgraph.json` offline, and a
run through the `langgraph-sdk` client returns the graph's state (real SmolLM2, real slice); a reviewing
assistant streams a run to its human-review interrupt, and one resume stores the decisions as a review sheet."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from xpollinate.catalog.anchors import resolve
from xpollinate.catalog.store import DataStore
from xpollinate.graphs.runner import anchor_from_item
from xpollinate.review import import_labels

REPO = Path(__file__).resolve().parents[2]
OFFLINE_ENV = {"LANGGRAPH_CLI_NO_ANALYTICS": "1", "LANGGRAPH_NO_VERSION_CHECK": "1", "LANGSMITH_TRACING": "false"}


def wait_ready(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180.0) -> None:  # type: ignore[type-arg]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"langgraph dev exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/ok", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1.0)
    pytest.fail(f"langgraph dev not ready after {timeout_s} s:\n{log.read_text()[-3000:]}")


def test_langgraph_dev_runs_the_theme_graph(indexed_home: Path, real_store: DataStore, tmp_path: Path) -> None:
    from langgraph_sdk import get_sync_client

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "langgraph-dev.log"
    env = {**os.environ, **OFFLINE_ENV, "XP_HOME": str(indexed_home), "XP_LLM": "local-small", "XP_LLM_THREADS": "1"}
    exe = Path(sys.executable).with_name("langgraph")
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            [
                str(exe),
                "dev",
                "--no-browser",
                "--no-reload",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--config",
                str(REPO / "langgraph.json"),
            ],
            cwd=tmp_path,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_ready(url, proc, log)
        client = get_sync_client(url=url)
        assistants = {a["graph_id"]: a for a in client.assistants.search()}
        assert set(assistants) >= {"item_xp_theme", "item_xp_naive"}
        schemas = client.assistants.get_schemas(assistants["item_xp_theme"]["assistant_id"])
        assert set(schemas["input_schema"]["properties"]) == {"anchor"}  # Studio's form: the anchor, not the state
        options = set(schemas["context_schema"]["properties"])  # and the run's options, a model per role among them
        assert {"plan", "grounding", "review", "llm", "evaluator_llm", "judge_llm"} <= options
        anchor = anchor_from_item(resolve(real_store.items(), "ground coffee"))
        configurable = {"match_k": 1, "expand": 0, "evaluator_mode": "batched"}
        out = client.runs.wait(
            None,
            "item_xp_theme",
            input={"anchor": anchor.model_dump()},
            config={"configurable": configurable},
        )
        assert isinstance(out, dict) and "__error__" not in out, out
        assert out["anchor"]["item_id"] == anchor.item_id
        # SmolLM2's themes are kept, dropped with a reason, or its call is a recorded failure
        assert len(out.get("themes", [])) + len(out.get("dropped", [])) + len(out.get("failures", [])) >= 1
        assert out["provenance"]["context"]["llm"] == "local:smollm2-135m-instruct" or out.get("failures")
        assert out["scorer_id"] == "fallback:minilm-cosine@v1"
        for r in out.get("results", []):
            assert r["combined"] == pytest.approx(r["ce"] * r["llm"], abs=1e-4)
            assert r["band"] != "Poor" or r["source"] != "llm"  # the model's Poor items go; historical ones stay
        assert out["results"]  # the historical product types are there whatever the small model says
        with pytest.raises(Exception, match="colour: Extra inputs are not permitted"):  # an error, not dropped
            client.runs.wait(
                None, "item_xp_theme", input={"anchor": anchor.model_dump()}, config={"configurable": {"colour": 1}}
            )

        # Streaming, and the review interrupt with the server's own checkpointer. The same settings as the run
        # above, so every model answer comes from the response cache: this part costs seconds.
        # An assistant carries the options: the server also builds the graph to read a thread's state, with the
        # assistant's settings and without a run's context, and the review step changes the graph's topology.
        reviewer = client.assistants.create("item_xp_theme", config={"configurable": {**configurable, "review": True}})
        thread = client.threads.create()["thread_id"]
        events = list(
            client.runs.stream(
                thread, reviewer["assistant_id"], input={"anchor": anchor.model_dump()}, stream_mode="updates"
            )
        )
        nodes = [node for e in events if e.event == "updates" for node in e.data]
        assert nodes[0] == "context" and {"match", "judge", "cross_encode", "combine"} <= set(nodes)
        assert nodes[-1] == "__interrupt__" and "review" not in nodes  # paused before the review step ran
        paused = client.threads.get_state(thread)
        assert paused["next"] == ["review"]
        asked = paused["tasks"][0]["interrupts"][0]["value"]
        ids = [i["item_id"] for i in asked["items"]]
        assert ids == [r["item_id"] for r in out["results"]]
        answer = {str(ids[0]): {"decision": "reject", "error_source": "llm"}, "*": "approve"}
        final = client.runs.wait(thread, reviewer["assistant_id"], command={"resume": answer})
        assert isinstance(final, dict) and "__error__" not in final, final
        assert [r["item_id"] for r in final["results"]] == ids[1:]
        assert client.threads.get_state(thread)["next"] == []
        sheet = Path(final["review"]["path"])
        assert sheet.parent == indexed_home / "reviews"  # the server's run directory (XP_HOME)
        imported = import_labels(sheet, home=indexed_home)
        assert imported.labelled == len(ids) and imported.run_id == f"thread-{thread}"
        assert imported.error_attribution["llm"] == (1.0 if asked["items"][0]["band"] != "Poor" else 0.0)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.poll() is not None
