"""Tasks in Chromium: a task submitted from the form reaches SUCCEEDED on screen, pushed by the
WatchTask stream the page holds (gRPC-Web), with no reload of the page; the recent list follows
it too, pushed by StreamTaskUpdates (Server-Sent Events read with fetch; the page polls nothing)."""

from __future__ import annotations

import json

import pytest
from playwright.sync_api import Locator, Page, expect

from tests.browser.console import open_page, screenshot, sign_up

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def submit_addition(page: Page) -> Locator:
    """Submit math.add(2, 3) from the page's form; the watched task's item."""
    function = page.get_by_test_id("tasks-function")
    expect(function.locator("option[value='math.add']")).to_have_count(1)
    function.select_option("math.add")
    page.get_by_test_id("tasks-args").fill(json.dumps({"a": 2, "b": 3}))
    page.get_by_test_id("tasks-submit").click()
    watched = page.get_by_test_id("tasks-watched-item")
    expect(watched).to_have_count(1)
    return watched


def test_a_submitted_task_reaches_succeeded_without_reload(page: Page):
    sign_up(page)
    open_page(page, "tasks")
    # A mark on the window: a reload or a navigation would lose it.
    page.evaluate("window.sameDocument = true")
    loads: list[str] = []
    page.on("load", lambda loaded: loads.append(loaded.url))

    watched = submit_addition(page)
    expect(watched).to_have_attribute("data-state", "SUCCEEDED")
    expect(watched.get_by_test_id("tasks-watched-state")).to_have_text("SUCCEEDED")
    expect(watched.get_by_test_id("tasks-watched-result")).to_contain_text("5")
    expect(page.get_by_test_id("tasks-live")).to_have_attribute("data-live", "open")
    recent = page.get_by_test_id("tasks-row")
    expect(recent).to_have_count(1)
    expect(recent).to_have_attribute("data-state", "SUCCEEDED")
    assert page.evaluate("window.sameDocument") is True
    assert loads == []
    expect(page.get_by_test_id("tasks-problem")).to_have_count(0)
    screenshot(page, "tasks")


def test_the_result_is_shown_as_its_json_value(page: Page):
    sign_up(page)
    open_page(page, "tasks")
    watched = submit_addition(page)
    expect(watched.get_by_test_id("tasks-watched-result")).to_have_text("5", timeout=10_000)


def test_arguments_that_are_not_json_are_refused_under_the_field(page: Page):
    sign_up(page)
    open_page(page, "tasks")
    page.get_by_test_id("tasks-function").select_option("math.add")
    page.get_by_test_id("tasks-args").fill("{not json")
    page.get_by_test_id("tasks-submit").click()
    expect(page.get_by_test_id("tasks-args-error")).to_be_visible()
    expect(page.get_by_test_id("tasks-args")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_test_id("tasks-watched-item")).to_have_count(0)
