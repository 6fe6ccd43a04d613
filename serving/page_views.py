"""The service's HTML pages as functions of what they show (no I/O here): anchor search, an anchor's Item XP
with its provenance, the stored A/B reports, and the review of a run's items."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

from xpollinate.review.sheet import NOT_RELEVANT, RELEVANT, SOURCES, ReviewResult
from xpollinate.serving.page_data import CatalogHit, SheetInfo, StoredReport
from xpollinate.serving.page_layout import band, esc, link, notice, num, page, table, when


def _flat(prefix: str, value: Any) -> list[tuple[str, Any]]:
    """Nested settings as (dotted key, leaf value) rows."""
    if isinstance(value, dict):
        return [row for k, v in sorted(value.items()) for row in _flat(f"{prefix}.{k}" if prefix else str(k), v)]
    return [(prefix, value)]


def _token_field(needed: bool) -> str:
    """The admin token input of a form that writes (shown when the server has a token set)."""
    if not needed:
        return ""
    return '<label>admin token <input type="password" name="token" id="token" autocomplete="off"></label> '


def index_page(ready: bool, reasons: Sequence[str], versions: dict[str, str] | None) -> str:
    state = (
        "<p>Serving: " + ", ".join(f"{esc(k)} <code>{esc(v)}</code>" for k, v in (versions or {}).items()) + "</p>"
        if ready
        else notice("not ready: " + "; ".join(reasons), "error")
    )
    items = [
        ("/ui/anchors", "Anchors", "search an anchor by name or id and see its Item XP with scores and provenance"),
        ("/ui/reports", "A/B reports", "the reports `xp ab` wrote into this run directory"),
        ("/ui/review", "Review", "label a run's items (approve / reject, error source) into a review sheet"),
        ("/docs", "API docs", "the HTTP API (OpenAPI, Swagger UI; /redoc for ReDoc)"),
    ]
    listing = "".join(f"<li>{link(h, t)}: {esc(d)}</li>" for h, t, d in items)
    return page("xpollinate service", f"{state}<ul>{listing}</ul>")


def search_form(query: str) -> str:
    return (
        '<form method="get" action="/ui/anchors" role="search">'
        f'<input type="search" name="q" id="q" value="{esc(query)}" placeholder="item id or name, e.g. ground coffee" '
        'size="40" maxlength="200" autofocus> <button type="submit" id="search">Search</button></form>'
    )


def search_page(query: str, hits: list[CatalogHit] | None, ready_error: str | None = None) -> str:
    body = search_form(query)
    if ready_error:
        body += notice(ready_error, "error")
    elif hits is not None:
        rows = [
            [
                link(f"/ui/anchors/{h.item_id}", h.item_id),
                esc(h.text),
                esc(h.product_type),
                "grocery" if h.is_grocery else "-",
                str(h.n_baskets),
                "yes" if h.has_item_xp else "-",
            ]
            for h in hits
        ]
        found = f"<p class='muted'>{len(hits)} item(s) for <code>{esc(query)}</code></p>"
        body += found + table(["item", "name", "product type", "grocery", "baskets", "item XP"], rows, "hits")
    return page("Anchors", body)


def anchor_page(view: dict[str, Any], provenance: dict[str, Any] | None) -> str:
    """An anchor's merged Item XP list (or its historical candidates) and where the list came from."""
    head = (
        f"<p><strong>{esc(view['anchor_text'])}</strong> (id {esc(view['anchor_id'])}, product type "
        f"{esc(view['product_type'])}{', grocery' if view['is_grocery'] else ', not grocery'}); "
        f"answered from <code id='answer-source'>{esc(view['source'])}</code></p>"
    )
    recs = view["recommendations"]
    if view["source"] == "item_xp":
        rows = [
            [
                str(r["rank"]),
                esc(r["item_id"]),
                esc(r["item_text"]),
                esc(r["product_type"]),
                esc(r["recommendation"]),
                esc(r["theme"]),
                esc(r["explanation"]),
                num(r["ce"]),
                num(r["llm"]),
                num(r["combined"]),
                band(r["band"]),
                f'<span class="src">{esc(r["source"])}</span>',
            ]
            for r in recs
        ]
        listing = table(
            ["#", "item", "name", "product type", "recommendation", "theme", "reason", "CE", "LLM", "combined", "band"]
            + ["source"],
            rows,
            "item-xp",
        )
    elif recs:
        rows = [
            [str(r["rank"]), esc(r["item_id"]), esc(r["item_text"]), esc(r["product_type"]), num(r["score"])]
            for r in recs
        ]
        listing = "<p class='muted'>No item-XP entry: the market-basket (historical) candidates.</p>" + table(
            ["#", "item", "name", "product type", "score (shrunk lift)"], rows, "historical"
        )
    else:
        listing = "<p class='muted'>No item-XP entry and no historical candidates for this item.</p>"
    return page(f"Anchor {view['anchor_id']}", search_form("") + head + listing + _provenance(view, provenance))


