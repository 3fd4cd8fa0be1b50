"""A real headless Chromium, driven by Selenium through the system's chromedriver.

Debian's `chromium` and `chromium-driver` packages (`.ci/run` installs them): Selenium is given
the driver's path, so it never tries to download a browser. Where they are missing the
browser tests are skipped, loudly; under CI=true they fail.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.pages import wait_for_text


def _missing(what: str) -> None:
    message = f"{what} is not installed (apt-get install chromium chromium-driver)"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    chromedriver = shutil.which("chromedriver")
    if chromium is None:
        _missing("chromium")
    if chromedriver is None:
        _missing("chromedriver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1366,900",
        f"--user-data-dir={tmp_path / 'chromium'}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(str(chromedriver)), options=options)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def admin_browser(browser: Any, live_server: Any, django_user_model: Any) -> Any:
    """The browser, logged in to the admin as a superuser through the login form."""
    from selenium.webdriver.common.by import By

    django_user_model.objects.create_superuser("admin", "admin@example.com", "pw")
    browser.get(f"{live_server.url}/admin/login/")
    browser.find_element(By.NAME, "username").send_keys("admin")
    browser.find_element(By.NAME, "password").send_keys("pw")
    browser.find_element(By.CSS_SELECTOR, "input[type=submit]").click()
    wait_for_text(browser, "#user-tools", "")  # the logged-in header: not on the login page
    return browser
