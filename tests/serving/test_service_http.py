"""The service over HTTP: lookups, cart paths and fallbacks, 422s naming fields, metrics."""

from __future__ import annotations

import re

import pytest

from tests.serving.conftest import Service


def test_health_readiness_and_openapi(service: Service) -> None:
    assert service.call("GET", "/healthz") == (200, {"status": "ok"})
    status, ready = service.call("GET", "/readyz")
    assert status == 200 and ready["ready"] and ready["state"]["item_xp_anchors"] == 1
    assert ready["state"]["ranker"] == "heuristic" and ready["state"]["trained_ranker"] is False
    status, spec = service.call("GET", "/openapi.json")
    assert status == 200
    assert {"/v1/items/{item_id}/xp", "/v1/cart/recommend", "/healthz", "/readyz", "/metrics"} <= set(spec["paths"])
    cart = spec["components"]["schemas"]["CartRequest"]["properties"]
    assert cart["item_ids"]["maxItems"] == 100 and cart["k"]["maximum"] == 50


def test_item_xp_lookup_returns_stored_recommendations(service: Service) -> None:
    status, body = service.call("GET", "/v1/items/1/xp")
    assert status == 200 and body["source"] == "item_xp" and body["run_id"] == "run-1"
    assert body["product_type"] == "GROUND COFFEE" and body["is_grocery"]
    recs = body["recommendations"]
    assert [r["item_id"] for r in recs] == [16, 15, 13]  # every stored band, Poor included
    assert recs[0]["band"] == "Excellent" and recs[0]["combined"] == pytest.approx(0.8)
    assert recs[0]["theme"] == "Morning brew" and recs[0]["explanation"] == "goes with 1"
    assert {r["source"] for r in recs} == {"llm"}  # each item says where it came from (llm, historical or both)
    status, one = service.call("GET", "/v1/items/1/xp?k=1")
    assert [r["item_id"] for r in one["recommendations"]] == [16]


def test_item_lookup_falls_back_to_historical_and_rejects_unknown(service: Service) -> None:
    status, body = service.call("GET", "/v1/items/3/xp")
    assert status == 200 and body["source"] == "historical"
    assert [r["item_id"] for r in body["recommendations"]] == [13, 16] and body["recommendations"][0]["score"] == 7.0
    status, body = service.call("GET", "/v1/items/999/xp")
    assert status == 404 and "999" in body["detail"]
    status, body = service.call("GET", "/v1/items/abc/xp")
    assert status == 422 and body["errors"][0]["field"] == "item_id"
    status, body = service.call("GET", "/v1/items/1/xp?k=0")
    assert status == 422 and body["errors"][0]["field"] == "k"


def test_cart_mixes_item_xp_and_historical_and_names_anchors(service: Service) -> None:
    status, body = service.call(
        "POST", "/v1/cart/recommend", {"item_ids": [1, 3, 15, 999, 1], "k": 10, "max_per_pt": 5}
    )
    assert status == 200, body
    assert body["unknown_item_ids"] == [999] and body["non_anchor_item_ids"] == [15]
    assert body["anchors"] == {"item_xp": [1], "historical": [3]}
    served = body["served_by"]
    assert served["candidates"] == "item_xp+historical" and served["ranker"] == "heuristic"
    assert set(served["fallbacks"]) == {"no_trained_ranker", "historical_anchors"}
    items = {i["item_id"]: i for i in body["items"]}
    assert 15 not in items  # in the cart: never recommended back
    assert items[16]["anchor_id"] in (1, 3) and items[13] == {**items[13], "anchor_id": 3, "source": "historical"}
    assert all(i["source"] == ("item_xp" if i["anchor_id"] == 1 else "historical") for i in body["items"])
    assert [i["rank"] for i in body["items"]] == list(range(1, len(items) + 1))
    scores = [i["score"] for i in body["items"]]
    assert scores == sorted(scores, reverse=True)
    assert (
        body["pool_size"] == len(items) == 2
    )  # 16 (both anchors) and 13 (historical of 3); Poor 13 of anchor 1 dropped


def test_cart_candidates_name_their_source_and_are_diversified(service: Service) -> None:
    status, body = service.call("POST", "/v1/cart/recommend", {"item_ids": [4, 2]})
    assert status == 200 and body["served_by"]["candidates"] == "historical"
    pts = [i["product_type"] for i in body["items"]]
    assert pts.count("COFFEE FILTERS") == 2  # default max_per_pt 2
    status, body = service.call("POST", "/v1/cart/recommend", {"item_ids": [4, 2], "max_per_pt": 1, "k": 5})
    pts = [i["product_type"] for i in body["items"]]
    assert len(pts) == len(set(pts)) and len(pts) <= 5
    status, body = service.call("POST", "/v1/cart/recommend", {"item_ids": [1]})
    assert body["served_by"]["candidates"] == "item_xp" and "historical_anchors" not in body["served_by"]["fallbacks"]
    assert [i["item_id"] for i in body["items"]] == [16, 15]


