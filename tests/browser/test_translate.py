"""Sign up, translate with the source language detected, and find the translation in the
history and the usage figures: the console's first page, in Chromium against the mesh."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import screenshot, sign_up

pytestmark = [pytest.mark.integration, pytest.mark.browser]

TEXT = "Hello, how are you?"


def test_sign_up_translate_and_see_it_in_history(page: Page):
    page.goto("/")
    expect(page.get_by_test_id("signin-form")).to_be_visible()  # signed out: the sign-in page
    screenshot(page, "signin")
    page.get_by_test_id("goto-signup").click()
    sign_up(page, shot="signup")

    expect(page.get_by_test_id("translate-page")).to_be_visible()
    target = page.get_by_test_id("translate-target")
    expect(target.locator("option[value=es]")).to_have_count(1)  # the catalogue's languages
    target.select_option("es")
    expect(page.get_by_test_id("translate-source")).to_have_value("")  # auto-detect
    page.get_by_test_id("translate-text").fill(TEXT)
    page.get_by_test_id("translate-submit").click()

    expect(page.get_by_test_id("translate-output")).to_contain_text("Hola")
    expect(page.get_by_test_id("translate-detected")).to_contain_text("English")
    history = page.get_by_test_id("history-item")
    expect(history).to_have_count(1)
    expect(history).to_contain_text(TEXT)
    expect(history).to_contain_text("Hola")
    expect(page.get_by_test_id("stats-requests")).to_have_text("1")
    screenshot(page, "translate")
