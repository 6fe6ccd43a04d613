"""The pages in a real headless browser: Debian's Chromium driven by Selenium through the system
chromedriver, against a real `xp serve` on 127.0.0.1 (a copy of the pages fixture home). Swagger UI
renders the API from local assets only; an anchor is searched and opened; an A/B report opens; two
items of a run are reviewed (approve, reject) and saved, and the saved file is read back with
`review.sheet` and scored by `import_labels`. Screenshots go to the test's tmp_path (paths printed)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.serving.conftest import XSS, XSS_ANCHOR, running
from xpollinate.review import import_labels, read_sheet

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
INSTALL = "apt-get install -y --no-install-recommends chromium chromium-driver"
pytestmark = pytest.mark.skipif(
    not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()),
    reason=f"needs Debian's Chromium and chromedriver: {INSTALL} (as root; `make test` runs it)",
)
webdriver = pytest.importorskip(
    "selenium.webdriver", reason="selenium comes with the test extra: pip install -e '.[test]'"
)
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.remote.webdriver import WebDriver  # noqa: E402
from selenium.webdriver.support import expected_conditions as EC  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

# Without the background-networking flags Chromium reaches for Google's services, which a closed network refuses.
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1500,1100",
)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[WebDriver]:
    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path / 'chromium-profile'}")  # fresh profile per test
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def cells(driver: WebDriver, table_id: str) -> list[list[str]]:
    rows = driver.find_elements(By.CSS_SELECTOR, f"#{table_id} tbody tr")
    return [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]


def shot(driver: WebDriver, path: Path) -> Path:
    """A full-page screenshot (the window grown to the page's height)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1500, max(1100, min(int(height) + 50, 8000)))
    driver.save_screenshot(str(path))
    print(f"screenshot: {path}")
    return path


def test_pages_in_a_real_browser(pages_home: dict[str, Any], browser: WebDriver, tmp_path: Path) -> None:
    home = tmp_path / "home"
    shutil.copytree(pages_home["home"], home)
    with running(home, "--watch", "0", log_dir=tmp_path) as svc:
        svc.wait_ready()
        base = f"http://127.0.0.1:{svc.port}"
        wait = WebDriverWait(browser, 30)

        # API docs: Swagger UI renders the OpenAPI document, every resource from this server
        browser.get(f"{base}/docs")
        wait.until(lambda d: "xpollinate" in d.find_element(By.CSS_SELECTOR, ".swagger-ui .info .title").text)
        paths = {e.text for e in browser.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
        assert {"/v1/items/{item_id}/xp", "/v1/cart/recommend"} <= paths
        loaded = browser.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
        assert loaded and all(url.startswith(base + "/") for url in loaded), loaded
        shot(browser, tmp_path / "docs.png")

        # anchors: search by name, open the anchor with an item-XP list
        browser.get(f"{base}/ui")
        browser.find_element(By.LINK_TEXT, "Anchors").click()
        browser.find_element(By.ID, "q").send_keys("ground coffee")
        browser.find_element(By.ID, "search").click()
        wait.until(EC.presence_of_element_located((By.ID, "hits")))
        browser.find_element(By.CSS_SELECTOR, 'a[href="/ui/anchors/1"]').click()
        wait.until(EC.presence_of_element_located((By.ID, "item-xp")))
        listing = cells(browser, "item-xp")
        assert [row[1] for row in listing] == ["16", "15", "13"]  # ITEM_XP of the serving fixture, Poor included
        assert [row[10] for row in listing] == ["Excellent", "Very Good", "Poor"]
        assert dict((r[0], r[1]) for r in cells(browser, "run"))["run id"] == "run-1"
        shot(browser, tmp_path / "anchor.png")

        # model text with markup shows as text (an executed script would leave an alert open: find_element raises)
        browser.get(f"{base}/ui/anchors/{XSS_ANCHOR}")
        assert cells(browser, "item-xp")[0][2] == f"{XSS} Charcoal"

        # A/B reports: the stored report opens, its figures embedded
        browser.get(f"{base}/ui/reports")
        browser.find_element(By.CSS_SELECTOR, "#reports tbody a").click()
        wait.until(lambda d: d.find_element(By.TAG_NAME, "h1").text.startswith("A/B report"))
        assert browser.execute_script("return [...document.images].every(i => i.complete && i.naturalWidth > 0)")
        assert len(browser.find_elements(By.TAG_NAME, "img")) == 3

        # review: a new sheet of the theme run, two pairs judged, saved
        run_id = pages_home["runs"][1]
        browser.get(f"{base}/ui/review")
        button = browser.find_element(By.ID, f"new-{run_id}")
        per_band = button.find_element(By.XPATH, "./ancestor::form").find_element(By.NAME, "per_band")
        per_band.clear()
        per_band.send_keys("2")
        button.click()
        wait.until(EC.url_contains("/ui/review/sheets/"))
        sheet_id = browser.current_url.rsplit("/", 1)[1]
        first, second = (row[0] for row in cells(browser, "sheet")[:2])
        browser.find_element(By.ID, f"approve-{first}").click()
        browser.find_element(By.ID, f"reject-{second}").click()
        Select(browser.find_element(By.ID, f"source-{second}")).select_by_value("expansion")
        browser.find_element(By.ID, "save").click()
        saved_note = wait.until(EC.presence_of_element_located((By.ID, "notice"))).text
        assert saved_note.startswith("saved: 2 of") and "relevancy of kept pairs" in saved_note
        assert browser.find_element(By.ID, f"approve-{first}").is_selected()
        screenshot = shot(browser, tmp_path / "review-saved.png")

    sheet_file = home / "reviews" / f"{sheet_id}.csv"
    sheet, rows = read_sheet(sheet_file)
    labels = {r["review_id"]: (r["label"], r["error_source"]) for r in rows}
    assert sheet == sheet_id and labels[first] == ("1", "") and labels[second] == ("0", "expansion")
    assert sum(1 for label, _ in labels.values() if label) == 2
    result = import_labels(sheet_file, home=home)
    assert result.labelled == 2 and result.run_id == run_id
    assert screenshot.stat().st_size > 10_000 and screenshot.read_bytes()[:4] == b"\x89PNG"
