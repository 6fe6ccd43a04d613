"""The trained model on disk, under `$XP_HOME/twotower/models/<data build>-<config hash>/`::

    config.json        the TwoTowerConfig
    model.pt           the towers' state dict
    item_vectors.npy   every catalog item's embedding (float32, rows = sorted item ids)
    seen.npy, tags.npy which items training saw; the multi-hot tags used (uint8)
    manifest.json      data build, tag source, losses, timings, counts

A run is written to a temporary folder and renamed into place; `models/CURRENT` then
names it (atomic rename). An interrupted run leaves the model in use untouched.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch

from xpollinate.errors import XPError
from xpollinate.publish import publish_dir, read_pointer, write_pointer
from xpollinate.retrieval.twotower.config import TwoTowerConfig
from xpollinate.settings import ensure_dir, run_home


class ModelNotTrainedError(XPError):
    """No trained two-tower model in the run directory."""


def models_dir(home: Path | None = None) -> Path:
    return (home or run_home()) / "twotower" / "models"


@dataclass(frozen=True)
class SavedModel:
    path: Path
    config: TwoTowerConfig
    item_vectors: np.ndarray
    seen: np.ndarray
    tags: np.ndarray | None
    manifest: dict[str, Any]

    def state_dict(self) -> dict[str, torch.Tensor]:
        return torch.load(self.path / "model.pt", map_location="cpu", weights_only=True)


def save(
    cfg: TwoTowerConfig,
    model: torch.nn.Module,
    item_vectors: np.ndarray,
    seen: np.ndarray,
    tags: np.ndarray | None,
    manifest: dict[str, Any],
    home: Path | None = None,
    name: str | None = None,
    publish: bool = True,
) -> Path:
    root = ensure_dir(models_dir(home))
    name = name or f"{manifest['build_id']}-{cfg.key()}"
    tmp = root / f".tmp-{name}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    (tmp / "config.json").write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
    torch.save(model.state_dict(), tmp / "model.pt")
    np.save(tmp / "item_vectors.npy", item_vectors)
    np.save(tmp / "seen.npy", seen.astype(bool))
    if tags is not None:
        np.save(tmp / "tags.npy", tags.astype(np.uint8))
    full = {**manifest, "created_at": datetime.now(UTC).isoformat(timespec="seconds"), "config_key": cfg.key()}
    (tmp / "manifest.json").write_text(json.dumps(full, indent=2), encoding="utf-8")
    final = root / name
    publish_dir(tmp, final)
    if publish:
        write_pointer(root, name)
    return final


def load(home: Path | None = None, name: str | None = None) -> SavedModel:
    root = models_dir(home)
    if name is None:
        name = read_pointer(root)
        if name is None:
            raise ModelNotTrainedError(f"no two-tower model under {root}. Run `xp twotower train` first.")
    path = root / name
    try:
        cfg = TwoTowerConfig.model_validate_json((path / "config.json").read_text(encoding="utf-8"))
        manifest = json.loads((path / "manifest.json").read_text(encoding="utf-8"))
        vectors = np.load(path / "item_vectors.npy")
        seen = np.load(path / "seen.npy")
        tags = np.load(path / "tags.npy").astype(np.float32) if (path / "tags.npy").is_file() else None
    except (OSError, ValueError) as exc:
        raise ModelNotTrainedError(
            f"the two-tower model in {path} is incomplete or unreadable ({exc}); run `xp twotower train` again"
        ) from exc
    return SavedModel(path, cfg, vectors, seen, tags, manifest)
