"""The ASGI app: routes, validation errors as 422 naming the field, 503 until ready.

Handlers are `async def` on purpose: each request is a few milliseconds of CPU with no
I/O, so running it on the event loop avoids a thread hop per request; several worker
processes (`--workers`) give the parallelism. Responses are encoded by orjson.
"""

# No `from __future__ import annotations`: FastAPI must see the request model built at run time.

import logging
import os
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from xpollinate.ranking.pool import PoolConfig
from xpollinate.serving import metrics
from xpollinate.serving.auth import admin_allowed
from xpollinate.serving.batcher import RankerBatcher
from xpollinate.serving.cart_endpoint import CartEndpoint
from xpollinate.serving.categories import add_categories
from xpollinate.serving.config import ADMIN_TOKEN_ENV, ServeConfig
from xpollinate.serving.holder import ReloadOutcome, StateHolder
from xpollinate.serving.offline_docs import add_offline_docs
from xpollinate.serving.pages import add_pages
from xpollinate.serving.recommend import item_xp_view, recommend_cart_batched
from xpollinate.serving.responses import JSON
from xpollinate.serving.schemas import (
    CartRequestBase,
    CartResponse,
    InvalidRequest,
    ItemXPResponse,
    Readiness,
    cart_request_model,
)
from xpollinate.serving.storefront_endpoint import add_storefront

log = logging.getLogger("xpollinate.serving")


def _field(error: dict) -> str:
    """'item_ids.3', 'k', or 'body' for a body that is not JSON or not an object."""
    loc = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":
        return "body"
    parts = [str(p) for p in loc[1:]] if loc and loc[0] in ("body", "path", "query") else [str(p) for p in loc]
    return ".".join(parts) or (str(loc[0]) if loc else "request")


def _not_ready_body(holder: StateHolder) -> dict:
    return {"detail": "not ready", "reasons": holder.reasons}


def _not_ready(holder: StateHolder) -> JSON:
    return JSON(_not_ready_body(holder), status_code=503)


def _invalid_body(errors: list[dict]) -> dict:
    """The 422 payload: every error with the field it names, and a one-line summary."""
    listed = [{"field": _field(e), "message": e.get("msg", ""), "type": e.get("type", "")} for e in errors]
    summary = "; ".join(f"{e['field']}: {e['message']}" for e in listed)
    return {"detail": f"invalid request: {summary}", "errors": listed}


def _count_reload(outcome: ReloadOutcome, holder: StateHolder) -> None:
    metrics.RELOADS.labels("ok" if outcome.reloaded else "failed").inc()
    metrics.READY.set(1 if holder.ready else 0)


