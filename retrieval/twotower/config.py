"""Settings of the two-tower model: one validated, frozen object that is hashed into the
artifact key, so a model on disk always says which settings made it."""

from __future__ import annotations

import hashlib
import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

EXTENSIONS = ("text_delta", "tags", "pop_prior", "hard_negatives", "dual_user")
Extension = Literal["text_delta", "tags", "pop_prior", "hard_negatives", "dual_user"]


class Extensions(BaseModel):
    """The STARS extensions, each switchable for the ablation (all on by default).

    - `text_delta`: a learned per-item residual added to the frozen text projection (zero for
      items never seen in training, so they keep their content-only embedding);
    - `tags`: LLM-derived attribute tags (per product category) as a multi-hot projection;
    - `pop_prior`: the fixed logit bias b_k = -gamma log pi_k during training;
    - `hard_negatives`: same-product-type ("subclass-aware") negatives per positive;
    - `dual_user`: a long-term and a next-basket user embedding, candidate lists interleaved
      round-robin; off = one user embedding over the long-term history.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")
    text_delta: bool = True
    tags: bool = True
    pop_prior: bool = True
    hard_negatives: bool = True
    dual_user: bool = True

    def without(self, name: str) -> Extensions:
        if name not in EXTENSIONS:
            raise ValueError(f"unknown extension {name!r}; choose one of {', '.join(EXTENSIONS)}")
        return self.model_copy(update={name: False})

    def label(self) -> str:
        off = [n for n in EXTENSIONS if not getattr(self, n)]
        return "full" if not off else "no " + ", no ".join(off)


class TwoTowerConfig(BaseModel):
    """Model, training and split settings (defaults sized for the full dataset on 2 CPU cores)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    dim: int = Field(64, ge=4, le=1024, description="embedding size of both towers")
    hidden: int = Field(64, ge=8, le=4096, description="hidden width of the tower MLPs")
    long_history: int = Field(100, ge=1, le=2000, description="item purchases in the long-term history window")
    short_baskets: int = Field(2, ge=1, le=20, description="most recent baskets forming the next-basket history")
    short_history: int = Field(40, ge=1, le=500, description="cap on items in the next-basket history")
    epochs: int = Field(3, ge=1, le=100)
    batch_size: int = Field(1024, ge=2, le=65536)
    lr: float = Field(3e-3, gt=0, le=1.0)
    weight_decay: float = Field(1e-5, ge=0, le=1.0)
    temperature: float = Field(0.07, gt=0, le=10.0, description="InfoNCE temperature")
    sampled_negatives: int = Field(1024, ge=0, le=65536, description="uniformly sampled negatives shared by a batch")
    hard_negatives: int = Field(4, ge=1, le=64, description="same-PT negatives per positive (when enabled)")
    gamma: float = Field(0.5, ge=0, le=5.0, description="strength of the popularity prior b_k = -gamma log pi_k")
    prior_alpha: float = Field(1.0, ge=0, description="smoothing of pi_k")
    targets_per_basket: int = Field(2, ge=1, le=100, description="positives sampled per training basket and epoch")
    test_weeks: int = Field(
        8, ge=1, le=52, description="the last weeks held out; each household's first basket there is its test basket"
    )
    seed: int = 13
    extensions: Extensions = Extensions()

    @model_validator(mode="after")
    def _short_fits(self) -> TwoTowerConfig:
        if self.short_history > self.long_history:
            raise ValueError(f"short_history ({self.short_history}) must not exceed long_history ({self.long_history})")
        return self

    def key(self) -> str:
        """A short stable hash of every setting (part of the artifact folder name)."""
        return hashlib.sha256(json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()[:12]
