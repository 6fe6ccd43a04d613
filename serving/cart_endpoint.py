"""POST /v1/cart/recommend answered as plain ASGI, in front of FastAPI's request machinery.

Why: a cart request is the service's hot path, and FastAPI's per-request machinery (its
middleware layers, matching every route in turn, the Request object, the endpoint call,
the Response class) cost ~0.2 ms of CPU per cart on the README's 2-vCPU machine, about a
tenth of a cart ranked by a trained model. The route has one input, its JSON body, and one
output, JSON, so this middleware reads the body, hands its bytes to the app's handler
(which validates them with the request model's `model_validate_json` and recommends), and
writes the handler's status and orjson payload. Every other request goes to FastAPI.

FastAPI still declares the route (the OpenAPI entry, and the same handler behind the
router: a test checks that both answer alike). The app installs this inside its metrics
middleware, so cart requests are counted and timed as before; an exception raised here
reaches Starlette's error middleware like any other (a logged 500).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson

CartHandler = Callable[[bytes], Awaitable[tuple[int, Any]]]  # request body -> (status, JSON-able payload)
_HEADERS = [(b"content-type", b"application/json")]


class CartEndpoint:
    """Pure ASGI middleware: POST `path` goes to `handle`, everything else to the wrapped app."""

    def __init__(self, app, handle: CartHandler, path: str = "/v1/cart/recommend"):
        self.app = app
        self.handle = handle
        self.path = path

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        message = await receive()
        body = message.get("body", b"")
        while message.get("more_body"):
            message = await receive()
            body += message.get("body", b"")
        status, payload = await self.handle(body)
        data = orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)
        await send(
            {
                "type": "http.response.start",
                "status": status,
                "headers": [*_HEADERS, (b"content-length", str(len(data)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": data})
