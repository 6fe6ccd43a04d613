"""The HTML pages of `xp serve` over HTTP (a real server on the pages fixture home): offline API docs,
anchor search and Item XP with provenance, A/B reports, review labels written as the CSV review's
sheet, escaping of model and item text, and the admin rules of the pages that write."""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from tests.serving.conftest import XSS, XSS_ANCHOR, Service, running
from xpollinate.review import import_labels, read_sheet
from xpollinate.serving.auth import same_origin
from xpollinate.serving.offline_docs import assets_dir


@pytest.fixture(scope="module")
def pages(pages_home: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    with running(pages_home["home"], "--watch", "0", log_dir=tmp_path_factory.mktemp("logs")) as svc:
        svc.wait_ready()
        yield svc


def request(
    port: int, method: str, path: str, fields: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], str]:
    """(status, headers, body) without following redirects; `fields` are posted as an HTML form."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        body = urlencode(fields).encode() if fields is not None else None
        sent = {"Content-Type": "application/x-www-form-urlencoded"} if body is not None else {}
        conn.request(method, path, body=body, headers={**sent, **(headers or {})})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read().decode(errors="replace")
    finally:
        conn.close()


def local_urls(page: str) -> list[str]:
    return re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)


def test_api_docs_load_only_local_assets(pages: Service) -> None:
    for path in ("/docs", "/redoc"):
        status, _, page = request(pages.port, "GET", path)
        assert status == 200 and "http://" not in page and "https://" not in page and "fonts.googleapis" not in page
        urls = local_urls(page)
        assert urls and all(u.startswith("/docs-assets/") for u in urls), urls
        for url in urls:
            status, headers, body = request(pages.port, "GET", url)
            assert status == 200 and len(body) > 1000, url
            assert (assets_dir() / url.rsplit("/", 1)[1]).is_file()
    assert "'/openapi.json'" in request(pages.port, "GET", "/docs")[2]
    status, spec = pages.call("GET", "/openapi.json")
    assert status == 200 and not any(p.startswith("/ui") or p in ("/docs", "/redoc") for p in spec["paths"])


def test_anchor_search_finds_by_name_and_id(pages: Service, pages_home: dict[str, Any]) -> None:
    status, headers, page = request(pages.port, "GET", "/ui/anchors?" + urlencode({"q": "ground coffee"}))
    assert status == 200 and "content-security-policy" in headers
    linked = re.findall(r'href="/ui/anchors/(\d+)"', page)
    assert linked[:2] == ["1", "2"]  # 1 has an item-XP list: listed first
    assert set(linked) == {"1", "2"}
    _, _, by_id = request(pages.port, "GET", "/ui/anchors?q=13")
    assert re.findall(r'href="/ui/anchors/(\d+)"', by_id) == ["13"]
    _, _, none = request(pages.port, "GET", "/ui/anchors?q=nosuchthing")
    assert "0 item(s)" in none


def rows_of(page: str, table_id: str) -> list[list[str]]:
    """The text of each body row's cells of a table on a page."""
    block = page.split(f'<table id="{table_id}">', 1)[1].split("</table>", 1)[0]
    body = block.split("<tbody>", 1)[1]
    return [
        [re.sub(r"<[^>]+>", "", cell) for cell in re.findall(r"<td[^>]*>(.*?)</td>", row)]
        for row in re.findall(r"<tr>(.*?)</tr>", body)
    ]


def test_anchor_page_shows_the_served_item_xp_with_provenance(pages: Service, pages_home: dict[str, Any]) -> None:
    for anchor in [*pages_home["anchors"], 1]:
        _, api = pages.call("GET", f"/v1/items/{anchor}/xp")
        status, _, page = request(pages.port, "GET", f"/ui/anchors/{anchor}")
        assert status == 200 and api["source"] == "item_xp"
        rows = rows_of(page, "item-xp")
        recs = api["recommendations"]
        assert [int(r[1]) for r in rows] == [r["item_id"] for r in recs]
        assert [r[10] for r in rows] == [r["band"] for r in recs] and [r[11] for r in rows] == [
            r["source"] for r in recs
        ]
        assert [r[9] for r in rows] == [f"{r['combined']:.3f}" for r in recs]
        run = dict((r[0], r[1]) for r in rows_of(page, "run"))
        assert run["run id"] == api["run_id"]
    # a batch run's provenance: its settings (prompt versions, config) and each kind of call's prompt and model
    page = request(pages.port, "GET", f"/ui/anchors/{pages_home['anchors'][0]}")[2]
    settings = dict((r[0], r[1]) for r in rows_of(page, "settings"))
    assert settings["config.prompts.theme"] == "theme@v2" and settings["scorer"] == "test:overlap"
    calls = rows_of(page, "calls")
    assert calls and all(c[3] == "scripted:script-1" and len(c[2]) == 12 for c in calls)
    # an anchor with no item-XP entry: its historical candidates, said so
    page = request(pages.port, "GET", f"/ui/anchors/{pages_home['historical_anchor']}")[2]
    assert "<code id='answer-source'>historical</code>" in page and rows_of(page, "historical")
    assert request(pages.port, "GET", "/ui/anchors/999999")[0] == 404


def test_pages_escape_model_and_item_text(pages: Service) -> None:
    status, headers, page = request(pages.port, "GET", f"/ui/anchors/{XSS_ANCHOR}")
    assert status == 200 and "<script" not in page
    assert page.count("&lt;script&gt;alert(&#x27;xp&#x27;)&lt;/script&gt;") == 4  # item, recommendation, theme, reason
    assert (
        "script-src" not in headers["content-security-policy"]
        and "default-src 'none'" in headers["content-security-policy"]
    )
    page = request(pages.port, "GET", "/ui/anchors?" + urlencode({"q": XSS}))[2]
    assert "<script" not in page and "&lt;script&gt;" in page