def create_app(config: ServeConfig | None = None) -> FastAPI:
    config = config or ServeConfig.from_env()
    holder = StateHolder(config)
    holder.on_reload = lambda outcome: _count_reload(outcome, holder)
    pool_config = PoolConfig(per_anchor=config.per_anchor, max_pool=config.max_pool)
    CartRequest = cart_request_model(config)
    batcher = RankerBatcher(config.max_batch, on_batch=metrics.RANKER_BATCH.observe)

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        metrics.READY.set(0)
        holder.start()
        yield
        holder.stop()

    app = FastAPI(
        title="xpollinate",
        version="0.1.0",
        summary="Grocery -> general merchandise (XP) recommendations: stored item-XP lists and live cart ranking.",
        lifespan=lifespan,
        docs_url=None,  # served from local assets below: FastAPI's own pages load them from a CDN
        redoc_url=None,
    )
    app.state.holder = holder
    add_offline_docs(app, "xpollinate")
    add_pages(app, config, holder)
    add_categories(app, config)
    add_storefront(app, config)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(_request: Request, exc: RequestValidationError) -> JSON:
        return JSON(_invalid_body(list(exc.errors())), status_code=422)

    @app.get("/healthz", summary="Liveness: the process answers")
    async def healthz() -> JSON:
        return JSON({"status": "ok"})

    @app.get(
        "/readyz", summary="Readiness: a state is loaded (503 with the reasons otherwise)", response_model=Readiness
    )
    async def readyz() -> JSON:
        state = holder.state
        body = {
            "ready": state is not None,
            "reasons": holder.reasons,
            "state": state.describe() if state else None,
            "pid": os.getpid(),
        }
        return JSON(body, status_code=200 if state is not None else 503)

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        payload, content_type = metrics.render()
        return Response(payload, media_type=content_type)

    @app.post(
        "/admin/reload",
        summary="Re-read changed stores and models now (this worker; every worker's watcher does it too)",
    )
    async def reload(authorization: Annotated[str | None, Header()] = None) -> JSON:
        if not admin_allowed(authorization, os.environ.get(ADMIN_TOKEN_ENV), config.loopback):
            return JSON({"detail": f"POST /admin/reload needs 'Authorization: Bearer <{ADMIN_TOKEN_ENV}>'"}, 401)
        outcome = await run_in_threadpool(holder.reload)
        state = holder.state
        return JSON(
            {
                "reloaded": outcome.reloaded,
                "reasons": outcome.reasons,
                "seconds": round(outcome.seconds, 3),
                "versions": state.versions if state else None,
            },
            status_code=200 if outcome.reloaded else 503,
        )

    @app.get(
        "/v1/items/{item_id}/xp",
        response_model=ItemXPResponse,
        summary="Stored item-XP recommendations of an anchor (historical candidates if it has none)",
        responses={
            404: {"description": "not a catalog item"},
            422: {"model": InvalidRequest, "description": "invalid request"},
            503: {"description": "not ready"},
        },
    )
    async def item_xp(
        item_id: Annotated[int, Path(ge=0, le=2**62, description="anchor item id")],
        k: Annotated[
            int | None, Query(ge=1, le=config.max_k, description="return at most k (default: all stored)")
        ] = None,
    ) -> JSON:
        state = holder.state
        if state is None:
            return _not_ready(holder)
        view = item_xp_view(state, item_id, k)
        if view is None:
            return JSON({"detail": f"item_id {item_id} is not in the catalog"}, status_code=404)
        if view["source"] == "historical":
            metrics.FALLBACKS.labels("item_historical").inc()
        return JSON(view)

    async def cart(body: CartRequestBase) -> tuple[int, dict]:
        """The cart route's work, behind both of its entrances (below): (status, payload)."""
        state = holder.state
        if state is None:
            return 503, _not_ready_body(holder)
        result = await recommend_cart_batched(
            state,
            pool_config,
            batcher,
            body.item_ids,
            body.k,
            body.max_per_pt,
            body.household_id,
            body.platform,
        )
        metrics.POOL.observe(result["pool_size"])
        served = result["served_by"]
        metrics.CART_PATH.labels(served["candidates"], served["ranker"]).inc()
        for kind in served["fallbacks"]:
            metrics.FALLBACKS.labels(kind).inc()
        return 200, result

    async def cart_from_bytes(raw: bytes) -> tuple[int, dict]:
        """The hot entrance (`CartEndpoint`): the body validated from its bytes in one pass (pydantic-core, strict);
        errors located under "body", as FastAPI locates them, so the 422s name the same fields."""
        try:
            body = CartRequest.model_validate_json(raw)
        except ValidationError as exc:
            return 422, _invalid_body([{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)])
        return await cart(body)

    async def cart_recommend(body: CartRequest) -> JSON:  # type: ignore[valid-type]
        status, payload = await cart(body)
        return JSON(payload, status_code=status)

    # FastAPI declares the route (OpenAPI) and can serve it; CartEndpoint answers it first, without FastAPI's
    # per-request machinery. Metrics stay outermost (added last), so they count and time both.
    app.router.add_api_route(
        "/v1/cart/recommend",
        cart_recommend,
        methods=["POST"],
        response_model=CartResponse,
        summary="Rank GM recommendations for a live cart (pool -> ranker -> diversified top k)",
        responses={422: {"model": InvalidRequest, "description": "invalid request"}, 503: {"description": "not ready"}},
    )
    app.add_middleware(CartEndpoint, handle=cart_from_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    return app


def app_from_env() -> FastAPI:
    """Factory for uvicorn workers: the config comes from `XP_SERVE_CONFIG`."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return create_app(ServeConfig.from_env())


__all__ = ["create_app", "app_from_env"]