def _provenance(view: dict[str, Any], provenance: dict[str, Any] | None) -> str:
    served = "".join(f"<li>{esc(k)}: <code>{esc(v)}</code></li>" for k, v in view["versions"].items())
    parts = [f"<h2>Provenance</h2><p class='muted'>Versions served:</p><ul>{served}</ul>"]
    if view.get("run_id") and provenance is None:
        parts.append(notice(f"run {view['run_id']} is no longer in the item-XP store", "error"))
    if provenance is not None:
        run = provenance["run"]
        facts = [
            ("run id", run["run_id"]),
            ("graph", run["graph"]),
            ("model", run["llm"]),
            ("created", when(run["created_at"])),
            ("data build", run["data_build"]),
        ]
        parts.append(table(["run", ""], [[esc(k), esc(v)] for k, v in facts], "run"))
        settings = [[esc(k), esc(v)] for k, v in _flat("", run["settings"])]
        parts.append("<h3>Run settings</h3>" + _listing(["setting", "value"], settings, "settings"))
        anchor = provenance["anchor"]
        if anchor is not None:
            calls = [
                [esc(stage), esc(c.get("prompt")), f"<code>{esc(str(c.get('prompt_sha256', ''))[:12])}</code>"]
                + [esc(c.get("llm"))]
                for stage, c in sorted(anchor["calls"].items())
            ]
            usage = ", ".join(f"{esc(k)} {esc(v)}" for k, v in sorted(anchor["usage"].items())) or "-"
            parts.append(
                f"<h3>This anchor</h3><p>scorer <code>{esc(anchor['scorer_id'])}</code>, finished "
                f"{esc(when(anchor['finished_at']))} in {num(anchor['seconds'], 1)} s; usage: {usage}</p>"
                + _listing(["call", "prompt", "prompt sha256", "model"], calls, "calls")
            )
    return "".join(parts)


def _listing(headers: list[str], rows: list[list[str]], table_id: str) -> str:
    return table(headers, rows, table_id) if rows else "<p class='muted'>none stored</p>"


def reports_page(reports: list[StoredReport]) -> str:
    rows = [
        [link(f"/ui/reports/{quote(r.name, safe='')}", r.name), esc(r.title), esc(when(r.modified))] for r in reports
    ]
    body = (
        "<p class='muted'>Reports of <code>xp ab</code> under <code>$XP_HOME/reports/</code> "
        "(self-contained HTML, figures embedded).</p>"
    )
    body += table(["report", "title", "written"], rows, "reports") if rows else "<p>No A/B report yet: run xp ab.</p>"
    return page("A/B reports", body)


