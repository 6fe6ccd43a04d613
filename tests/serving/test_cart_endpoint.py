"""The cart route's two entrances answer alike: CartEndpoint (plain ASGI, what serves) and
FastAPI's route behind the router (what the OpenAPI spec documents)."""

from __future__ import annotations

import asyncio
import json

from xpollinate.serving.app import create_app
from xpollinate.serving.cart_endpoint import CartEndpoint
from xpollinate.serving.config import ServeConfig

BODIES = [
    b'{"item_ids": [1, 3], "k": 3}',
    b'{"item_ids": [1, 777, 4], "household_id": 5, "platform": 2}',
    b'{"item_ids": []}',
    b'{"item_ids": [1, 2',  # malformed JSON
    b'{"item_ids": [1, "2"]}',
    b'{"item_ids": [1], "k": -1}',
    b'{"itemIds": [1]}',
]


async def _call(app, body: bytes, chunks: int = 1) -> tuple[int, dict, dict]:
    sent: list[dict] = []
    size = max(1, -(-len(body) // chunks))
    parts = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    messages = [{"type": "http.request", "body": p, "more_body": n < len(parts) - 1} for n, p in enumerate(parts)]

    async def receive() -> dict:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/cart/recommend",
        "raw_path": b"/v1/cart/recommend",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json")],
        "client": ("127.0.0.1", 5),
        "server": ("127.0.0.1", 8000),
    }
    await app(scope, receive, send)
    start, body_msg = sent[0], sent[1]
    return start["status"], dict(start["headers"]), json.loads(body_msg["body"])


def test_both_entrances_answer_alike(serve_home) -> None:
    app = create_app(ServeConfig(home=serve_home, watch_s=0))

    async def run() -> None:
        async with app.router.lifespan_context(app):
            holder = app.state.holder
            while holder.state is None and holder.loading:
                await asyncio.sleep(0.02)
            assert holder.state is not None
            await _call(app, BODIES[0])  # builds the middleware stack
            endpoint = app.middleware_stack
            while not isinstance(endpoint, CartEndpoint):
                endpoint = endpoint.app
            statuses = []
            for body in BODIES:
                fast = await _call(app, body, chunks=3)  # CartEndpoint answers; the body comes in 3 parts
                endpoint.path = "/elsewhere"  # now FastAPI's route answers (the same app, the same middleware)
                try:
                    routed = await _call(app, body)
                finally:
                    endpoint.path = "/v1/cart/recommend"
                assert fast[0] == routed[0], body
                if fast[0] == 422:  # the same fields and error types (pydantic-core words a JSON error better)
                    fields = lambda r: [(e["field"], e["type"]) for e in r[2]["errors"]]
                    assert fields(fast) == fields(routed), body
                else:
                    assert fast[2] == routed[2], body
                assert fast[1][b"content-type"] == b"application/json"
                assert int(fast[1][b"content-length"]) == len(json.dumps(fast[2], separators=(",", ":")).encode())
                statuses.append(fast[0])
            assert statuses == [200, 200, 200, 422, 422, 422, 422]

    asyncio.run(run())
