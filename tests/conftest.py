"""Shared fixtures: a tiny deterministic dataset in the Complete Journey schema, and a
slice of the real data. Each store is built once per session into its own run directory."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixture_data import make_fixture_source
from xpollinate.catalog.build import BuildOptions, build
from xpollinate.catalog.store import DataStore
from xpollinate.retrieval.catalog_index import build_index
from xpollinate.retrieval.grocery_filter import GroceryFilter


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def smollm2_server() -> Iterator[str]:
    """A real OpenAI-compatible server on 127.0.0.1 (llama.cpp's, via xllamacpp, with SmolLM2),
    started once per session; yields its base URL."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "xpollinate.llm.local_server", "--model", "smollm2-135m-instruct", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited early: {proc.stdout.read() if proc.stdout else ''}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not become ready in 90 s")
            time.sleep(0.3)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="session")
def fixture_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_fixture_source(tmp_path_factory.mktemp("fixture-source"))


@pytest.fixture(scope="session")
def fixture_home(tmp_path_factory: pytest.TempPathFactory, fixture_source: Path) -> Path:
    """A run directory holding the store built from the fixture dataset."""
    home = tmp_path_factory.mktemp("fixture-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XP_SOURCE_DIR", str(fixture_source))
        build(home=home)
    return home


@pytest.fixture(scope="session")
def fixture_store(fixture_home: Path) -> DataStore:
    return DataStore.open(fixture_home)


@pytest.fixture(scope="session")
def real_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run directory with the real Complete Journey data, weeks 1-8 (a fast, real slice)."""
    home = tmp_path_factory.mktemp("real-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("XP_SOURCE_DIR", raising=False)
        build(home=home, options=BuildOptions(weeks=(1, 8)))
    return home


@pytest.fixture(scope="session")
def real_store(real_home: Path) -> DataStore:
    return DataStore.open(real_home)


@pytest.fixture(scope="session")
def indexed_home(real_home: Path, real_store: DataStore) -> Path:
    """The real slice's run directory with its GM catalog index and grocery-filter vectors built (once)."""
    build_index(real_store, home=real_home)
    GroceryFilter.for_store(real_store, home=real_home)
    return real_home


@pytest.fixture(autouse=True)
def _isolated_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test may write into the source tree's ./.xp: default the run directory to a temp folder."""
    monkeypatch.setenv("XP_HOME", str(tmp_path / "xp-home"))
