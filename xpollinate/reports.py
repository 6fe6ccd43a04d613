"""Reports as data: titled blocks of text and tables (and figures), rendered as Markdown and as
one self-contained HTML file, and results pages that say how they were made.

`write_page` is how every benchmark and experiment publishes under `docs/results/`: one
page per measurement holding its latest run only (Markdown, HTML, and a JSON of the headline
numbers), with the command that made it, the date, the git commit and the machine.
"""

from __future__ import annotations

import base64
import html
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from xpollinate.publish import write_file

Block = tuple[str, str, Any]  # (heading, text, DataFrame | dict[str, DataFrame] | None)


@dataclass
class Report:
    title: str
    blocks: list[Block] = field(default_factory=list)
    figures: list[tuple[str, bytes]] = field(default_factory=list)
    headline: dict[str, Any] = field(default_factory=dict)

    def markdown(self, figure_names: list[str] | None = None) -> str:
        lines = [f"# {self.title}", ""]
        for heading, text, body in self.blocks:
            lines += [f"## {heading}", ""]
            if text:
                lines += [text, ""]
            for sub, frame in _frames(body):
                if sub:
                    lines += [f"**{sub}**", ""]
                lines += [md_table(frame), ""]
        for (caption, _), name in zip(self.figures, figure_names or []):
            lines += [f"![{caption}]({name})", ""]
        return "\n".join(lines)

    def html(self) -> str:
        parts = [
            f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
            "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;"
            "font-size:13px}th{background:#f3f3f3}td{text-align:right}td:first-child{text-align:left}</style>",
            f"</head><body><h1>{html.escape(self.title)}</h1>",
        ]
        for caption, png in self.figures:
            data = base64.b64encode(png).decode()
            parts.append(
                f"<figure><img alt='{html.escape(caption)}' src='data:image/png;base64,{data}'>"
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
        for heading, text, body in self.blocks:
            parts.append(f"<h2>{html.escape(heading)}</h2>")
            if text:
                parts.append(f"<p>{html.escape(text)}</p>")
            for sub, frame in _frames(body):
                if sub:
                    parts.append(f"<h3>{html.escape(sub)}</h3>")
                parts.append(frame.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="-", border=0))
        parts.append("</body></html>")
        return "\n".join(parts)


def _frames(body: Any) -> list[tuple[str, pd.DataFrame]]:
    if body is None:
        return []
    if isinstance(body, pd.DataFrame):
        return [("", body)]
    return [(k, v) for k, v in body.items()]


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "-" if np.isnan(v) else f"{v:.3f}"
    return str(v).replace("|", "\\|")


def md_table(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_(no rows)_"
    cols = list(frame.columns)
    lines = ["| " + " | ".join(map(str, cols)) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """CPU model, cores and memory of this machine (what every reported figure depends on)."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_gib = round(pages / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu, "cores": cores, "memory_gib": memory_gib, "python": platform.python_version()}


def git_commit(cwd: Path | None = None) -> str:
    """The checkout's commit (with '+dirty' when files differ from it), or 'unknown' outside git."""
    where = cwd or Path(__file__).resolve().parent.parent
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=where, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def command_line() -> str:
    """The command as the user typed it (program name shortened to `xp` for the CLI)."""
    prog = Path(sys.argv[0]).name
    args = " ".join(_quote(a) for a in sys.argv[1:])
    if prog in ("xp", "__main__.py"):
        return f"xp {args}".strip()
    return f"python {Path(sys.argv[0]).as_posix() if not Path(sys.argv[0]).is_absolute() else prog} {args}".strip()


def _quote(arg: str) -> str:
    return arg if arg and all(c.isalnum() or c in "-_=./:,@+" for c in arg) else "'" + arg.replace("'", "'\\''") + "'"


def write_page(report: Report, folder: Path, name: str, command: str | None = None, commit: str | None = None) -> Path:
    """Write `name`.md, `name`.html and `name`.json (the headline numbers) under `folder`, replacing an
    earlier run's; each file is written whole to a temporary name and renamed into place. A long
    measurement passes the `commit` it started at (the checkout may move while it runs)."""
    folder.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = {
        "command": command or command_line(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit or git_commit(),
        "machine": machine(),
    }
    m = meta["machine"]
    how = (
        f"Command: `{meta['command']}`. Run {meta['date']} at commit {meta['commit']} on {m['cpu']}, "
        f"{m['cores']} cores, {m['memory_gib']} GiB."
    )
    page = Report(
        report.title,
        [("How this was measured", how, None), *report.blocks],
        report.figures,
        {**report.headline, "run": meta},
    )
    names = []
    for i, (_caption, png) in enumerate(page.figures):
        names.append(f"{name}-figure-{i + 1}.png")
        write_file(folder / names[-1], png)
    write_file(folder / f"{name}.md", page.markdown(names).encode())
    write_file(folder / f"{name}.html", page.html().encode())
    write_file(folder / f"{name}.json", (json.dumps(page.headline, indent=2, default=_jsonable) + "\n").encode())
    return folder / f"{name}.md"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return None if np.isnan(value) else float(value)
    return str(value)
