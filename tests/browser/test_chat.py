"""Chat with Vicky in Chromium: the reply's first tokens are on screen while the reply is still
being written (the page renders StreamReply's deltas as they arrive over gRPC-Web).

The DOM is watched from inside the page: a MutationObserver records, at each change of the
reply's bubble, its text length, whether it is still marked busy, and the time, so the test
sees the states the page went through, not only the last one."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.console import open_page, screenshot, sign_up

pytestmark = [pytest.mark.integration, pytest.mark.browser]

# Records [ms, text length, busy] for the transcript's last assistant bubble at every change.
OBSERVE = """() => {
  const transcript = document.querySelector('[data-testid="chat-transcript"]');
  window.chatFrames = [];
  new MutationObserver(() => {
    const bubbles = transcript.querySelectorAll('[data-testid="chat-assistant"]');
    const reply = bubbles[bubbles.length - 1];
    if (!reply) return;
    const busy = reply.getAttribute("aria-busy") === "true";
    window.chatFrames.push([performance.now(), reply.querySelector("p").textContent.length, busy]);
  }).observe(transcript, { subtree: true, childList: true, characterData: true, attributes: true });
}"""


@pytest.mark.timeout(300)  # the packaged model writes a whole reply on two shared cores
def test_chat_shows_the_first_tokens_before_the_reply_is_finished(page: Page):
    sign_up(page)
    open_page(page, "chat")
    expect(page.get_by_test_id("chat-model").locator("option")).not_to_have_count(1)
    page.evaluate(OBSERVE)
    page.get_by_test_id("chat-input").fill("Tell me about the sea.")
    page.get_by_test_id("chat-send").click()

    reply = page.get_by_test_id("chat-assistant")
    expect(page.get_by_test_id("chat-user").locator("p")).to_have_text("Tell me about the sea.")
    expect(reply).to_have_attribute("aria-busy", "true")
    expect(page.get_by_test_id("chat-stop")).to_be_visible()  # a reply in progress can be stopped
    expect(reply).not_to_have_attribute("aria-busy", "true", timeout=240_000)
    expect(page.get_by_test_id("chat-send")).to_be_visible()

    frames: list[tuple[float, int, bool]] = page.evaluate("window.chatFrames")
    partial = [(at, length) for at, length, busy in frames if busy and length > 0]
    assert partial, f"no text was shown while the reply was streaming: {frames}"
    finished_at, final_length, _ = frames[-1]
    first_at, first_length = partial[0]
    assert 0 < first_length < final_length  # the first tokens, not the whole reply at once
    assert len({length for _, length in partial}) >= 3  # it grew token by token
    assert finished_at - first_at >= 200  # ms: the first tokens were up well before the end
    expect(page.get_by_test_id("chat-conversation")).to_have_count(1)  # the new conversation
    expect(page.get_by_test_id("chat-problem")).to_have_count(0)
    screenshot(page, "chat")
