"""Finished storefront pages by content key, on disk (diskcache via the response cache's store).

A page's key covers everything that changes it: household, context, options, the model and its backend,
the storefront prompts' hashes, the data build, the ranker and the pipeline version; so a cached page is
served as it was generated (milliseconds) and any change of input regenerates it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from xpollinate.cache import ResponseCache
from xpollinate.settings import run_home
from xpollinate.storefront.model import StorefrontPage

TAG = "storefront-page"


def pages_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "storefront" / "pages"


def page_key(parts: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode("utf-8")).hexdigest()


class PageCache:
    def __init__(self, path: Path) -> None:
        self.store = ResponseCache(path)

    def get(self, key: str) -> StorefrontPage | None:
        entry = self.store.get(key)
        if entry is None:
            return None
        try:
            return StorefrontPage.model_validate(entry["page"])
        except (KeyError, ValueError):
            return None  # unreadable or from an older model: regenerate

    def get_raw(self, key: str) -> dict[str, Any] | None:
        """The stored page as JSON-able data, unvalidated (the HTTP hot path re-encodes it only)."""
        entry = self.store.get(key)
        return entry.get("page") if entry is not None else None

    def set(self, key: str, page: StorefrontPage) -> None:
        self.store.set(key, {"page": page.model_dump(mode="json")}, TAG)
