"""Errors that reach the user: each message says what is wrong and what to do."""

from __future__ import annotations


class XPError(Exception):
    """Base class: the CLI prints the message without a traceback and exits 2."""


class DataNotBuiltError(XPError):
    """The normalized store is missing or unreadable."""


class SourceDataError(XPError):
    """The raw dataset package is missing or corrupt."""


class UnknownAnchorError(XPError):
    """An anchor id or text matched no catalog item."""

    def __init__(self, message: str, suggestions: list[str] | None = None) -> None:
        self.suggestions = suggestions or []
        if self.suggestions:
            message += "\nClosest items:\n" + "\n".join(f"  {s}" for s in self.suggestions)
        super().__init__(message)
