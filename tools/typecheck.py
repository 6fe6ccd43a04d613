"""Type-check the whole package with mypy: `python tools/typecheck.py` (what `make lint` runs).

The package's sub-packages live in top-level folders (`catalog/` is `xpollinate.catalog`, mapped by
pyproject's package-dir), which mypy cannot follow on its own. This builds the installed layout as
a tree of symbolic links under `build/typecheck/` and runs `mypy -p xpollinate` over it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_view(target: Path) -> Path:
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    mapping: dict[str, str] = setuptools["package-dir"]
    shutil.rmtree(target, ignore_errors=True)
    for name in setuptools["packages"]:
        dest = target.joinpath(*name.split("."))
        dest.mkdir(parents=True, exist_ok=True)
        for path in package_folder(name, mapping).glob("*.py"):
            os.symlink(path, dest / path.name)
    return target


def package_folder(name: str, mapping: dict[str, str]) -> Path:
    """The folder setuptools installs package `name` from: its own mapping, or its nearest mapped parent's."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        parent = ".".join(parts[:cut])
        if parent in mapping:
            return ROOT / mapping[parent] / Path(*parts[cut:])
    raise SystemExit(f"pyproject.toml: no package-dir entry covers {name}")


def main() -> int:
    view = package_view(ROOT / "build" / "typecheck")
    env = {**os.environ, "MYPYPATH": str(view)}
    cmd = [
        sys.executable,
        "-m",
        "mypy",
        "--config-file",
        str(ROOT / "pyproject.toml"),
        "-p",
        "xpollinate",
        *sys.argv[1:],
    ]
    return subprocess.call(cmd, cwd=view, env=env)


if __name__ == "__main__":
    sys.exit(main())
