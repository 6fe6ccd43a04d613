"""A FastAPI route whose endpoint takes one JSON body model, validated straight from the request bytes.

FastAPI's generic handler decodes the body with `json.loads`, solves the endpoint's
dependencies and validates the resulting dict in Python mode: on this machine that costs
about as much CPU as a whole cart recommendation. A cart endpoint has exactly one input,
its body, so this route validates the bytes with the model's own `model_validate_json`
(pydantic-core parses and validates in one pass, strict as the model says) and calls the
endpoint with the model. The OpenAPI spec is FastAPI's, from the endpoint's signature.
Invalid bodies raise `RequestValidationError` with locations under "body", exactly as
FastAPI reports them, so the app's one 422 handler names the field either way.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response


def body_model_route(model: type[BaseModel]) -> type[APIRoute]:
    """An `APIRoute` class for endpoints `async def f(body: model) -> Response` (pass as `route_class_override`)."""

    class BodyModelRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
            endpoint: Callable[[Any], Awaitable[Response]] = self.endpoint

            async def handler(request: Request) -> Response:
                raw = await request.body()
                try:
                    body = model.model_validate_json(raw)
                except ValidationError as exc:
                    errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
                    raise RequestValidationError(errors, body=raw) from None
                return await endpoint(body)

            return handler

    BodyModelRoute.__name__ = f"{model.__name__}Route"
    return BodyModelRoute
