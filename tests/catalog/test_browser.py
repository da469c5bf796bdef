"""The catalog in a real headless Chromium: a click path, then a crawl of every link of every page.

Chromium and chromedriver come from Debian's packages (``scripts/setup`` installs them).
The crawl asserts 0 broken links, 0 console errors and 0 requests leaving 127.0.0.1, and
keeps a screenshot of every page as a test artifact in ``.mlp/test-artifacts/catalog-screenshots/``
(emptied at the start of each crawl; CI can upload the folder).
"""

from __future__ import annotations

import json
import re
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urldefrag, urlparse

import pytest

from .test_ui_server import start_ui

pytestmark = pytest.mark.slow

SCREENSHOTS = Path(__file__).resolve().parents[2] / ".mlp" / "test-artifacts" / "catalog-screenshots"

CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMEDRIVER is None or shutil.which("chromium") is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/setup installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or ""
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


@pytest.fixture
def catalog_url(catalog_home: Any, mlp_home: Path) -> Iterator[str]:
    proc, base = start_ui(mlp_home)
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def _problems(driver: Any, base: str) -> tuple[list[str], list[str]]:
    """Console errors, and requests to anywhere but ``base``, since the last call."""
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    outside = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            url = message["params"]["request"]["url"]
            if not (url.startswith(base + "/") or url.startswith("data:")):
                outside.append(url)
    return errors, outside


def _click(driver: Any, css: str, text: str | None = None) -> None:
    from selenium.webdriver.common.by import By

    links = driver.find_elements(By.CSS_SELECTOR, css)
    chosen = [a for a in links if text is None or text in a.text]
    assert chosen, f"no {css} {text or ''} on {driver.current_url}"
    follow(driver, chosen[0])


def follow(driver: Any, element: Any) -> None:
    """Click ``element`` and wait until its page is gone, so the next lookup reads the new page."""
    from selenium.webdriver.support.expected_conditions import staleness_of
    from selenium.webdriver.support.wait import WebDriverWait

    element.click()
    WebDriverWait(driver, 30).until(staleness_of(element))


def test_click_path_and_crawl(browser: Any, catalog_url: str) -> None:
    from selenium.webdriver.common.by import By

    driver = browser
    driver.get(catalog_url + "/")
    driver.find_element(By.NAME, "q").send_keys("profile")
    follow(driver, driver.find_element(By.CSS_SELECTOR, "form.search button"))
    _click(driver, "main a", "fs:customer_profile")
    assert urlparse(driver.current_url).path == "/fs/customer_profile"
    _click(driver, "main a", "model:churn@1")
    assert urlparse(driver.current_url).path == "/models/churn"
    _click(driver, "a.quickdiff")
    assert urlparse(driver.current_url).path == "/models/churn/diff"
    assert driver.find_elements(By.CSS_SELECTOR, "tr.differs")
    driver.back()
    _click(driver, "#v1 a", "lineage")
    assert "model%3Achurn%401" in driver.current_url
    follow(driver, driver.find_element(By.CSS_SELECTOR, 'g.node[data-id="ts:churn@v0"]'))  # a box of the picture
    assert driver.current_url.endswith("/lineage?id=ts%3Achurn%40v0")
    driver.back()
    driver.back()
    assert urlparse(driver.current_url).path == "/models/churn"
    assert _problems(driver, catalog_url) == ([], [])

    shots = SCREENSHOTS
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    seen: set[str] = set()
    queue = [catalog_url + "/"]
    broken, errors, outside = [], [], []
    while queue:
        url = queue.pop(0)
        if url in seen:
            continue
        seen.add(url)
        driver.get(url)
        name = re.sub(r"[^A-Za-z0-9]+", "_", url.removeprefix(catalog_url)).strip("_") or "home"
        driver.save_screenshot(str(shots / f"{len(seen):03d}-{name[:80]}.png"))
        page_errors, page_outside = _problems(driver, catalog_url)
        errors += [f"{url}: {e}" for e in page_errors]
        outside += page_outside
        for a in driver.find_elements(By.CSS_SELECTOR, "a[href]"):
            target = urldefrag(a.get_attribute("href")).url
            if not target.startswith(catalog_url):
                outside.append(target)
            elif target not in seen and target not in queue:
                try:
                    urllib.request.urlopen(target).close()
                    queue.append(target)
                except urllib.error.HTTPError as exc:
                    broken.append(f"{target} ({exc.code}) linked from {url}")
                    seen.add(target)
    assert broken == [] and errors == [] and outside == []
    assert len(seen) > 15 and len(list(shots.glob("*.png"))) == len(seen)
