"""Errors of the LLM layer that reach the user (all `XPError`: the CLI prints them, exits 2).

Configuration problems (unknown provider, missing key, missing model files) raise;
a bad answer for one item never raises: it becomes a `Failure` record instead.
"""

from __future__ import annotations

from xpollinate.errors import XPError


class LLMConfigError(XPError):
    """The LLM spec or settings are invalid: unknown provider or model, missing API key."""


class ModelFilesError(XPError):
    """Local model weights are missing or corrupt; the message says how to install or rebuild them."""


class ProviderError(XPError):
    """A provider call failed for a reason that retrying will not fix."""


class TransientProviderError(ProviderError):
    """A timeout, rate limit or server-side error: worth retrying with backoff."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
