"""The service's HTML pages under `/ui` (routes only: what they show is `page_views`, what they read and
write `page_data`). They are left out of the OpenAPI document, which describes the JSON API.

GETs only read. The two POSTs write into the run directory (a new review sheet; its labels) and follow
the rule of `POST /admin/reload` (`auth.admin_allowed`): with `XP_ADMIN_TOKEN` set, which a server beyond
loopback requires, only with the token (the form's token field, or an `Authorization: Bearer` header);
and a browser post from another site's page is refused (`auth.same_origin`).
"""

# No `from __future__ import annotations`: FastAPI reads the handlers' annotations at run time.

import os
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import FastAPI, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from xpollinate.batch.run_index import list_runs
from xpollinate.errors import XPError
from xpollinate.review.sheet import Label, read_sheet
from xpollinate.serving.auth import admin_allowed, same_origin
from xpollinate.serving.config import ADMIN_TOKEN_ENV, ServeConfig
from xpollinate.serving.holder import StateHolder
from xpollinate.serving.page_data import (
    anchor_provenance,
    find_report,
    list_reports,
    list_sheets,
    new_sheet,
    save_review,
    search_catalog,
    sheet_csv,
)
from xpollinate.serving.page_layout import CSP
from xpollinate.serving.page_views import (
    anchor_page,
    error_page,
    index_page,
    reports_page,
    review_index_page,
    saved_message,
    search_page,
    sheet_page,
)
from xpollinate.serving.recommend import item_xp_view
from xpollinate.xpstore.item_xp_store import store_path

MAX_FORM_BYTES = 2 << 20
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}


def html(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(body, status_code=status, headers=HEADERS)


async def read_form(request: Request) -> dict[str, str]:
    """A posted HTML form (application/x-www-form-urlencoded; the first value of each field)."""
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise XPError(f"form of {len(body)} bytes; at most {MAX_FORM_BYTES}")
    fields = parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True, max_num_fields=20_000)
    return {k: v[0] for k, v in fields.items()}


def refusal(request: Request, form: dict[str, str], loopback: bool) -> HTMLResponse | None:
    """The answer to a post that may not write, or None when it may."""
    headers = request.headers
    if not same_origin(headers.get("origin"), headers.get("host"), headers.get("sec-fetch-site")):
        return html(error_page("Refused", "a form posted from another site's page may not write here"), 403)
    given = headers.get("authorization") or form.get("token")
    if not admin_allowed(given, os.environ.get(ADMIN_TOKEN_ENV), loopback):
        message = f"saving needs the admin token ({ADMIN_TOKEN_ENV}) in the form's token field"
        return html(error_page("Admin token needed", message), 401)
    return None


def sheet_labels(rows: list[dict[str, str]], form: dict[str, str]) -> dict[str, Label]:
    """The labels a posted sheet form sets: every row the form names (a row with no verdict chosen keeps its label)."""
    out = {}
    for r in rows:
        rid = r["review_id"].strip()
        if any(f"{field}-{rid}" in form for field in ("label", "source", "notes")):
            out[rid] = Label(
                form.get(f"label-{rid}", r["label"]),
                form.get(f"source-{rid}", r["error_source"]),
                form.get(f"notes-{rid}", r.get("notes", "")),
            )
    return out


def add_pages(app: FastAPI, config: ServeConfig, holder: StateHolder) -> None:
    """Register the `/ui` pages (and `/`, which leads to them) on the service's app."""
    home = config.home

    def token_needed() -> bool:
        return bool(os.environ.get(ADMIN_TOKEN_ENV))

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/ui", status_code=307)

    @app.get("/ui", include_in_schema=False)
    async def index() -> HTMLResponse:
        state = holder.state
        return html(index_page(state is not None, holder.reasons, state.versions if state else None))

    @app.get("/ui/anchors", include_in_schema=False)
    def anchors(q: str = "") -> HTMLResponse:
        state = holder.state
        if state is None:
            return html(search_page(q, None, "not ready: " + "; ".join(holder.reasons)), 503)
        if not q.strip():
            return html(search_page(q, None))
        hits = search_catalog(state.data.catalog, q, lambda i: bool(state.item_xp.stored(i)))
        return html(search_page(q, hits))

    @app.get("/ui/anchors/{item_id}", include_in_schema=False)
    def anchor(item_id: Annotated[int, Path(ge=0, le=2**62)]) -> HTMLResponse:
        state = holder.state
        if state is None:
            return html(error_page("Not ready", "; ".join(holder.reasons)), 503)
        view = item_xp_view(state, item_id)
        if view is None:
            return html(error_page("Unknown item", f"item {item_id} is not in the catalog"), 404)
        provenance = anchor_provenance(home, view["run_id"], item_id) if view["run_id"] else None
        return html(anchor_page(view, provenance))

    @app.get("/ui/reports", include_in_schema=False)
    def reports() -> HTMLResponse:
        return html(reports_page(list_reports(home)))

    @app.get("/ui/reports/{name}", include_in_schema=False)
    def report(name: str) -> Response:
        found = find_report(home, name)
        if found is None:
            return html(error_page("No such report", f"no A/B report {name!r} in this run directory"), 404)
        return html(found.html.read_text(encoding="utf-8"))

    def review_index(error: str = "", status: int = 200) -> HTMLResponse:
        path = store_path(home)
        runs = list_runs(path) if path.is_file() else []
        return html(review_index_page(runs, list_sheets(home), token_needed(), error), status)

    @app.get("/ui/review", include_in_schema=False)
    def review() -> HTMLResponse:
        return review_index()

    @app.post("/ui/review/runs/{run_id}", include_in_schema=False)
    async def start_sheet(run_id: str, request: Request) -> Response:
        try:
            form = await read_form(request)
            refused = refusal(request, form, config.loopback)
            if refused is not None:
                return refused
            per_band = int(form.get("per_band") or 40)
            sheet_id = await run_in_threadpool(new_sheet, home, run_id, per_band)
        except (XPError, ValueError) as exc:
            return await run_in_threadpool(review_index, str(exc), 400)
        return RedirectResponse(f"/ui/review/sheets/{sheet_id}", status_code=303)

    def sheet_view(sheet_id: str, message: str = "", error: str = "", status: int = 200) -> HTMLResponse:
        try:
            path = sheet_csv(home, sheet_id)
            _, rows = read_sheet(path)
        except XPError as exc:
            return html(error_page("No such review sheet", str(exc)), 404)
        return html(sheet_page(sheet_id, rows, str(path), token_needed(), message, error), status)

    @app.get("/ui/review/sheets/{sheet_id}", include_in_schema=False)
    def sheet(sheet_id: str) -> HTMLResponse:
        return sheet_view(sheet_id)

    def save(sheet_id: str, form: dict[str, str]) -> HTMLResponse:
        try:
            _, rows = read_sheet(sheet_csv(home, sheet_id))
            labelled, result = save_review(home, sheet_id, sheet_labels(rows, form))
        except XPError as exc:
            return sheet_view(sheet_id, error=str(exc), status=400)
        return sheet_view(sheet_id, message=saved_message(labelled, len(rows), result))

    @app.post("/ui/review/sheets/{sheet_id}", include_in_schema=False)
    async def save_sheet(sheet_id: str, request: Request) -> Response:
        try:
            form = await read_form(request)
        except XPError as exc:
            return html(error_page("Bad form", str(exc)), 400)
        refused = refusal(request, form, config.loopback)
        return refused if refused is not None else await run_in_threadpool(save, sheet_id, form)
