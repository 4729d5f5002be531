"""Meetings in Chromium: a client, a project and a meeting made from the page, the meeting's
Jitsi room, and a recording uploaded from a file that ends with its transcript and summary on
screen, pushed by the page's polling with no reload (speech transcribes it with tiny.en, the
packaged model summarises it: minutes on two shared cores)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import open_page, screenshot, sign_up

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PROCESSING_MS = 300_000


@pytest.mark.timeout(420)
def test_a_recording_upload_ends_with_a_summary_on_screen(page: Page, meeting_wav: Path):
    sign_up(page)
    open_page(page, "meetings")
    page.get_by_test_id("meetings-client-name").fill("Acme")
    page.get_by_test_id("meetings-client-create").click()
    expect(page.get_by_test_id("meetings-client").locator("option:checked")).to_have_text("Acme")
    page.get_by_test_id("meetings-project-title").fill("New website")
    page.get_by_test_id("meetings-project-create").click()
    project = page.get_by_test_id("meetings-project").locator("option:checked")
    expect(project).to_have_text("New website")
    page.get_by_test_id("meetings-meeting-title").fill("Kick-off")
    page.get_by_test_id("meetings-meeting-create").click()

    detail = page.get_by_test_id("meeting-detail")
    expect(detail).to_contain_text("Kick-off")
    jitsi = page.get_by_test_id("meeting-jitsi-link")
    expect(jitsi).to_have_attribute("href", re.compile(r"/voka-"))
    page.evaluate("window.sameDocument = true")  # a reload would lose it
    page.get_by_test_id("meeting-recording-file").set_input_files(meeting_wav)
    page.get_by_test_id("meeting-recording-language").select_option("en")
    page.get_by_test_id("meeting-upload").click()

    states = page.get_by_test_id("meeting-states")
    expect(states).to_have_attribute("data-transcript-state", "COMPLETED", timeout=PROCESSING_MS)
    expect(states).to_have_attribute("data-summary-state", "COMPLETED", timeout=PROCESSING_MS)
    summary = page.get_by_test_id("meeting-summary")
    expect(summary).to_be_visible()
    written = summary.inner_text().removeprefix(summary.locator("h3").inner_text()).strip()
    assert written, "the summary is on screen but says nothing"
    transcript = page.get_by_test_id("meeting-transcript")
    assert "quarterly report" in (transcript.text_content() or "").lower()
    assert page.evaluate("window.sameDocument") is True
    expect(page.get_by_test_id("meeting-upload-problem")).to_have_count(0)
    screenshot(page, "meetings")
