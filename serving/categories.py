"""GET /v1/households/{id}/categories: a household's next-basket (or restock) product categories (GroCLM).

The category service (`groclm.service`: the baskets, and the fine-tuned GroCLM when an adapter was trained on
this data) opens on the first request of a worker, not at start-up, so a service that never answers this
route never loads a language model. Without an adapter the best baseline answers (`source: top_frequency`,
`reason` says why); a household with no categorised basket gets popularity with the reason. Decoding runs in
a worker thread, one household at a time per process (the model decodes one answer at a time anyway).

`items` (default 3, 0 to skip) adds the two-tower model's best items for the household in each listed
category when a two-tower model is trained on this data (`items_source`), else `items_reason` says why.

Errors name the problem: k outside 1-50, items outside 0-10 or an unknown task is 422 naming the field, an
unknown household 404, a run directory without data (or an adapter whose category vocabulary no longer matches) 503.
"""

# No `from __future__ import annotations`: FastAPI reads the handler's annotations at run time.

import threading
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Path, Query
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from xpollinate.errors import XPError
from xpollinate.groclm.category_items import MAX_ITEMS
from xpollinate.groclm.service import MAX_K, CategoryService, UnknownHousehold, open_service
from xpollinate.serving.config import ServeConfig
from xpollinate.serving.responses import JSON, OpenedOnFirstUse

ROUTE = "/v1/households/{household_id}/categories"


def _json(payload: Any, status: int = 200) -> JSON:
    return JSON(payload, status)


class CategoriesRoute:
    """The worker's category service, opened once on first use; answers serialized by a lock."""

    def __init__(self, config: ServeConfig) -> None:
        self.config = config
        self._service = OpenedOnFirstUse(lambda: open_service(config.home))
        self._answer_lock = threading.Lock()

    def service(self) -> CategoryService:
        return self._service.get()

    def answer(self, household_id: int, task: Literal["next", "restock"], k: int, items: int) -> dict[str, Any]:
        service = self.service()
        with self._answer_lock:
            return service.recommend(household_id, task, k, items)


def add_categories(app: FastAPI, config: ServeConfig) -> CategoriesRoute:
    """Register the categories route on `app`."""
    route = CategoriesRoute(config)

    @app.get(
        ROUTE,
        summary="A household's next-basket product categories (GroCLM with the category trie, or the best baseline)",
        responses={
            404: {"description": "unknown household"},
            422: {"description": "invalid task, k or items"},
            503: {"description": "the run directory lacks the data store, or the adapter no longer fits the data"},
        },
    )
    async def categories(
        household_id: Annotated[int, Path(ge=0, le=2**62, description="household id")],
        task: Annotated[
            Literal["next", "restock"],
            Query(description="next: any category; restock: only categories the household bought before"),
        ] = "next",
        k: Annotated[int, Query(ge=1, le=MAX_K, description=f"categories to list, 1-{MAX_K}")] = 10,
        items: Annotated[
            int, Query(ge=0, le=MAX_ITEMS, description=f"two-tower items per category, 0-{MAX_ITEMS} (0: none)")
        ] = 3,
    ) -> Response:
        try:
            return _json(await run_in_threadpool(route.answer, household_id, task, k, items))
        except UnknownHousehold as exc:
            return _json({"detail": str(exc)}, 404)
        except XPError as exc:
            return _json({"detail": str(exc)}, 503)

    return route
