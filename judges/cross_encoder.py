"""Cross-encoder score in [0, 1] for (recommendation text, catalog item text).

No cross-encoder weights can be installed here, so two scorers exist:

- `CheckpointCrossEncoder`: any sentence-transformers `CrossEncoder` checkpoint on disk
  (the one `xp train cross-encoder` writes to `$XP_HOME/models/cross-encoder/`), logits
  squashed by a sigmoid;
- `FallbackScorer` (until one is trained): MiniLM bi-encoder cosine between the two
  texts mapped linearly from [0.1, 0.7] to [0, 1] and clipped — the range where
  unrelated and matching pairs of this catalog fall.

Every stored score records the `scorer_id` that produced it. Items of one product
type differ only in brand and size here, so pairs are scored once per distinct
(recommendation, item text without brand/size).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from xpollinate.agents.normalize import key
from xpollinate.records import ItemXPState, Match, Rec, records
from xpollinate.settings import run_home

COSINE_FLOOR, COSINE_CEIL = 0.1, 0.7


class PairScorer(Protocol):
    @property
    def scorer_id(self) -> str:
        """Names the scorer and its weights (part of every cached score's key)."""
        ...

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One score in [0, 1] per (query, document) pair."""
        ...


@dataclass
class FallbackScorer:
    model: str = "minilm"
    scorer_id: str = "fallback:minilm-cosine@v1"
    memo: bool = True  # reuse vectors of texts already embedded in this process (same values)

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        from xpollinate.retrieval.embedder import embed, embed_memo

        if not pairs:
            return np.zeros(0)
        encode = embed_memo if self.memo else embed
        left = encode([a for a, _ in pairs], name=self.model)
        right = encode([b for _, b in pairs], name=self.model)
        cosine = np.einsum("ij,ij->i", left, right)
        return np.clip((cosine - COSINE_FLOOR) / (COSINE_CEIL - COSINE_FLOOR), 0.0, 1.0)


@dataclass
class CheckpointCrossEncoder:
    path: Path
    batch_size: int = 64
    _model: Any = field(default=None, init=False, repr=False)

    @cached_property
    def scorer_id(self) -> str:
        """Names the weights (a hash of their first MiB per file): computed once, since every anchor asks."""
        weights = sorted(self.path.glob("*.safetensors")) or sorted(self.path.glob("*.bin"))
        digest = hashlib.sha256(b"".join(_head(p) for p in weights)).hexdigest()[:12]
        return f"ce:{self.path.name}@{digest}"

    def score(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        if not pairs:
            return np.zeros(0)
        if self._model is None:
            import torch
            from sentence_transformers import CrossEncoder

            self._model = CrossEncoder(str(self.path), device="cpu", activation_fn=torch.nn.Sigmoid())
        return np.asarray(self._model.predict(pairs, batch_size=self.batch_size, show_progress_bar=False), dtype=float)


def _head(path: Path, size: int = 1 << 20) -> bytes:
    """The first `size` bytes of a file, without reading the rest."""
    with path.open("rb") as f:
        return f.read(size)


def trained_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "models" / "cross-encoder" / "current"


def load_scorer(home: Path | None = None) -> PairScorer:
    """The trained cross-encoder if one exists in the run directory, else the documented fallback."""
    path = trained_dir(home)
    return CheckpointCrossEncoder(path) if (path / "config.json").is_file() else FallbackScorer()


def item_core(item_text: str) -> str:
    """'Coffee Filters (Coffee Filters, Drug Gm) - Private brand, 50 CT' -> the part before the brand."""
    return item_text.split(" - ", 1)[0]


def pair_key(rec_text: str, item_text: str) -> str:
    return f"{key(rec_text)}\x1f{item_core(item_text)}"


@dataclass(frozen=True)
class CrossEncoderNode:
    scorer: PairScorer

    def __call__(self, state: ItemXPState) -> dict[str, Any]:
        recs = {r.rec_id: r for r in records(state, "candidates", Rec)}
        pairs: dict[str, tuple[str, str]] = {}
        for m in records(state, "matches", Match):
            text = recs[m.rec_id].text
            pairs.setdefault(pair_key(text, m.item_text), (text, item_core(m.item_text)))
        scores = self.scorer.score(list(pairs.values()))
        return {"ce_scores": dict(zip(pairs, map(float, scores))), "scorer_id": self.scorer.scorer_id}
