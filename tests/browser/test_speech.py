"""Speech in Chromium: a recording chosen from a file is transcribed with its segments, and text
becomes speech the page can play."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import open_page, screenshot, sign_up

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# The audio element's media, once loaded: its duration in seconds (NaN before).
DURATION = """audio => new Promise((resolve, reject) => {
  if (audio.readyState >= 1) return resolve(audio.duration);
  audio.addEventListener("loadedmetadata", () => resolve(audio.duration), { once: true });
  audio.addEventListener("error", () => reject(new Error("not decoded")), { once: true });
})"""


def test_a_file_is_transcribed_and_text_is_spoken(page: Page, spoken_wav: Path):
    sign_up(page)
    open_page(page, "speech")
    page.get_by_test_id("speech-file").set_input_files(spoken_wav)
    page.get_by_test_id("speech-language").select_option("en")
    page.get_by_test_id("speech-transcribe-submit").click()
    text = page.get_by_test_id("speech-transcript-text")
    expect(text).to_have_text(re.compile(r"capital of france", re.IGNORECASE), timeout=60_000)
    expect(page.get_by_test_id("speech-segment").first).to_be_visible()

    page.get_by_test_id("speech-tts-text").fill("Good morning from Voka.")
    page.get_by_test_id("speech-tts-submit").click()
    audio = page.get_by_test_id("speech-tts-audio")
    expect(audio).to_have_attribute("src", re.compile(r"^blob:"))
    assert audio.evaluate(DURATION) > 0.5  # seconds of speech, decoded by the browser
    expect(page.get_by_test_id("speech-synthesize-problem")).to_have_count(0)
    screenshot(page, "speech")
