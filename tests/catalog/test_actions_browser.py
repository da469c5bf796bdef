"""Approve a promotion request in a real headless Chromium, as a second user, and see the champion change.

``mlp ui --actions --auth basic --passwords FILE`` in its own process; each user signs in
with basic auth in a browser of their own. bob asked for churn v2's promotion; alice, who
registered v2, is refused with the policy's message; dave approves and the model page
and the audit page show it. The read-only ``mlp ui`` shows no form and answers POST 405.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator
from urllib.parse import urlparse

import pytest

from .conftest import APPROVER, AUTHOR, PASSWORDS
from .test_browser import CHROMEDRIVER, _problems, follow
from .test_ui_server import start_ui

pytestmark = pytest.mark.slow


@pytest.fixture
def browser_as() -> Iterator[Callable[[], Any]]:
    """A fresh headless Chromium per call (its own profile, so its own basic-auth login)."""
    import shutil

    if CHROMEDRIVER is None or shutil.which("chromium") is None:
        pytest.skip("chromium and chromium-driver are not installed (scripts/setup installs them as root)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers: list[Any] = []

    def start() -> Any:
        options = webdriver.ChromeOptions()
        options.binary_location = shutil.which("chromium") or ""
        for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        drivers.append(webdriver.Chrome(service=Service(CHROMEDRIVER), options=options))
        return drivers[-1]

    yield start
    for driver in drivers:
        driver.quit()


@pytest.fixture
def actions_url(governed_home: Any, mlp_home: Path) -> Iterator[str]:
    proc, base = start_ui(mlp_home, "--actions", "--auth", "basic", "--passwords", str(mlp_home / "passwords"))
    yield base
    proc.terminate()
    proc.wait(timeout=30)


def _signed_in(driver: Any, base: str, user: str, path: str) -> None:
    """Open ``path`` as ``user``: the credentials in the first URL answer the basic-auth challenge."""
    host = base.removeprefix("http://")
    driver.get(f"http://{user}:{PASSWORDS[user]}@{host}{path}")


def _approve_first(driver: Any, note: str) -> None:
    from selenium.webdriver.common.by import By

    form = driver.find_element(By.CSS_SELECTOR, "table.requests form.decide")
    form.find_element(By.NAME, "note").send_keys(note)
    follow(driver, form.find_element(By.CSS_SELECTOR, "button.approve"))


def test_a_second_approver_approves_in_the_browser_and_the_champion_changes(
    browser_as: Callable[[], Any], actions_url: str, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    alice = browser_as()
    _signed_in(alice, actions_url, AUTHOR, "/models/churn")
    assert alice.find_element(By.ID, "user").text == AUTHOR
    assert "version 1" in alice.find_element(By.CSS_SELECTOR, "dl.facts").text
    _approve_first(alice, "my own model is fine")
    assert alice.find_element(By.TAG_NAME, "h1").text == "Refused"
    assert (
        f"user '{AUTHOR}' registered model:churn@2 and may not approve its promotion"
        in alice.find_element(By.TAG_NAME, "main").text
    )
    alice.save_screenshot(str(tmp_path / "refused.png"))
    alice.get(actions_url + "/models/churn")
    assert "version 1" in alice.find_element(By.CSS_SELECTOR, "dl.facts").text

    dave = browser_as()
    _signed_in(dave, actions_url, APPROVER, "/requests")
    assert dave.find_element(By.ID, "user").text == APPROVER
    follow(dave, dave.find_element(By.CSS_SELECTOR, "table.requests a"))  # the request's model version
    _approve_first(dave, "checked the benchmark")
    assert "approved by dave" in dave.find_element(By.CSS_SELECTOR, "ul.outcome").text
    assert dave.find_element(By.ID, "champion").text == "version 2"
    dave.save_screenshot(str(tmp_path / "approved.png"))
    follow(dave, dave.find_element(By.LINK_TEXT, "churn"))
    facts = dave.find_element(By.CSS_SELECTOR, "dl.facts").text
    assert "champion\nversion 2" in facts and "1 → 2" in facts
    assert (
        "Nothing waits for a decision"
        in dave.find_element(By.ID, "pending").find_element(By.XPATH, "following-sibling::p").text
    )

    dave.get(actions_url + "/audit?model=churn&action=promote")
    rows = [r.text for r in dave.find_elements(By.CSS_SELECTOR, "main table tbody tr")]
    assert len(rows) == 2 and f" {APPROVER} promote model:churn@2" in rows[0], rows
    dave.save_screenshot(str(tmp_path / "audit.png"))
    for driver in (alice, dave):  # the signed-in pages' requests carry the user in the URL, to this host only
        assert [u for u in _problems(driver, actions_url)[1] if urlparse(u).hostname != "127.0.0.1"] == []

    # a POST without the form's token, with the right password: refused before anything is decided
    request = urllib.request.Request(actions_url + "/models/churn/reject", data=b"version=2&note=x", method="POST")
    request.add_header("Authorization", "Basic ZGF2ZTpkYXZlLXB3")  # dave:dave-pw
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 403 and b"CSRF" in refused.value.read()


def test_the_read_only_catalog_has_no_forms_and_refuses_posts(
    browser_as: Callable[[], Any], governed_home: Any, mlp_home: Path
) -> None:
    from selenium.webdriver.common.by import By

    proc, base = start_ui(mlp_home)
    try:
        driver = browser_as()
        for path in ("/models/churn", "/requests"):
            driver.get(base + path)
            assert "beats v1 on the holdout" in driver.page_source
            assert driver.find_elements(By.CSS_SELECTOR, "form.decide") == []
            assert driver.find_elements(By.CSS_SELECTOR, "form[method=post]") == []
        request = urllib.request.Request(base + "/models/churn/approve", data=b"version=2", method="POST")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request)
        assert refused.value.code == 405
    finally:
        proc.terminate()
        proc.wait(timeout=30)