def review_index_page(runs: list[dict[str, Any]], sheets: list[SheetInfo], token: bool, error: str = "") -> str:
    body = notice(error, "error") if error else ""
    run_rows = [
        [
            esc(r["run_id"]),
            esc(r["graph"]),
            esc(r["llm"]),
            esc(when(r["created_at"])),
            str(r["done"]),
            str(r["failed"]),
            f'<form method="post" action="/ui/review/runs/{esc(quote(r["run_id"], safe=""))}">'
            f'{_token_field(token)}<label>per band <input type="number" name="per_band" value="40" min="1" max="500" '
            f'size="4"></label> <button type="submit" id="new-{esc(r["run_id"])}">new review sheet</button></form>',
        ]
        for r in runs
    ]
    body += "<h2>Runs</h2>" + (
        table(["run", "graph", "model", "created", "anchors done", "failed", "review"], run_rows, "runs")
        if run_rows
        else "<p>No run in the item-XP store yet.</p>"
    )
    sheet_rows = [
        [
            link(f"/ui/review/sheets/{s.sheet_id}", s.sheet_id) if s.csv else esc(s.sheet_id),
            esc(s.run_id),
            esc(when(s.created_at)),
            str(s.rows),
            str(s.labelled) if s.csv else "-",
            f"<code>xp review import {esc(s.csv)}</code>" if s.csv else "exported by <code>xp review export</code>",
        ]
        for s in sheets
    ]
    body += "<h2>Review sheets</h2>" + (
        table(["sheet", "run", "created", "rows", "labelled", "file"], sheet_rows, "sheets")
        if sheet_rows
        else "<p>No review sheet yet.</p>"
    )
    return page("Review", body)


def sheet_page(
    sheet_id: str, rows: list[dict[str, str]], csv_path: str, token: bool, message: str = "", error: str = ""
) -> str:
    """The blind review form (no scores, as in the CSV): approve / reject each pair, say what went wrong."""
    body = (notice(message) if message else "") + (notice(error, "error") if error else "")
    body += (
        f"<p class='muted'>Sheet <code>{esc(sheet_id)}</code>, saved to <code>{esc(csv_path)}</code>: the CSV of "
        "<code>xp review export</code>; <code>xp review import</code> reads it. Approve a pair the shopper would "
        "find relevant; for a rejected one, say where it went wrong.</p>"
    )
    lines = []
    for r in rows:
        rid = esc(r["review_id"])
        value = r["label"].strip().lower()
        verdict = "1" if value in RELEVANT else "0" if value in NOT_RELEVANT else ""
        radios = "".join(
            f'<label><input type="radio" name="label-{rid}" id="{kind}-{rid}" value="{v}"'
            f"{' checked' if verdict == v else ''}> {kind}</label> "
            for kind, v in (("approve", "1"), ("reject", "0"), ("unset", ""))
        )
        source = r["error_source"].strip().lower()
        options = "".join(
            f'<option value="{s}"{" selected" if s == source else ""}>{s or "-"}</option>' for s in ("", *SOURCES)
        )
        lines.append(
            [
                rid,
                esc(r.get("anchor")),
                esc(r.get("theme")),
                esc(r.get("recommendation")),
                esc(r.get("item")),
                esc(r.get("item_product_type")),
                esc(r.get("matched_by")),
                radios,
                f'<select name="source-{rid}" id="source-{rid}">{options}</select>',
                f'<input type="text" name="notes-{rid}" value="{esc(r.get("notes", ""))}" size="18">',
            ]
        )
    headers = ["id", "anchor", "theme", "recommendation", "matched item", "product type", "matched by", "verdict"]
    body += (
        f'<form method="post" action="/ui/review/sheets/{esc(sheet_id)}">'
        + table([*headers, "error source", "notes"], lines, "sheet")
        + f'{_token_field(token)}<button type="submit" id="save">Save labels</button></form>'
    )
    return page(f"Review sheet {sheet_id}", body)


def saved_message(labelled: int, total: int, result: ReviewResult | None) -> str:
    """What saving did, and the scores `xp review import` gives for the labels so far."""
    text = f"saved: {labelled} of {total} pairs labelled."
    if result is not None:
        text += (
            f" As `xp review import` scores it: relevancy of kept pairs {num(result.relevancy_rate)}, agreement "
            f"with the pipeline {num(result.agreement)} ({result.labelled} labelled)."
        )
    return text


def error_page(title: str, message: str) -> str:
    return page(title, notice(message, "error"))
