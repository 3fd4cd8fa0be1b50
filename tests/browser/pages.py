"""Reading pages in the browser tests without racing the browser's navigation."""

from __future__ import annotations

from typing import Any


def wait_for_text(browser: Any, selector: str, text: str, timeout: float = 20) -> str:
    """Wait until the element `selector` of the page now shown holds `text`; its whole text.

    A click that submits a form returns before the next page replaces this one: reading the
    page at once may find the old one's elements, or elements that vanish as it is read.
    """
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
        expected_conditions.text_to_be_present_in_element((By.CSS_SELECTOR, selector), text)
    )
    return str(browser.find_element(By.CSS_SELECTOR, selector).text)
