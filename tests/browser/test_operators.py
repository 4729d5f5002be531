"""The operator's pages in Chromium, signed in as an admin: Kinect's live RGB and depth views
and motor (and the per-user rate limit's refusal, RESOURCE_EXHAUSTED: REST's 429, shown with its
wait), and the admin area (mesh health, users with their sign-in figures and sessions, one of
them revoked, audit log, API keys; a webhook edited, switched off, its deliveries listed,
deleted)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page, expect

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
    for view in ("kinect-frame", "kinect-depth"):  # both refreshed from the one stream
        page.wait_for_function(
            f"() => Number(document.querySelector('[data-testid={view}]').dataset.frames) >= 3"
        )
    expect(page.get_by_test_id("kinect-depth")).to_be_visible()
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


def test_sessions_are_listed_with_sign_in_figures_and_one_is_revoked(
    page: Page, mesh: Mesh, browser: Browser
):
    admin = new_admin(mesh)
    elsewhere = browser.new_context(base_url=mesh.rest_url)  # a second sign-in, a second session
    try:
        sign_in(elsewhere.new_page(), admin)
    finally:
        elsewhere.close()
    sign_in(page, admin)
    open_page(page, "admin")
    mine = page.get_by_test_id("user-activity").first
    expect(mine.get_by_test_id("user-session")).to_have_count(2)
    expect(mine.locator("[data-testid=user-session][data-current]")).to_have_count(1)
    expect(mine.get_by_test_id("user-stats").locator("dd").first).to_have_text("2")  # sign-ins

    mine.get_by_test_id("user-session-revoke").click()  # the other one; this one is kept
    expect(mine.get_by_test_id("user-session")).to_have_count(1)
    expect(mine.get_by_test_id("user-session-revoke")).to_have_count(0)

    row = page.locator(f"[data-testid=admin-user][data-username={admin.username}]")
    row.get_by_test_id("admin-user-activity").click()  # the same figures, from the users table
    theirs = page.get_by_test_id("admin-users").get_by_test_id("user-activity")
    expect(theirs).to_contain_text(f"Activity of {admin.username}")
    expect(theirs.get_by_test_id("user-session")).to_have_count(1)
    screenshot(page, "admin-sessions")


def test_an_admin_edits_switches_off_and_deletes_a_webhook(page: Page, mesh: Mesh):
    sign_in(page, new_admin(mesh))
    open_page(page, "admin")
    page.get_by_test_id("admin-webhook-uri").fill("https://hooks.example.com/voka")
    page.get_by_test_id("admin-webhook-create").click()
    expect(page.get_by_test_id("admin-webhook-secret")).to_be_visible()
    hook = page.get_by_test_id("admin-webhook")
    expect(hook).to_have_count(1)

    hook.get_by_test_id("admin-webhook-edit").click()
    hook.get_by_test_id("admin-webhook-edit-uri").fill("http://hooks.example.com/voka")
    hook.get_by_test_id("admin-webhook-save").click()  # plain http: refused, said at the field
    expect(hook.locator(".field-error")).to_contain_text("https://")
    hook.get_by_test_id("admin-webhook-edit-uri").fill("https://hooks.example.com/v2")
    hook.get_by_test_id("admin-webhook-save").click()
    expect(hook.locator("code")).to_have_text("https://hooks.example.com/v2")

    hook.get_by_test_id("admin-webhook-toggle").click()
    expect(hook.get_by_test_id("admin-webhook-state")).to_have_attribute("data-active", "false")
    hook.get_by_test_id("admin-webhook-deliveries").click()
    expect(hook.get_by_test_id("admin-webhook-no-deliveries")).to_be_visible()
    screenshot(page, "admin-webhooks")

    page.once("dialog", lambda dialog: dialog.accept())
    hook.get_by_test_id("admin-webhook-delete").click()
    expect(page.get_by_test_id("admin-webhook")).to_have_count(0)
