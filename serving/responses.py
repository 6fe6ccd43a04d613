"""What the service's routes share: orjson responses and a part opened on its first request."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import orjson
from fastapi.responses import Response

T = TypeVar("T")


class JSON(Response):
    """orjson-encoded JSON (numpy scalars included)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


class OpenedOnFirstUse(Generic[T]):
    """A heavy part of a worker (data, a model) opened by the first request that needs it, once, even when
    requests race: a service that never answers the route never loads it."""

    def __init__(self, open_: Callable[[], T]) -> None:
        self._open = open_
        self._value: T | None = None
        self._lock = threading.Lock()

    @property
    def opened(self) -> T | None:
        """The part if a request has opened it already (no waiting), else None."""
        return self._value

    def get(self) -> T:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    self._value = self._open()
        return self._value
