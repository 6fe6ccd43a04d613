"""Errors of the storefront: each names what was wrong, so the CLI and HTTP can say it plainly."""

from __future__ import annotations

from xpollinate.errors import XPError

CONTEXT_MAX_CHARS = 200


class StorefrontError(XPError):
    """A storefront request that cannot be answered as asked."""


class UnknownHouseholdError(StorefrontError):
    """A household id that the data store does not hold (HTTP 404)."""


class ContextError(StorefrontError):
    """A shopping context that is empty or longer than the limit (HTTP 422)."""


def check_context(context: str | None) -> str | None:
    """The context as the pipeline uses it (spaces folded); None stays None, an empty or over-long one is an error."""
    if context is None:
        return None
    folded = " ".join(context.split())
    if not folded:
        raise ContextError("the context is empty: give 1 to 200 characters (e.g. 'hosting a barbecue') or leave it out")
    if len(folded) > CONTEXT_MAX_CHARS:
        raise ContextError(f"the context has {len(folded)} characters; the limit is {CONTEXT_MAX_CHARS}")
    return folded
