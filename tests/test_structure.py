"""The package's shape: no import cycles between its folders, and a wheel that holds and imports every module."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def package_dirs() -> dict[str, Path]:
    """Sub-package name -> folder, from the package-dir mapping of pyproject.toml."""
    import tomllib

    mapping = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    return {name: ROOT / folder for name, folder in mapping.items()}


def module_edges() -> dict[str, set[str]]:
    """Top-level folder -> the folders its modules import at module level."""
    tops = {name.split(".")[1] if "." in name else "xpollinate" for name in package_dirs()}
    edges: dict[str, set[str]] = defaultdict(set)
    for name, folder in package_dirs().items():
        src = name.split(".")[1] if "." in name else "xpollinate"
        for path in folder.glob("*.py"):
            for node in ast.parse(path.read_text(encoding="utf-8")).body:
                if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xpollinate."):
                    part = node.module.split(".")[1]
                    target = part if part in tops else "xpollinate"
                    if target != src:
                        edges[src].add(target)
    return edges


def test_no_import_cycles_between_folders() -> None:
    edges = module_edges()
    seen: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(edges.get(node, ())):
            assert seen.get(nxt) != 1, f"import cycle: {' -> '.join([*path, nxt])}"
            if nxt not in seen:
                visit(nxt, [*path, nxt])
        seen[node] = 2

    for start in sorted(edges):
        if start not in seen:
            visit(start, [start])


def test_records_module_is_a_leaf() -> None:
    """graphs, agents, judges, retrieval and the store all import the item-XP records; they import none of them."""
    tree = ast.parse((ROOT / "xpollinate" / "records.py").read_text(encoding="utf-8"))
    imported = [
        node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("xpollinate")
    ]
    assert imported == []


def test_wheel_holds_and_imports_every_module(tmp_path: Path) -> None:
    """A folder left out of the package-dir mapping would be dropped from the wheel without a word."""
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path / "dist"),
            str(ROOT),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if built.returncode != 0 and "No module named" in built.stderr:
        pytest.skip(f"cannot build a wheel here: {built.stderr[-300:]}")
    assert built.returncode == 0, built.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("xpollinate-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    in_wheel = {n[:-3].replace("/", ".").removesuffix(".__init__") for n in names if n.endswith(".py")}
    expected = set()
    for name, folder in package_dirs().items():
        for path in folder.glob("*.py"):
            expected.add(name if path.stem == "__init__" else f"{name}.{path.stem}")
    assert expected <= in_wheel, f"missing from the wheel: {sorted(expected - in_wheel)}"
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(target), str(wheel)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    code = (
        "import importlib, sys; mods = sys.argv[1:]; [importlib.import_module(m) for m in mods]; "
        "import xpollinate; print(xpollinate.__file__)"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", code, *sorted(expected)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert str(target) in done.stdout  # the modules came from the wheel, not the source tree
