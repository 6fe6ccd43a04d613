"""The HTML building blocks of the service's pages: one layout with inline CSS, tables, escaping.

Pages are rendered on the server as plain strings with no template engine and no external asset
(no CDN, no web font, no script): they work on a machine without network. Every piece of text that
comes from data, a model or a user goes through `esc`; markup is built only from constants here.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Iterable, Sequence

# Pages run no script and load nothing from elsewhere; the browser enforces it.
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;background:#fafbfc}
header{background:#1f3a5f;color:#fff;padding:.6em 1.5em;display:flex;gap:1.5em;align-items:baseline}
header a{color:#fff;text-decoration:none}header strong{font-size:1.15em;margin-right:1em}
main{padding:1em 1.5em;max-width:1400px}
table{border-collapse:collapse;margin:.5em 0 1.5em;background:#fff}
td,th{border:1px solid #d6dbe1;padding:4px 8px;font-size:13px;vertical-align:top;text-align:left}
th{background:#eef1f5}td.num{text-align:right;font-variant-numeric:tabular-nums}
.band-Excellent{color:#17692b;font-weight:600}.band-Very-Good{color:#2f7d32}.band-Good{color:#8a6d00}
.band-Poor{color:#b3261e}.src{font-size:12px;padding:1px 6px;border-radius:8px;background:#e4e9f0}
.notice{background:#e7f4ea;border:1px solid #9cc9a6;padding:.6em 1em;margin:.5em 0}
.error{background:#fbeaea;border:1px solid #e0a3a3;padding:.6em 1em;margin:.5em 0}
.muted{color:#5f6b7a;font-size:13px}code{background:#eef1f5;padding:0 3px}
label{white-space:nowrap}input[type=text],input[type=search],input[type=password]{padding:4px 6px}button{padding:4px 12px}
"""
NAV = (("/ui/anchors", "Anchors"), ("/ui/reports", "A/B reports"), ("/ui/review", "Review"), ("/docs", "API docs"))


def esc(value: object) -> str:
    """Text for HTML (content and attribute values); None reads '-'."""
    return "-" if value is None else html.escape(str(value), quote=True)


def num(value: object, digits: int = 3) -> str:
    """A score cell's text: fixed digits, '-' for a missing or non-finite value."""
    if value is None or isinstance(value, str):
        return esc(value)
    x = float(value)  # type: ignore[arg-type]
    return f"{x:.{digits}f}" if math.isfinite(x) else "-"


def when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def link(href: str, text: object) -> str:
    """A link to one of the service's own paths (`href` is built by the caller from escaped or checked parts)."""
    return f'<a href="{esc(href)}">{esc(text)}</a>'


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], table_id: str = "") -> str:
    """Rows of cells that are already HTML (escape data with `esc`/`num`); cells from `num` align right."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td{cell_class(c)}>{c}</td>" for c in row) + "</tr>"
        for row in rows  # a row is a sequence of cells
    )
    ident = f' id="{esc(table_id)}"' if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def cell_class(cell: str) -> str:
    return ' class="num"' if cell[:1].isdigit() and cell.replace(".", "", 1).isdigit() else ""


def band(value: object) -> str:
    text = esc(value)
    return f'<span class="band-{text.replace(" ", "-")}">{text}</span>'


def page(title: str, body: str) -> str:
    """A whole page: the layout, the navigation and `body` (HTML)."""
    nav = "".join(link(href, label) for href, label in NAV)
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)} - xpollinate</title><style>{CSS}</style></head>"
        f'<body><header><strong><a href="/ui">xpollinate</a></strong>{nav}</header>'
        f"<main><h1>{esc(title)}</h1>{body}</main></body></html>"
    )


def notice(text: str, kind: str = "notice") -> str:
    return f'<div class="{esc(kind)}" id="{esc(kind)}">{esc(text)}</div>'
