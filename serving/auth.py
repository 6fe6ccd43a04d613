"""Who may change things through the service: the admin token rules of `POST /admin/reload`, shared by the
HTML pages that write into the run directory (review labels), so that both follow one rule."""

from __future__ import annotations

import hmac
from urllib.parse import urlsplit


def admin_allowed(authorization: str | None, token: str | None, loopback: bool) -> bool:
    """Whether an admin request may proceed: with a token set, only with it (compared in constant time);
    without one, only on a loopback-only server."""
    if not token:
        return loopback
    given = (authorization or "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


def same_origin(origin: str | None, host: str | None, fetch_site: str | None) -> bool:
    """Whether a browser's form post comes from the service's own pages. A loopback server without a token is open
    to local callers, so a page from elsewhere must not be able to post to it through the user's browser: browsers
    send `Sec-Fetch-Site` and `Origin` with every POST, and non-browser clients send neither (allowed)."""
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    if origin is None:
        return True
    return origin != "null" and urlsplit(origin).netloc == (host or "")
