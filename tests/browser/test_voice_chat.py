"""Voice chat in Chromium with a fake microphone: the browser's own getUserMedia and
AudioWorklet capture a Piper recording (conftest.SPOKEN, played once by Chromium's fake audio
device), the page streams it over the WebSocket bridge, shows the transcript, Vicky's reply as
text, and plays the reply's audio."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import SPOKEN
from tests.browser.console import open_page, screenshot, sign_up

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# What tiny.en must make of SPOKEN, whatever its casing and punctuation: the whole question, its
# last word heard as any word (through the 16 kHz fake microphone tiny.en has heard "France" as
# "friends").
HEARD = re.compile(r"what is the capital of \w+", re.IGNORECASE)
# The reply: the model writes it, the speech service voices it, sentence by sentence.
REPLY_TIMEOUT_MS = 180_000
# Run before the page's scripts: keeps every AudioContext the page makes, with its options
# (the microphone's asks for 16 kHz; the player's takes the output device's rate).
TRACK_AUDIO = """(() => {
  const Original = window.AudioContext;
  window.audioContexts = [];
  window.AudioContext = class extends Original {
    constructor(options) {
      super(options);
      window.audioContexts.push({ context: this, microphone: Boolean(options?.sampleRate) });
    }
  };
})()"""
# The player's contexts: running, and its clock moving on (the reply is being played out).
PLAYING = """async () => {
  const players = window.audioContexts.filter((made) => !made.microphone).map((m) => m.context);
  const before = players.map((context) => context.currentTime);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return players.some((c, i) => c.state === "running" && c.currentTime > before[i]);
}"""


@pytest.mark.timeout(300)
def test_voice_chat_with_a_fake_microphone_shows_the_transcript_and_plays_a_reply(page: Page):
    assert HEARD.search(SPOKEN)
    page.add_init_script(TRACK_AUDIO)
    sign_up(page)
    open_page(page, "voice")
    page.get_by_test_id("voice-language").select_option("en")
    page.get_by_test_id("voice-start").click()
    expect(page.get_by_test_id("voice-status")).to_have_attribute("data-status", "listening")

    # The end of speech is heard in the silence after it: no button pressed.
    expect(page.get_by_test_id("voice-final").first).to_have_text(HEARD, timeout=60_000)
    reply = page.get_by_test_id("voice-reply")
    expect(reply).not_to_be_empty(timeout=REPLY_TIMEOUT_MS)
    expect(reply).not_to_have_attribute("data-played-chunks", "0", timeout=REPLY_TIMEOUT_MS)
    assert page.evaluate(PLAYING), "no audio context is playing the reply"
    screenshot(page, "voice")

    page.get_by_test_id("voice-stop").click()
    expect(page.get_by_test_id("voice-status")).to_have_attribute("data-status", "ended")
    expect(page.get_by_test_id("voice-problem")).to_have_count(0)  # closed with 1000
