"""The operator's pages in Chromium, signed in as an admin: Kinect's live view and motor (and
the per-user rate limit's refusal, RESOURCE_EXHAUSTED: REST's 429, shown with its wait), and the
admin area (mesh health, users, audit log, API keys)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import new_admin, open_page, screenshot, sign_in
from tests.e2e.conftest import RATE_LIMIT_BURST
from tools.mesh import Mesh

pytestmark = [pytest.mark.integration, pytest.mark.browser]

LED_STATES = ("GREEN", "RED", "YELLOW", "OFF")


def test_kinect_live_view_then_the_rate_limit_is_shown_as_a_message(page: Page, mesh: Mesh):
    sign_in(page, new_admin(mesh))
    open_page(page, "kinect")  # GetStatus: the first call of the burst
    expect(page.get_by_test_id("kinect-status")).to_be_visible()
    page.get_by_test_id("kinect-start").click()  # StreamFrames: the second
    frame = page.get_by_test_id("kinect-frame")
    expect(frame).to_be_visible()
    page.wait_for_function(
        "() => Number(document.querySelector('[data-testid=kinect-frame]').dataset.frames) >= 3"
    )
    screenshot(page, "kinect")
    page.get_by_test_id("kinect-stop").click()

    problem = page.get_by_test_id("kinect-problem")
    led = page.get_by_test_id("kinect-led")
    for attempt in range(RATE_LIMIT_BURST + 1):  # the LED until the burst is spent
        with page.expect_response(lambda response: response.url.endswith("/SetLed")):
            led.select_option(label=LED_STATES[attempt % len(LED_STATES)])
        if problem.count():
            break
    expect(problem).to_contain_text("Try again in")
    screenshot(page, "kinect-rate-limited")


def test_the_admin_area_shows_health_users_audit_and_makes_an_api_key(page: Page, mesh: Mesh):
    admin = new_admin(mesh)
    sign_in(page, admin)
    open_page(page, "admin")
    services = page.get_by_test_id("admin-health-service")
    expect(services.first).to_be_visible()
    assert services.count() >= 7  # every service of the mesh
    expect(
        page.locator("[data-testid=admin-health-service]:not([data-status=SERVING])")
    ).to_have_count(0)

    page.get_by_test_id("admin-users-query").fill(admin.username)
    page.get_by_test_id("admin-users-search").click()
    expect(page.locator(f"[data-testid=admin-user][data-username={admin.username}]")).to_have_count(
        1
    )
    expect(page.get_by_test_id("admin-audit-event").first).to_be_visible()

    page.get_by_test_id("admin-key-name").fill("ci")
    page.get_by_test_id("admin-key-create").click()
    expect(page.get_by_test_id("admin-key-secret")).to_contain_text("vk_")
    expect(page.get_by_test_id("admin-key")).to_have_count(1)
    screenshot(page, "admin")
