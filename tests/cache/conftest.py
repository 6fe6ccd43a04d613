"""Prompt tests read the shipped templates; any run directory goes to a temp folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _tmp_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XP_HOME", str(tmp_path / "xp-home"))
