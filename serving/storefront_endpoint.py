"""GET /v1/households/{id}/storefront: a household's storefront page, from the page cache when generated before.

The storefront (data, LLM, ranker) is opened on the first request of a worker, not at start-up, so a
service that never serves a page never loads it. A cached page is read and returned without
re-validation (milliseconds); a miss generates the page in a worker thread, one at a time per process
(a local model decodes one page at a time anyway), and caches it. Errors name the problem: an unknown
household is 404, a bad context 422 naming `context`, a run directory without data 503.
"""

# No `from __future__ import annotations`: FastAPI reads the handler's annotations at run time.

import threading
from typing import Annotated, Any

from fastapi import FastAPI, Path, Query
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from xpollinate.errors import XPError
from xpollinate.serving.config import ServeConfig
from xpollinate.serving.page_layout import CSP, notice, page
from xpollinate.serving.responses import JSON, OpenedOnFirstUse
from xpollinate.serving.storefront_view import storefront_html
from xpollinate.storefront.errors import ContextError, UnknownHouseholdError
from xpollinate.storefront.page import PageOptions, Storefront

ROUTE = "/v1/households/{household_id}/storefront"
UI_ROUTE = "/ui/households/{household_id}/storefront"
HTML_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def _json(payload: Any, status: int = 200) -> JSON:
    return JSON(payload, status)


class StorefrontService:
    """The worker's storefront, opened once on first use; page generation serialized by a lock."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._storefront = OpenedOnFirstUse(lambda: Storefront.open(config.home))
        self._generate_lock = threading.Lock()

    def storefront(self) -> Storefront:
        return self._storefront.get()

    def generate(self, household_id: int, context: str | None) -> dict[str, Any]:
        with self._generate_lock:
            page = self.storefront().page(household_id, context, PageOptions())
        return page.model_dump(mode="json")


def add_storefront(app: FastAPI, config: ServeConfig) -> StorefrontService:
    """Register the storefront route on `app`."""
    service = StorefrontService(config)

    async def answer(household_id: int, context: str | None) -> tuple[int, dict[str, Any]]:
        """(status, page or error payload): the cached page, else a generated one; errors named."""
        try:
            sf = service._storefront.opened
            if sf is None:
                sf = await run_in_threadpool(service.storefront)
            cached = sf.cached(household_id, context)
            if cached is not None:
                return 200, cached
            return 200, await run_in_threadpool(service.generate, household_id, context)
        except UnknownHouseholdError as exc:
            return 404, {"detail": str(exc)}
        except ContextError as exc:
            return 422, {
                "detail": f"invalid request: context: {exc}",
                "errors": [{"field": "context", "message": str(exc), "type": "value_error"}],
            }
        except XPError as exc:
            return 503, {"detail": str(exc)}

    async def storefront(
        household_id: Annotated[int, Path(ge=0, le=2**62, description="household id")],
        context: Annotated[str | None, Query(description="shopping context, 1-200 characters")] = None,
    ) -> Response:
        status, payload = await answer(household_id, context)
        return _json(payload, status)

    app.add_api_route(
        ROUTE,
        storefront,
        methods=["GET"],
        summary="A household's storefront page: LLM-themed placements of catalog items (cached pages in milliseconds)",
        responses={
            404: {"description": "unknown household"},
            422: {"description": "invalid context (empty or over 200 characters)"},
            503: {"description": "the run directory lacks the data store"},
        },
    )

    async def storefront_ui(
        household_id: Annotated[int, Path(ge=0, le=2**62)], context: str | None = None
    ) -> HTMLResponse:
        status, payload = await answer(household_id, context or None)
        if status != 200:
            body = page("Storefront", notice(payload["detail"], "error"))
            return HTMLResponse(body, status_code=status, headers=HTML_HEADERS)
        return HTMLResponse(storefront_html(payload), headers=HTML_HEADERS)

    app.add_api_route(UI_ROUTE, storefront_ui, methods=["GET"], include_in_schema=False)
    return service
