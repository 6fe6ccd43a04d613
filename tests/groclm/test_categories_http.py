"""`GET /v1/households/{id}/categories` on the fixture run directory without a trained adapter: the best
baseline answers and says so; restock lists only past categories; a household without history gets
popularity with the reason; bad input is 404 (unknown household) or 422 naming the field (k, task)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from xpollinate.groclm.service import CategoryService, UnknownHousehold
from xpollinate.serving.app import create_app
from xpollinate.serving.config import ServeConfig


@pytest.fixture(scope="module")
def client(fixture_home: Path, tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    home = tmp_path_factory.mktemp("categories") / "home"
    shutil.copytree(fixture_home / "data", home / "data")  # no adapter here: the baseline answers
    return TestClient(create_app(ServeConfig(home=home, item_xp="off", watch_s=0)))


def test_baseline_answers_when_no_adapter(client: TestClient, fixture_cb) -> None:
    answer = client.get("/v1/households/3/categories", params={"k": 6})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["source"] == "top_frequency" and "no GroCLM adapter" in body["reason"]
    assert body["task"] == "next" and len(body["categories"]) == 6 == len(set(body["categories"]))
    start, end = fixture_cb.households()[3]
    counts = np.asarray(fixture_cb.matrix[start:end].sum(0)).ravel()
    most = fixture_cb.names[int(np.argmax(counts))]
    assert body["categories"][0] == most or counts[fixture_cb.names.index(body["categories"][0])] == counts.max()
    restock = client.get("/v1/households/3/categories", params={"task": "restock", "k": 50}).json()
    past = {fixture_cb.names[c] for c in np.flatnonzero(counts > 0)}
    assert set(restock["categories"]) == past and len(restock["categories"]) == len(past)


def test_bad_input(client: TestClient) -> None:
    missing = client.get("/v1/households/999/categories")
    assert missing.status_code == 404 and "household 999 is not in the data" in missing.json()["detail"]
    for params, field in (({"k": 0}, "k"), ({"k": 51}, "k"), ({"task": "forever"}, "task")):
        answer = client.get("/v1/households/3/categories", params=params)
        assert answer.status_code == 422 and answer.json()["errors"][0]["field"] == field, answer.text
    assert client.get("/v1/households/abc/categories").status_code == 422


def test_household_without_history_gets_popularity(fixture_cb) -> None:
    known = frozenset(fixture_cb.households()) | {4242}
    service = CategoryService(fixture_cb, known, model_reason="no adapter")
    body = service.recommend(4242, "next", 5)
    assert body["source"] == "popularity" and body["reason"].startswith("no history")
    assert len(body["categories"]) == 5 == len(set(body["categories"]))
    assert service.recommend(4242, "restock", 5)["categories"] == []
    with pytest.raises(UnknownHousehold, match="household 77 is not in the data"):
        service.recommend(77, "next", 5)
    with pytest.raises(Exception, match="k 0: choose 1 to 50"):
        service.recommend(3, "next", 0)
