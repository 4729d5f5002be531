"""The console's shell in Chromium: Spanish as well as English, signing in with the keyboard
alone, and a phone-width screen with nothing wider than it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import screenshot, sign_up

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PHONE = {"width": 390, "height": 844}


def test_the_interface_speaks_spanish_and_remembers_it(page: Page):
    sign_up(page)
    page.get_by_test_id("language").select_option("es")
    expect(page.get_by_test_id("nav-translate")).to_have_text("Traducir")
    expect(page.get_by_test_id("signout")).to_have_text("Cerrar sesión")
    expect(page.locator("html")).to_have_attribute("lang", "es")
    page.reload()  # the choice is kept
    expect(page.get_by_test_id("nav-chat")).to_have_text("Hablar con Vicky")
    screenshot(page, "translate-es")


def test_sign_in_with_the_keyboard_alone(page: Page):
    account = sign_up(page)
    page.get_by_test_id("signout").click()
    expect(page.get_by_test_id("signin-form")).to_be_visible()

    page.reload()  # a fresh load: nothing has the focus
    expect(page.get_by_test_id("signin-form")).to_be_visible()
    page.keyboard.press("Tab")  # the first stop is the skip link
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    username = page.get_by_test_id("signin-username")
    for _ in range(10):  # on through the header to the form
        if username.evaluate("node => node === document.activeElement"):
            break
        page.keyboard.press("Tab")
    expect(username).to_be_focused()
    page.keyboard.type(account.username)
    page.keyboard.press("Tab")
    expect(page.get_by_test_id("signin-password")).to_be_focused()
    page.keyboard.type(account.password)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("translate-page")).to_be_visible()


def test_phone_width_fits_without_sideways_scrolling(page: Page):
    page.set_viewport_size(PHONE)
    sign_up(page)
    for route in ("translate", "chat", "tasks"):
        page.goto(f"/#/{route}")
        expect(page.get_by_test_id(f"{route}-page")).to_be_visible()
        overflow = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{route} is {overflow} px wider than a phone"
    page.goto("/#/translate")
    screenshot(page, "translate-phone")
