"""Trained rankers in the run directory.

Layout::

    $XP_HOME/ranking/models/<run id>/weights.pt     state dict of the torch model
                                     config.json    model + training settings (ModelConfig, TrainConfig)
                                     metrics.json   validation curve, best epoch, test NDCG
                                     data.json      data build, association key, task settings, split weeks
    $XP_HOME/ranking/models/CURRENT                 the run id `load_ranker` serves

A run is written into a temporary folder and renamed into place; CURRENT is replaced
atomically afterwards, so a crash mid-save never leaves a half model in use.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from xpollinate.publish import publish_dir, read_pointer, write_pointer
from xpollinate.settings import ensure_dir, run_home

if TYPE_CHECKING:
    from xpollinate.ranking.scorer import CartScorer


def models_root(home: Path | None = None) -> Path:
    return (home or run_home()) / "ranking" / "models"


def save_run(
    run_id: str, files: dict[str, Any], weights: Any, home: Path | None = None, make_current: bool = True
) -> Path:
    """Write `weights` (a state dict) and JSON `files` as one run folder, atomically."""
    import torch

    root = ensure_dir(models_root(home))
    tmp = root / f".tmp-{run_id}-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    torch.save(weights, tmp / "weights.pt")
    for name, payload in files.items():
        (tmp / f"{name}.json").write_text(json.dumps(payload, indent=2, default=str), encoding="utf-8")
    final = root / run_id
    publish_dir(tmp, final)
    if make_current:
        set_current(run_id, home)
    return final


def set_current(run_id: str, home: Path | None = None) -> None:
    """Make a saved run the one `load_ranker` serves (atomic pointer swap)."""
    root = models_root(home)
    if not (root / run_id / "weights.pt").is_file():
        from xpollinate.errors import XPError

        raise XPError(f"no saved ranker run {run_id!r} in {root}")
    write_pointer(root, run_id)


def current_run(home: Path | None = None) -> Path | None:
    name = read_pointer(models_root(home))
    if name is None:
        return None
    run = models_root(home) / name
    return run if (run / "weights.pt").is_file() else None


def read_json(run: Path, name: str) -> dict:
    return json.loads((run / f"{name}.json").read_text(encoding="utf-8"))


def load_current(home: Path | None = None, run_id: str | None = None) -> CartScorer | None:
    """The CURRENT trained ranker (or saved run `run_id`) as a CartScorer, or None when there is none."""
    if run_id is not None:
        if run_id.startswith(".") or "/" in run_id:  # a run id names a folder of models_root, nothing else
            return None
        run = models_root(home) / run_id
        if not (run / "weights.pt").is_file():
            return None
    else:
        current = current_run(home)
        if current is None:
            return None
        run = current
    from xpollinate.ranking.neural_scorer import NeuralScorer

    return NeuralScorer.load(run, home)