def test_empty_cart_and_gm_only_cart_get_popular_items(service: Service) -> None:
    status, body = service.call("POST", "/v1/cart/recommend", {"item_ids": [], "k": 3})
    assert status == 200 and body["served_by"] == {
        "candidates": "popular",
        "ranker": "popularity",
        "fallbacks": ["empty_cart"],
    }
    assert len(body["items"]) == 3 and all(i["source"] == "popular" and i["anchor_id"] is None for i in body["items"])
    status, body = service.call("POST", "/v1/cart/recommend", {"item_ids": [15, 16]})
    assert body["served_by"]["fallbacks"] == ["no_candidates"] and body["non_anchor_item_ids"] == [15, 16]
    assert not {15, 16} & {i["item_id"] for i in body["items"]}


@pytest.mark.parametrize(
    "raw, field",
    [
        (b'{"item_ids": [1, 2', "body"),  # malformed JSON
        (b"[1, 2]", "body"),  # not an object
        (b'{"item_ids": "1,2"}', "item_ids"),
        (b'{"item_ids": [1, "2"]}', "item_ids.1"),
        (b'{"item_ids": [1], "k": -1}', "k"),
        (b'{"item_ids": [1], "k": 1000000}', "k"),
        (b'{"item_ids": [1], "k": "5"}', "k"),
        (b'{"item_ids": [1], "max_per_pt": 0}', "max_per_pt"),
        (b'{"item_ids": [1], "household_id": -3}', "household_id"),
        (b'{"itemIds": [1]}', "itemIds"),
        (b'{"item_ids": [' + b",".join(b"1" for _ in range(101)) + b"]}", "item_ids"),
    ],
)
def test_bad_cart_requests_are_422_naming_the_field(service: Service, raw: bytes, field: str) -> None:
    from xpollinate.serving.schemas import InvalidRequest

    status, body = service.call("POST", "/v1/cart/recommend", raw=raw)
    assert status == 422, body
    assert field in [e["field"] for e in body["errors"]], body
    assert field in body["detail"]
    InvalidRequest.model_validate(body)  # the body OpenAPI advertises for 422


def test_openapi_advertises_the_422_body_the_service_sends(service: Service) -> None:
    status, spec = service.call("GET", "/openapi.json")
    assert status == 200
    for path, method in (("/v1/cart/recommend", "post"), ("/v1/items/{item_id}/xp", "get")):
        schema = spec["paths"][path][method]["responses"]["422"]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/InvalidRequest"}, schema
    assert set(spec["components"]["schemas"]["InvalidRequest"]["properties"]) == {"detail", "errors"}


def test_metrics_count_requests_pools_and_fallbacks(service: Service) -> None:
    for _ in range(3):
        service.call("POST", "/v1/cart/recommend", {"item_ids": [1, 3]})
    service.call("POST", "/v1/cart/recommend", raw=b"{")
    status, text = service.call("GET", "/metrics")
    assert status == 200

    def value(pattern: str) -> float:
        m = re.search(pattern + r" ([0-9.e+]+)", text)
        assert m, pattern
        return float(m.group(1))

    assert value(r'xp_http_requests_total\{endpoint="cart",status="200"\}') >= 3
    assert value(r'xp_http_requests_total\{endpoint="cart",status="422"\}') >= 1
    assert value(r'xp_fallbacks_total\{kind="historical_anchors"\}') >= 3
    assert value(r"xp_cart_pool_size_count") >= 3
    assert value(r'xp_http_request_seconds_count\{endpoint="cart"\}') >= 4
    assert value(r"xp_ready") == 1


def test_admin_reload_needs_the_token_beyond_loopback(monkeypatch) -> None:
    from typer.testing import CliRunner

    from xpollinate.cli.main import app
    from xpollinate.serving.app import admin_allowed

    assert admin_allowed(None, None, loopback=True)  # a loopback-only server without a token: open
    assert not admin_allowed(None, None, loopback=False)
    assert admin_allowed("Bearer s3cret", "s3cret", loopback=False)
    assert not admin_allowed("Bearer wrong", "s3cret", loopback=True)  # a token set is always required
    assert not admin_allowed(None, "s3cret", loopback=True)
    monkeypatch.delenv("XP_ADMIN_TOKEN", raising=False)
    res = CliRunner().invoke(app, ["serve", "--host", "0.0.0.0"])
    assert res.exit_code == 2 and "XP_ADMIN_TOKEN" in res.output
