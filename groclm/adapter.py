"""A trained GroCLM adapter on disk: published atomically with its config, found again, loaded for decoding.

Layout: `$XP_HOME/groclm/<data build>-t<last training week>/adapters/<name>/` holds peft's files
(`adapter_config.json`, `adapter_model.safetensors`) and `groclm.json` (what data, which categories, the
prompt length, steps, seconds and the loss of every step). `adapters/CURRENT` names the latest one.

Loading merges the adapter into a fresh copy of the backbone (LoRA adds nothing at decode time then). The
category vocabulary is checked against the data's: a model trained on other categories would be decoded
under a trie it never learned, so a changed vocabulary is an error naming the categories that differ.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from xpollinate.errors import XPError
from xpollinate.publish import publish_dir, read_pointer, write_pointer

CONFIG = "groclm.json"


class VocabularyChanged(XPError):
    """The data's category vocabulary is not the one the adapter was trained on."""


def adapters_root(home: Path, build_id: str, train_until: int) -> Path:
    return home / "groclm" / f"{build_id}-t{train_until}" / "adapters"


def publish_adapter(
    model: Any, config: dict[str, Any], root: Path, name: str | None = None, current: bool = True
) -> Path:
    """Save the peft `model`'s adapter and `config` under `root/name` atomically; point CURRENT at it (unless
    not `current`: an ablation's adapter is kept beside the one served)."""
    name = name or time.strftime("a%Y%m%d-%H%M%S", time.gmtime())
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{name}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(str(tmp))
    (tmp / CONFIG).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    publish_dir(tmp, root / name)
    if current:
        write_pointer(root, name)
    return root / name


def resolve_adapter(path: Path | None, default_root: Path) -> Path:
    """`path` (an adapter folder, or a folder of adapters with CURRENT), or the latest under `default_root`."""
    where = path or default_root
    if (where / CONFIG).is_file():
        return where
    name = read_pointer(where)
    if name is not None and (where / name / CONFIG).is_file():
        return where / name
    if path is None:
        raise XPError(f"no trained GroCLM adapter under {default_root}: run xp groclm train first")
    raise XPError(f"--adapter {path}: not a GroCLM adapter folder (no {CONFIG}) nor a folder with CURRENT")


def latest_adapter(home: Path, build_id: str) -> Path | None:
    """The adapter CURRENT names, of any training cut-off on this data build, the most recently published."""
    roots = [p / "adapters" for p in (home / "groclm").glob(f"{build_id}-t*") if (p / "adapters" / "CURRENT").is_file()]
    for root in sorted(roots, key=lambda r: (r / "CURRENT").stat().st_mtime, reverse=True):
        name = read_pointer(root)
        if name is not None and (root / name / CONFIG).is_file():
            return root / name
    return None


def read_config(folder: Path) -> dict[str, Any]:
    try:
        return dict(json.loads((folder / CONFIG).read_text(encoding="utf-8")))
    except (OSError, ValueError) as exc:
        raise XPError(f"adapter {folder}: cannot read {CONFIG} ({exc})") from None


def check_vocabulary(trained: Sequence[str], current: Sequence[str], where: str = "the adapter") -> None:
    """Raise `VocabularyChanged` naming the categories added or removed since training."""
    if list(trained) == list(current):
        return
    added = sorted(set(current) - set(trained))
    removed = sorted(set(trained) - set(current))

    def few(names: list[str]) -> str:
        return ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")

    parts = ([f"added {few(added)}"] if added else []) + ([f"removed {few(removed)}"] if removed else [])
    detail = "; ".join(parts) or "the same names in another order"
    raise VocabularyChanged(
        f"the category vocabulary changed since {where} was trained ({detail}): retrain with xp groclm train"
    )


@dataclass(frozen=True)
class TunedModel:
    """A backbone with the adapter merged in, and the adapter's config."""

    backbone: Any
    folder: Path
    config: dict[str, Any]

    @property
    def max_prompt_tokens(self) -> int:
        return int(self.config["max_prompt_tokens"])


def load_tuned(folder: Path, names: Sequence[str] | None = None) -> TunedModel:
    """The fresh backbone with the adapter at `folder` merged in; `names` (the data's categories) checked."""
    from peft import PeftModel

    from xpollinate.groclm.backbone import Backbone, fresh_backbone

    config = read_config(folder)
    if names is not None:
        check_vocabulary(config.get("categories", []), names, f"the adapter {folder.name}")
    base = fresh_backbone()
    started = time.perf_counter()
    merged = PeftModel.from_pretrained(base.model, str(folder)).merge_and_unload()
    merged.eval()
    backbone = Backbone(merged, base.tokenizer, base.model_id, base.load_seconds + time.perf_counter() - started)
    return TunedModel(backbone, folder, config)
