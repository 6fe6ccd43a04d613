"""The HTTP contract: request bodies (validated strictly, limits from the config) and responses.

Requests are strict: a string where an id belongs, an unknown field, a cart over
`max_cart` items or k outside [1, max_k] is a 422 naming the field. Responses are
documented here for the OpenAPI spec; the handlers build them as plain dicts and encode
them with orjson (no second validation pass on the hot path).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, create_model

from xpollinate.serving.config import ServeConfig

ItemId = Annotated[int, Field(ge=0, le=2**62, description="catalog product id")]


class CartRequestBase(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")

    if TYPE_CHECKING:  # the fields, with this service's limits, are added by cart_request_model
        item_ids: list[int]
        household_id: int | None
        platform: int | None
        k: int
        max_per_pt: int


def cart_request_model(config: ServeConfig) -> type[CartRequestBase]:
    """`POST /v1/cart/recommend` body with this service's limits (shown in the OpenAPI spec)."""
    return create_model(
        "CartRequest",
        __base__=CartRequestBase,
        item_ids=(
            list[ItemId],
            Field(
                max_length=config.max_cart,
                description=(
                    f"the cart's item ids, oldest first (at most {config.max_cart}); unknown ids are ignored and listed"
                ),
            ),
        ),
        household_id=(
            int | None,
            Field(None, ge=0, le=2**62, description="shopper, for persona scores (null: anonymous)"),
        ),
        platform=(
            int | None,
            Field(
                None, ge=0, le=2**62, description="store id of the session (Complete Journey has no web/app platform)"
            ),
        ),
        k=(int, Field(config.default_k, ge=1, le=config.max_k, description="items to return")),
        max_per_pt=(
            int,
            Field(config.max_per_pt, ge=1, le=100, description="at most this many items of one product type"),
        ),
    )


class Recommendation(BaseModel):
    rank: int
    item_id: int
    score: float | None = Field(description="ranker score (null for a candidate the ranker cannot represent)")
    product_type: str
    text: str
    anchor_id: int | None = Field(
        description="the cart item whose candidate list scored this item highest (null: popular)"
    )
    source: Literal["item_xp", "historical", "popular"]


class ServedBy(BaseModel):
    candidates: Literal["item_xp", "historical", "item_xp+historical", "popular"]
    ranker: str = Field(description="the scorer that ranked the pool (a trained model's name, heuristic, popularity)")
    fallbacks: list[str] = Field(
        description="no_trained_ranker, historical_anchors, empty_cart, no_candidates, ranker_error"
    )


class CartResponse(BaseModel):
    items: list[Recommendation]
    served_by: ServedBy
    unknown_item_ids: list[int] = Field(description="cart ids not in the catalog (ignored)")
    non_anchor_item_ids: list[int] = Field(
        description="known cart items that are not grocery: in the cart, but no candidates"
    )
    anchors: dict[str, list[int]] = Field(description="grocery cart items by the source that answered them")
    pool_size: int
    pool_union: int = Field(description="distinct candidates before the 300 cap")
    versions: dict[str, str]


class StoredRecommendation(BaseModel):
    rank: int
    item_id: int
    item_text: str
    product_type: str
    theme: str | None = None
    recommendation: str | None = None
    explanation: str | None = None
    evaluator_score: float | None = None
    ce: float | None = None
    llm: float | None = None
    combined: float | None = None
    band: str | None = None
    score: float | None = Field(None, description="historical candidates only: shrunk lift")


class ItemXPResponse(BaseModel):
    anchor_id: int
    anchor_text: str
    product_type: str
    is_grocery: bool
    source: Literal["item_xp", "historical", "none"]
    run_id: str | None
    recommendations: list[StoredRecommendation]
    versions: dict[str, str]


class FieldError(BaseModel):
    field: str = Field(description="the request field, e.g. 'item_ids.3' or 'k'")
    message: str
    type: str = Field(description="pydantic's error type, e.g. 'int_parsing'")


class InvalidRequest(BaseModel):
    """The 422 body: a one-line summary, then every error with the field it names."""

    detail: str
    errors: list[FieldError]


class Readiness(BaseModel):
    ready: bool
    reasons: list[str]
    state: dict | None
    pid: int = Field(description="the worker process that answered (several workers: each has its own state)")
