"""report.html in a real browser: headless Debian Chromium driven by Selenium.

Renders the diff of tests/test_diff.py (2012 text vs its edited copy, whose
added card carries ``<script>`` and ``onerror`` payloads), opens it, checks the
totals and a highlighted phone change in the DOM, that the payload is shown
as text and never ran, that no document URL became a link, and saves a
screenshot to outputs/screenshots/report.png.

Needs /usr/bin/chromium, /usr/bin/chromedriver and the selenium package
(``scripts/install-browser``); skipped with that hint when they are missing,
unless CARDEX_REQUIRE_BROWSER=1 (then missing pieces fail the test).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.diff import diff_runs, load_run, write_diff_parquet
from qa.report import render_diff_report
from test_diff import ADDED, ADDED_TITLE, PAYLOAD, modified_runs

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
SCREENSHOT = ROOT / "outputs" / "screenshots" / "report.png"


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "the selenium package"
    for path in (CHROMIUM, CHROMEDRIVER):
        if not path.exists():
            return str(path)
    return None


@pytest.fixture(scope="module")
def driver() -> Iterator[object]:
    missing = _missing()
    if missing:
        message = f"{missing} is missing: run scripts/install-browser"
        if os.environ.get("CARDEX_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="cardex-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
                 f"--user-data-dir={profile}", "--window-size=1400,1800", "--lang=ja"):
        options.add_argument(flag)
    # Selenium Manager is never asked to download anything: the driver is given.
    drv = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    old, new = modified_runs(tmp_path_factory.getbasetemp() / "diff-runs")
    diff = diff_runs(load_run(old), load_run(new))
    out = tmp_path_factory.mktemp("report")
    write_diff_parquet(diff, out)
    return render_diff_report(diff, out)


def test_report_in_chromium(driver, report):
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By

    driver.get(report.as_uri())
    assert driver.title.startswith("cardex diff")

    # totals
    stats = {el.get_attribute("data-stat"): el.find_element(By.CSS_SELECTOR, ".n").text
             for el in driver.find_elements(By.CSS_SELECTOR, "#totals .stat")}
    assert stats == {"cards_old": "175", "cards_new": "175", "paired": "174", "added": "1", "removed": "1",
                     "changed_cards": "3", "changed_fields": "3"}
    phones_row = driver.find_element(By.CSS_SELECTOR, '#field-counts tr[data-field="phones"]')
    assert [td.text for td in phones_row.find_elements(By.TAG_NAME, "td")][:2] == ["phones", "3"]

    # one highlighted phone change: 054-221-2309 -> 054-221-2300 (card ⑧7, now ⑧19 after renumbering)
    card = driver.find_element(By.ID, "card-8-7-8-19")
    change = card.find_element(By.CSS_SELECTOR, '.change[data-field="phones"]')
    assert change.find_element(By.CSS_SELECTOR, ".side.old .value").text == "054-221-2309"
    assert change.find_element(By.CSS_SELECTOR, ".side.new .value").text == "054-221-2300"
    assert [d.text for d in change.find_elements(By.CSS_SELECTOR, ".side.old del")] == ["9"]
    assert [i.text for i in change.find_elements(By.CSS_SELECTOR, ".side.new ins")] == ["0"]
    assert not change.find_elements(By.CSS_SELECTOR, ".side.old ins, .side.new del")
    # its source: the lines of the two texts
    assert "054-221-2309" in change.find_element(By.CSS_SELECTOR, ".side.old .excerpt").text
    assert "054-221-2300" in change.find_element(By.CSS_SELECTOR, ".side.new .excerpt").text

    # the added card's <script> is text, and nothing ran
    added = driver.find_element(By.ID, f"card-none-{ADDED}")
    assert ADDED_TITLE in added.find_element(By.CSS_SELECTOR, "summary .title").text
    assert PAYLOAD in added.text
    assert driver.execute_script("return window.__pwned === undefined")
    assert driver.execute_script("return document.scripts.length") == 0
    try:
        driver.switch_to.alert
        pytest.fail("an alert is open: a document's script ran")
    except NoAlertPresentException:
        pass

    # opened, the card shows its payload-carrying background as text too
    added.find_element(By.TAG_NAME, "summary").click()
    assert f"試験用の架空の協定。{PAYLOAD}<img src=x onerror=" in added.text
    assert driver.execute_script("return window.__pwned === undefined")

    # document URLs are text, never links; every link stays on the page or next to it
    assert "http://www.town.test.example.jp/koryu?a=1&b=2" in added.text
    hrefs = [a.get_attribute("href") or "" for a in driver.find_elements(By.TAG_NAME, "a")]
    assert hrefs and all(h.startswith(report.parent.as_uri()) for h in hrefs), hrefs[:5]

    added.find_element(By.TAG_NAME, "summary").click()  # closed again: the screenshot shows the changes
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    driver.execute_script("window.scrollTo(0, 0)")
    assert driver.save_screenshot(str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000
