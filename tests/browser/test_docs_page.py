"""The API reference at /docs in Chromium: the page renders every operation from the served
OpenAPI document, and its form calls an operation through Envoy and shows the answer."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import screenshot

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_the_docs_page_lists_operations_and_calls_one(page: Page):
    page.goto("/docs")
    expect(page).to_have_title("Voka API")
    operations = page.locator("details.op")
    expect(operations.first).to_be_visible()
    assert operations.count() > 20

    page.locator("#filter").fill("get translate languages")
    languages = page.locator("details.op:not([hidden])", has_text="/api/v1/translate/languages")
    expect(languages).to_have_count(1)

    languages.locator("summary").click()
    languages.get_by_role("button", name="Send GET").click()
    expect(languages.locator(".status")).to_have_text("200 OK")
    expect(languages.locator("pre")).to_contain_text('"languages"')
    languages.locator(".status").scroll_into_view_if_needed()
    screenshot(page, "docs", full_page=False)  # the page lists every operation
