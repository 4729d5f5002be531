"""The browser tier: Debian's Chromium, headless, driven by Playwright against the whole mesh.

The mesh is tests/e2e's (`mesh`, `rest`: imported, so both packages start it the same way, one
mesh for this package). One browser for the package, launched once with a fake microphone that
plays a Piper recording, and a fresh context (cookies, storage, permissions) for each test.

Why Playwright rather than Selenium: its expectations wait and retry on their own (no sleeps, no
explicit waits around every step of pages that update from streams), it sees what a test of a
real-time page needs to see (WebSocket frames, network responses, scripts run before the page's
own), and it speaks CDP to the browser over a pipe, so there is no chromedriver to keep in step
with the browser. Playwright is told where Debian's binary is (`/usr/bin/chromium`,
scripts/apt-packages-dev.txt): `playwright install` downloads a browser build of its own, which
this project never does.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    expect,
    sync_playwright,
)

from gateway.web import WebAssets
from services.speech.tts.base import SynthesisOptions
from services.speech.tts.piper import PiperSynthesizer
from tests.e2e.conftest import mesh, rest, sign_in  # noqa: F401  (the one mesh definition)
from tools.mesh import Mesh

CHROMIUM = Path("/usr/bin/chromium")
# A laptop's window: what the screenshots in docs/screenshots show.
VIEWPORT = {"width": 1280, "height": 800}
# What the fake microphone says (Piper, en_US): short, so tiny.en transcribes it in a second.
SPOKEN = "What is the capital of France?"
# A meeting recording to upload (Piper too): a decision, an owner and a deadline to summarise.
MEETING = (
    "Thanks for joining. We agreed to ship the new website on Friday. "
    "Ana will send the quarterly report to the finance team before then."
)
PIPER_VOICE = "piper-en-us-joe-medium"
# Silence around the speech: before it, so nothing is said while the page is still opening the
# socket (audio before the socket is open is dropped; a loaded CI machine is slow to open it);
# after it, so voice activity detection hears the end of the turn.
LEAD_SILENCE_S = 3.0
TRAIL_SILENCE_S = 3.0
# Playwright's default wait for an expectation; the mesh shares two cores with the browser.
EXPECT_TIMEOUT_MS = 20_000


def browser_args(microphone: Path) -> list[str]:
    """Chromium's switches for a shared CI machine (no sandbox as root, no GPU, no traffic of
    its own) and a fake microphone that plays `microphone` once (`%noloop`), then silence."""
    return [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={microphone}%noloop",
        # The reply is played without a click first (the test cannot "hear", it checks playback).
        "--autoplay-policy=no-user-gesture-required",
    ]


def padded(wav_bytes: bytes, before_s: float, after_s: float) -> bytes:
    """`wav_bytes` with silence added before and after, same format."""
    with wave.open(io.BytesIO(wav_bytes)) as source:
        params = source.getparams()
        frames = source.readframes(source.getnframes())
    frame_bytes = params.sampwidth * params.nchannels
    out = io.BytesIO()
    with wave.open(out, "wb") as target:
        target.setparams(params)
        target.writeframes(b"\0" * frame_bytes * int(before_s * params.framerate))
        target.writeframes(frames)
        target.writeframes(b"\0" * frame_bytes * int(after_s * params.framerate))
    return out.getvalue()


def piper_wav(text: str, path: Path) -> Path:
    """`text` said by Piper, padded with silence, written to `path`."""
    speech = PiperSynthesizer(None, varied=False).synthesize(text, PIPER_VOICE, SynthesisOptions())
    path.write_bytes(padded(speech, LEAD_SILENCE_S, TRAIL_SILENCE_S))
    return path


@pytest.fixture(scope="session")
def spoken_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake microphone's input: SPOKEN."""
    return piper_wav(SPOKEN, tmp_path_factory.mktemp("microphone") / "spoken.wav")


@pytest.fixture(scope="session")
def meeting_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A meeting recording to upload: MEETING."""
    return piper_wav(MEETING, tmp_path_factory.mktemp("recording") / "meeting.wav")


@pytest.fixture(scope="package")
def playwright() -> Iterator[Playwright]:
    """Playwright's sync API, for this package only: while it runs, it holds an event loop
    running in the main thread, which the asyncio tests of other packages must not find."""
    with sync_playwright() as driver:
        driver.selectors.set_test_id_attribute("data-testid")
        expect.set_options(timeout=EXPECT_TIMEOUT_MS)
        yield driver


@pytest.fixture(scope="package")
def browser(playwright: Playwright, spoken_wav: Path) -> Iterator[Browser]:
    """One Chromium for the package. Playwright gives each launch a fresh temporary
    --user-data-dir of its own (and refuses one in `args`)."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: scripts/apt-packages-dev.txt lists chromium")
    launched = playwright.chromium.launch(
        executable_path=CHROMIUM, headless=True, args=browser_args(spoken_wav)
    )
    yield launched
    launched.close()


@pytest.fixture
def context(browser: Browser, mesh: Mesh) -> Iterator[BrowserContext]:  # noqa: F811
    """A fresh profile for one test, on the mesh's Envoy; the microphone allowed. The console's
    pages need `web/dist` (scripts/bootstrap.sh builds it; Envoy serves it at `/`)."""
    if not WebAssets().built():
        pytest.fail("web/dist is missing: scripts/bootstrap.sh builds the console")
    fresh = browser.new_context(
        base_url=mesh.rest_url,
        viewport=VIEWPORT,
        locale="en-US",
        permissions=["microphone"],
    )
    fresh.set_default_timeout(EXPECT_TIMEOUT_MS)
    yield fresh
    fresh.close()


@pytest.fixture
def page(context: BrowserContext) -> Iterator[Page]:
    """A page whose uncaught script errors fail the test (at teardown, with their messages)."""
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    assert not errors, f"uncaught errors in the page: {errors}"