def test_ab_reports_are_listed_and_served(pages: Service, pages_home: dict[str, Any]) -> None:
    home: Path = pages_home["home"]
    name = "ab-{}-{}".format(*pages_home["runs"])
    status, _, page = request(pages.port, "GET", "/ui/reports")
    assert status == 200 and f'href="/ui/reports/{quote(name, safe="")}"' in page
    assert rows_of(page, "reports")[0][1] == (home / "reports" / name / "report.md").read_text().splitlines()[0][2:]
    status, _, report = request(pages.port, "GET", f"/ui/reports/{quote(name, safe='')}")
    assert status == 200 and report == (home / "reports" / name / "report.html").read_text()
    assert request(pages.port, "GET", "/ui/reports/nosuch")[0] == 404
    assert request(pages.port, "GET", "/ui/reports/..%2Fitem_xp.sqlite")[0] == 404


def new_sheet(port: int, run_id: str, per_band: str = "2", headers: dict[str, str] | None = None) -> tuple[int, str]:
    status, got, _ = request(port, "POST", f"/ui/review/runs/{quote(run_id, safe='')}", {"per_band": per_band}, headers)
    return status, got.get("location", "")


def test_review_labels_are_saved_as_the_csv_review_imports(pages: Service, pages_home: dict[str, Any]) -> None:
    home: Path = pages_home["home"]
    run_id = pages_home["runs"][1]
    assert run_id in request(pages.port, "GET", "/ui/review")[2]
    status, location = new_sheet(pages.port, run_id)
    assert status == 303 and location.startswith("/ui/review/sheets/")
    sheet_id = location.rsplit("/", 1)[1]
    csv_path = home / "reviews" / f"{sheet_id}.csv"
    _, rows = read_sheet(csv_path)
    first, second = rows[0]["review_id"], rows[1]["review_id"]
    status, _, page = request(pages.port, "GET", location)
    assert status == 200 and f'id="approve-{first}"' in page and "combined" not in page  # blind, as the CSV

    fields = {f"label-{first}": "1", f"label-{second}": "0", f"source-{second}": "matching", f"notes-{second}": "odd"}
    status, _, page = request(pages.port, "POST", location, fields)
    assert status == 200 and f"saved: 2 of {len(rows)} pairs labelled" in page
    sheet, saved = read_sheet(csv_path)
    by_id = {r["review_id"]: r for r in saved}
    assert sheet == sheet_id and (by_id[first]["label"], by_id[first]["error_source"]) == ("1", "")
    assert (by_id[second]["label"], by_id[second]["error_source"], by_id[second]["notes"]) == ("0", "matching", "odd")
    assert all(r["label"] == "" for r in saved[2:])
    assert import_labels(csv_path, home=home).labelled == 2  # `xp review import` takes the file as it is
    assert f'id="approve-{first}" value="1" checked' in request(pages.port, "GET", location)[2]

    # refused: a bad label (nothing written), a post from another site's page, an unknown run
    before = csv_path.read_text()
    status, _, page = request(pages.port, "POST", location, {f"label-{first}": "maybe"})
    assert status == 400 and "is not one of 1/0" in page and csv_path.read_text() == before
    evil = {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"}
    assert request(pages.port, "POST", location, {f"label-{first}": "0"}, evil)[0] == 403
    assert csv_path.read_text() == before
    assert new_sheet(pages.port, run_id, headers=evil)[0] == 403
    status, _, page = request(pages.port, "POST", "/ui/review/runs/nosuch", {"per_band": "2"})
    assert status == 400 and "no run &#x27;nosuch&#x27;" in page


def test_same_origin_rule() -> None:
    assert same_origin(None, "127.0.0.1:8000", None)  # curl, scripts
    assert same_origin("http://127.0.0.1:8000", "127.0.0.1:8000", "same-origin")
    assert not same_origin("http://evil.example", "127.0.0.1:8000", None)
    assert not same_origin(None, "127.0.0.1:8000", "cross-site")
    assert not same_origin("null", "127.0.0.1:8000", None)


def test_page_writes_need_the_admin_token_beyond_loopback(
    pages_home: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XP_ADMIN_TOKEN", "s3cret")
    with running(pages_home["home"], "--host", "0.0.0.0", "--watch", "0", log_dir=tmp_path) as svc:
        svc.wait_ready()
        run_id = pages_home["runs"][0]
        assert (
            request(svc.port, "GET", "/ui/review")[0] == 200
            and 'name="token"' in request(svc.port, "GET", "/ui/review")[2]
        )
        assert new_sheet(svc.port, run_id)[0] == 401
        status, _, _ = request(
            svc.port, "POST", f"/ui/review/runs/{quote(run_id, safe='')}", {"per_band": "1", "token": "wrong"}
        )
        assert status == 401
        status, _, _ = request(
            svc.port, "POST", f"/ui/review/runs/{quote(run_id, safe='')}", {"per_band": "1", "token": "s3cret"}
        )
        assert status == 303
        status, _, _ = request(
            svc.port,
            "POST",
            f"/ui/review/runs/{quote(run_id, safe='')}",
            {"per_band": "1"},
            {"Authorization": "Bearer s3cret"},
        )
        assert status == 303
