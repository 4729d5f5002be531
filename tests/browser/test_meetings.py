"""Meetings in Chromium: a client, a project and a meeting made from the page, the meeting's
Jitsi room, and a recording uploaded from a file that ends with its transcript and summary on
screen, pushed by the page's polling with no reload (speech transcribes it with tiny.en, the
packaged model summarises it: minutes on two shared cores); and a meeting renamed (a refusal
shown at its field), a participant invited and removed, the meeting deleted; a client and a
project renamed, the project deleted with its meeting once the confirmation said so, the client
deleted."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Dialog, Page, expect

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


def test_a_meeting_is_renamed_its_participants_managed_then_deleted(page: Page):
    sign_up(page)
    open_page(page, "meetings")
    page.get_by_test_id("meetings-client-name").fill("Globex")
    page.get_by_test_id("meetings-client-create").click()
    expect(page.get_by_test_id("meetings-client").locator("option:checked")).to_have_text("Globex")
    page.get_by_test_id("meetings-project-title").fill("Launch")
    page.get_by_test_id("meetings-project-create").click()
    page.get_by_test_id("meetings-meeting-title").fill("Weekly")
    page.get_by_test_id("meetings-meeting-create").click()
    detail = page.get_by_test_id("meeting-detail")
    expect(detail).to_contain_text("Weekly")

    page.get_by_test_id("meeting-participant-name").fill("Ana García")
    page.get_by_test_id("meeting-participant-email").fill("ana@example.com")
    page.get_by_test_id("meeting-participant-add").click()
    invited = page.get_by_test_id("meeting-participant")
    expect(invited).to_have_count(1)
    expect(invited).to_contain_text("Ana García")

    page.get_by_test_id("meeting-edit").click()
    page.get_by_test_id("meeting-edit-title").fill("")
    page.get_by_test_id("meeting-save").click()  # an empty title: refused, said at the field
    expect(page.get_by_test_id("meeting-editor").locator(".field-error")).to_be_visible()
    page.get_by_test_id("meeting-edit-title").fill("Weekly sync")
    page.get_by_test_id("meeting-save").click()
    expect(detail.locator("h2").first).to_have_text("Weekly sync")
    expect(page.get_by_test_id("meetings-meeting")).to_have_text(re.compile("Weekly sync"))
    screenshot(page, "meetings-editing")

    page.get_by_test_id("meeting-participant-remove").click()
    expect(page.get_by_test_id("meeting-participant")).to_have_count(0)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("meeting-delete").click()
    expect(page.get_by_test_id("meeting-detail")).to_have_count(0)
    expect(page.get_by_test_id("meetings-meeting")).to_have_count(0)


def test_a_client_and_project_are_renamed_then_deleted_with_what_they_hold(page: Page):
    sign_up(page)
    open_page(page, "meetings")
    page.get_by_test_id("meetings-client-name").fill("Initech")
    page.get_by_test_id("meetings-client-create").click()
    client = page.get_by_test_id("meetings-client")
    expect(client.locator("option:checked")).to_have_text("Initech")
    page.get_by_test_id("meetings-project-title").fill("TPS reports")
    page.get_by_test_id("meetings-project-create").click()
    project = page.get_by_test_id("meetings-project")
    expect(project.locator("option:checked")).to_have_text("TPS reports")
    page.get_by_test_id("meetings-meeting-title").fill("Kick-off")
    page.get_by_test_id("meetings-meeting-create").click()
    expect(page.get_by_test_id("meetings-meeting")).to_have_count(1)

    page.get_by_test_id("client-editor-edit").click()
    page.get_by_test_id("client-editor-contact_email").fill("not an address")
    page.get_by_test_id("client-editor-save").click()  # refused, said at the field
    expect(page.get_by_test_id("client-editor").locator(".field-error")).to_be_visible()
    page.get_by_test_id("client-editor-contact_email").fill("bill@initech.example")
    page.get_by_test_id("client-editor-display_name").fill("Initech Corp")
    page.get_by_test_id("client-editor-save").click()
    expect(client.locator("option:checked")).to_have_text("Initech Corp")

    page.get_by_test_id("project-editor-edit").click()
    page.get_by_test_id("project-editor-title").fill("TPS reports v2")
    page.get_by_test_id("project-editor-save").click()
    expect(project.locator("option:checked")).to_have_text("TPS reports v2")
    screenshot(page, "meetings-clients-projects")

    questions: list[str] = []

    def accept(dialog: Dialog) -> None:
        questions.append(dialog.message)
        dialog.accept()

    page.once("dialog", accept)
    page.get_by_test_id("project-editor-delete").click()  # it holds a meeting: force, said so
    expect(page.get_by_test_id("project-editor")).to_have_count(0)
    expect(project.locator("option")).to_have_count(1)  # only the empty choice
    expect(page.get_by_test_id("meetings-list")).to_have_count(0)
    assert "1 meetings" in questions[0]

    page.once("dialog", accept)
    page.get_by_test_id("client-editor-delete").click()
    expect(page.get_by_test_id("client-editor")).to_have_count(0)
    expect(client.locator("option")).to_have_count(1)
    assert questions[1] == "Delete the client “Initech Corp”?"
