"""Settings of the HTTP service, one typed object shared by the CLI, the app and the workers.

Worker processes are started by uvicorn from an import string, so the config travels to
them as JSON in the environment variable `XP_SERVE_CONFIG` (`to_env` / `from_env`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from xpollinate.judges.bands import POOR_BELOW
from xpollinate.ranking.pool import MAX_POOL, PER_ANCHOR
from xpollinate.settings import run_home

CONFIG_ENV = "XP_SERVE_CONFIG"
ADMIN_TOKEN_ENV = "XP_ADMIN_TOKEN"  # the secret of POST /admin/reload: read from the environment only, never logged
LOOPBACK = ("127.0.0.1", "::1", "localhost")
RankerChoice = Literal["auto", "neural", "heuristic"]
SocketsChoice = Literal["per-worker", "shared"]
ItemXPChoice = Literal["required", "optional", "off"]


class ServeConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    home: Path = Field(default_factory=run_home, description="run directory holding the stores and models")
    host: str = Field("127.0.0.1", description="interface to listen on")
    port: int = Field(8000, ge=0, le=65535, description="TCP port (0: any free port)")
    workers: int = Field(1, ge=1, le=64, description="worker processes, each with its own copy of the state")
    sockets: SocketsChoice = Field(
        "per-worker",
        description="with several workers: per-worker: each listens on its own SO_REUSEPORT socket and "
        "the kernel spreads new connections over them by a hash of the client's address; shared: one socket the "
        "workers all accept from (uvicorn's --workers), where a burst of new connections can land on one worker",
    )
    ranker: RankerChoice = Field(
        "auto",
        description="auto: the trained ranker if one was saved, else the heuristic; "
        "neural: a trained ranker is required (not ready without one); heuristic: never load one",
    )
    item_xp: ItemXPChoice = Field(
        "required",
        description="required: not ready without the item-XP store; optional: serve historical "
        "candidates while it is missing; off: never read it",
    )
    max_cart: int = Field(100, ge=1, le=10_000, description="most item ids a cart request may hold")
    max_k: int = Field(50, ge=1, le=1000, description="largest k a request may ask for")
    default_k: int = Field(10, ge=1, le=1000, description="k when a request gives none")
    max_per_pt: int = Field(2, ge=1, le=100, description="default cap of items per product type in a carousel")
    per_anchor: int = Field(PER_ANCHOR, ge=1, le=1000, description="candidates per grocery cart item (the paper: 30)")
    max_pool: int = Field(MAX_POOL, ge=1, le=10_000, description="pool cap, reached by PT-stratified sampling (300)")
    min_combined: float = Field(
        POOR_BELOW,
        ge=0.0,
        le=1.0,
        description="the model's item-XP recs below this combined score (band Poor) never enter a pool",
    )
    watch_s: float = Field(
        10.0, ge=0.0, description="seconds between checks for a new store or model version (0: no watcher)"
    )
    fast: bool = Field(
        True, description="serve the trained ranker's fast path (ranking.fast: precomputed item parts, same scores)"
    )
    bf16: bool = Field(
        False,
        description="fast path with bfloat16 matrix products (faster only on CPUs with AVX512-BF16 or AMX; scores to ~1e-2)",
    )
    threads: int = Field(1, ge=1, le=64, description="torch threads per worker")
    ranker_run: str | None = Field(
        None, description="serve this saved ranker run instead of CURRENT (a run id under ranking/models)"
    )
    max_batch: int = Field(
        16, ge=1, le=256, description="most concurrent carts the trained ranker scores in one call (1: no batching)"
    )

    @property
    def loopback(self) -> bool:
        return self.host in LOOPBACK or self.host.startswith("127.")

    def to_env(self) -> dict[str, str]:
        return {CONFIG_ENV: self.model_dump_json()}

    @classmethod
    def from_env(cls) -> ServeConfig:
        raw = os.environ.get(CONFIG_ENV)
        return cls.model_validate_json(raw) if raw else cls()
