"""`GET /v1/households/{id}/storefront` and `xp storefront` on the fixture run directory, with the scripted
model behind the real storefront: a generated page, the same page from the page cache, and bad input
answered 404 / 422 (HTTP) or exit 2 (CLI) with a message naming the problem."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from tests.graphs.scripted import scripted_llm
from tests.storefront.scripted import default_script, word_embed
from xpollinate.cli.main import app as cli_app
from xpollinate.serving.app import create_app
from xpollinate.serving.config import ServeConfig


@pytest.fixture()
def home(fixture_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the fixture run directory (pages are written into it), with the scripted model and the
    word-hashing embedder standing in for the local model and MiniLM."""
    copy = tmp_path / "home"
    shutil.copytree(fixture_home / "data", copy / "data")
    llm, _ = scripted_llm(default_script)
    monkeypatch.setattr("xpollinate.storefront.page.get_llm", lambda spec=None: llm)
    monkeypatch.setattr(
        "xpollinate.storefront.vocabulary.cached_embed", lambda texts, folder, name: word_embed(list(texts))
    )
    monkeypatch.setattr("xpollinate.storefront.vocabulary._minilm", lambda texts: word_embed(texts))
    monkeypatch.setenv("XP_HOME", str(copy))
    return copy


def test_http_page_then_cached_page_and_bad_input(home: Path) -> None:
    client = TestClient(create_app(ServeConfig(home=home, item_xp="off", watch_s=0)))
    first = client.get("/v1/households/1/storefront", params={"context": "hosting a barbecue"})
    assert first.status_code == 200, first.text
    page = first.json()
    assert page["household_id"] == 1 and page["context"] == "hosting a barbecue" and page["placements"]
    assert page["provenance"]["served_from_page_cache"] is False
    again = client.get("/v1/households/1/storefront", params={"context": "hosting a barbecue"})
    assert again.json()["provenance"]["served_from_page_cache"] is True
    assert again.json()["placements"] == page["placements"]

    missing = client.get("/v1/households/999/storefront")
    assert missing.status_code == 404 and "household 999 is not in the data store" in missing.json()["detail"]
    for bad, said in (("", "empty"), ("x" * 201, "201 characters")):
        answer = client.get("/v1/households/1/storefront", params={"context": bad})
        assert answer.status_code == 422 and said in answer.json()["detail"]
        assert answer.json()["errors"][0]["field"] == "context"
    assert client.get("/v1/households/abc/storefront").status_code == 422

    view = client.get("/ui/households/1/storefront", params={"context": "hosting a barbecue"})
    assert view.status_code == 200 and "Coffee Corner" in view.text and "page cache" in view.text
    assert "placement_coherence@v1" in view.text and view.headers["content-security-policy"]
    lost = client.get("/ui/households/999/storefront")
    assert lost.status_code == 404 and "household 999 is not in the data store" in lost.text


def test_cli_prints_a_page_and_its_json(home: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli_app, ["storefront", "--household", "2", "--k", "2"])
    assert result.exit_code == 0, result.output
    assert "Coffee Corner" in result.output and "keywords:" in result.output and "LLM calls" in result.output
    as_json = runner.invoke(cli_app, ["storefront", "--household", "2", "--k", "2", "--json", "-"])
    page = json.loads(as_json.stdout)
    assert page["provenance"]["served_from_page_cache"] is True and page["placements"][0]["items"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--household", "999"], "household 999 is not in the data store"),
        (["--household", "1", "--context", ""], "the context is empty"),
        (["--household", "1", "--context", "y" * 201], "201 characters"),
        (["--household", "1", "--k", "0"], "k = 0: choose 1 to 12"),
    ],
)
def test_cli_bad_input_exits_2_naming_it(home: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli_app, ["storefront", *args])
    assert result.exit_code == 2 and message in " ".join(result.output.split())
    assert "Traceback" not in result.output
