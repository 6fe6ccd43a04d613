from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from xpollinate.cache import ResponseCache, cache_dir, response_key
from xpollinate.cli.cache import app

BASE = dict(
    prompt_ref="theme@v2",
    prompt_sha256="a" * 64,
    provider="local",
    model="smollm2-135m-instruct",
    backend={"backend": "llama.cpp", "n_ctx": 4096},
    params={"temperature": 0.0, "max_tokens": 400, "seed": 42},
    schema={"type": "object"},
    rendered="Analyze the following item: Milk",
)


def test_key_changes_with_every_component() -> None:
    base = response_key(**BASE)
    assert response_key(**BASE) == base and len(base) == 64
    variants = [
        {"prompt_ref": "theme@v3"},
        {"prompt_sha256": "b" * 64},
        {"provider": "openai"},
        {"model": "qwen2.5-coder-1.5b-instruct-q4_k_m"},
        {"backend": {"backend": "llama.cpp", "n_ctx": 8192}},
        {"params": {"temperature": 0.7, "max_tokens": 400, "seed": 42}},
        {"schema": {"type": "object", "required": ["x"]}},
        {"rendered": "Analyze the following item: Eggs"},
    ]
    keys = {response_key(**{**BASE, **v}) for v in variants}
    assert base not in keys and len(keys) == len(variants)


def test_set_get_stats_and_clear_by_prompt_version(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c")
    cache.set("k1", {"value": {"a": 1}}, "theme@v2")
    cache.set("k2", {"value": {"a": 2}}, "theme@v2")
    cache.set("k3", {"value": {"a": 3}}, "evaluator@v2")
    assert cache.get("k1") == {"value": {"a": 1}} and cache.get("nope") is None
    stats = cache.stats()
    assert stats.entries == 3 and stats.by_prompt == {"evaluator@v2": 1, "theme@v2": 2}
    assert cache.clear("theme@v2") == 2
    assert cache.get("k1") is None and cache.get("k3") is not None
    assert cache.clear() == 1 and cache.stats().entries == 0


WORKER = """
import sys, time
from pathlib import Path
from xpollinate.cache import ResponseCache
cache = ResponseCache(Path(sys.argv[1]))
with cache.compute_lock("key"):
    if cache.get("key") is None:
        with open(sys.argv[2], "a") as fh:
            fh.write("computed\\n")
        time.sleep(0.5)
        cache.set("key", {"value": 1}, "theme@v2")
"""


def test_a_key_is_computed_once_across_processes(tmp_path: Path) -> None:
    counter = tmp_path / "calls.txt"
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path / "c"), str(counter)]) for _ in range(3)]
    assert [p.wait(timeout=60) for p in procs] == [0, 0, 0]
    assert counter.read_text().splitlines() == ["computed"]


def test_cli_stats_and_clear_use_the_run_directory() -> None:
    cache = ResponseCache()
    assert cache.path == cache_dir()
    cache.set("k1", {"value": 1}, "theme@v2")
    cache.set("k2", {"value": 2}, "judge@v2")
    runner = CliRunner()
    res = runner.invoke(app, ["stats"])
    assert res.exit_code == 0 and "2 entries" in res.output and "judge@v2" in res.output
    res = runner.invoke(app, ["clear", "--prompt", "judge@v2"])
    assert res.exit_code == 0 and "removed 1 entries of judge@v2" in res.output
    assert cache.get("k1") is not None and cache.get("k2") is None
    res = runner.invoke(app, ["clear", "--prompt", "nope@v1"])
    assert res.exit_code == 2
    res = runner.invoke(app, ["clear"])
    assert res.exit_code == 0 and "removed 1 entries" in res.output
