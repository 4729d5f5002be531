"""Text to speech: each engine's output is a valid WAV of plausible length; the catalogue."""

from __future__ import annotations

import io
import wave

import pytest

from services.speech.audio import decode, sniff
from services.speech.tts.base import ESPEAK_NG, PIPER, SynthesisOptions
from services.speech.tts.catalogue import VoiceCatalogue, VoiceNotFound, encode
from services.speech.tts.espeak import EspeakSynthesizer
from services.speech.tts.piper import PiperSynthesizer
from tests.services.speech.conftest import ENGLISH, PIPER_VOICE, SPANISH, Clip

# Speech runs at roughly 2 to 4 words a second; anything outside 0.15-0.8 s a word is noise,
# silence or a truncated file, not speech of this text.
SECONDS_PER_WORD = (0.15, 0.8)


def wav_seconds(data: bytes) -> tuple[float, int]:
    """Duration and rate of a WAV, read by the standard library (so the header must be right)."""
    with wave.open(io.BytesIO(data)) as wav:
        assert wav.getsampwidth() == 2
        assert wav.getnchannels() == 1
        return wav.getnframes() / wav.getframerate(), wav.getframerate()


def assert_plausible(data: bytes, text: str, rate: int) -> None:
    seconds, actual_rate = wav_seconds(data)
    low, high = SECONDS_PER_WORD
    assert actual_rate == rate
    assert low * len(text.split()) <= seconds <= high * len(text.split()), seconds


def test_piper_voice_is_listed(piper: PiperSynthesizer) -> None:
    (voice,) = [v for v in piper.voices() if v.id == PIPER_VOICE]
    assert (voice.engine, voice.language, voice.sample_rate, voice.quality) == (
        PIPER, "en-US", 22_050, "medium",
    )  # fmt: skip


def test_piper_speaks_plausibly(piper_clip: Clip) -> None:
    assert_plausible(piper_clip.wav, ENGLISH, 22_050)


def test_piper_rate_changes_length(piper: PiperSynthesizer, piper_clip: Clip) -> None:
    fast = piper.synthesize(ENGLISH, PIPER_VOICE, SynthesisOptions(rate=2.0))
    # Twice the rate halves each phoneme's length; the pauses stay as they are (0.62 in all).
    assert wav_seconds(fast)[0] < 0.7 * wav_seconds(piper_clip.wav)[0]


def test_piper_without_variation_says_a_text_the_same_way_every_time(
    piper: PiperSynthesizer, piper_clip: Clip
) -> None:
    """The fixtures' synthesizer sets Piper's noise to zero, so a clip, and what a recognizer
    hears in it, is the same in every test run; the service's voices keep their noise."""
    assert piper.synthesize(ENGLISH, PIPER_VOICE, SynthesisOptions()) == piper_clip.wav
    varied = PiperSynthesizer(None)
    takes = {varied.synthesize(ENGLISH, PIPER_VOICE, SynthesisOptions()) for _ in range(2)}
    assert len(takes) == 2


@pytest.mark.parametrize(
    ("voice", "text"), [("espeak-ng-es", SPANISH), ("espeak-ng-en-us", ENGLISH)]
)
def test_espeak_speaks_plausibly(espeak: EspeakSynthesizer, voice: str, text: str) -> None:
    data = espeak.synthesize(text, voice, SynthesisOptions())
    assert_plausible(data, text, 22_050)
    assert decode(data, max_bytes=10**7, max_seconds=60).format.name == "wav"


def test_espeak_options_change_the_sound(espeak: EspeakSynthesizer) -> None:
    normal = espeak.synthesize(SPANISH, "espeak-ng-es", SynthesisOptions())
    slow = espeak.synthesize(SPANISH, "espeak-ng-es", SynthesisOptions(rate=0.5))
    high = espeak.synthesize(SPANISH, "espeak-ng-es", SynthesisOptions(pitch=1.8))
    assert wav_seconds(slow)[0] > 1.5 * wav_seconds(normal)[0]
    assert high != normal


def test_espeak_reads_text_never_options(espeak: EspeakSynthesizer) -> None:
    data = espeak.synthesize("--version -w /tmp/x.wav", "espeak-ng-en-us", SynthesisOptions())
    assert wav_seconds(data)[0] > 0.5


def test_catalogue_lists_and_finds_voices(
    piper: PiperSynthesizer, espeak: EspeakSynthesizer
) -> None:
    catalogue = VoiceCatalogue([piper, espeak])
    spanish = catalogue.voices("es")
    assert spanish
    assert all(v.language.lower().startswith("es") for v in spanish)
    assert catalogue.default_voice("es").id == "espeak-ng-es"
    assert catalogue.default_voice("en").engine == PIPER  # neural beats robotic
    assert {v.engine for v in catalogue.voices()} == {PIPER, ESPEAK_NG}
    languages = [v.language.lower() for v in catalogue.voices()]
    assert languages == sorted(languages)
    with pytest.raises(VoiceNotFound):
        catalogue.voice("nobody")
    with pytest.raises(VoiceNotFound):
        catalogue.default_voice("tlh")


async def test_catalogue_synthesizes_off_the_loop(
    piper: PiperSynthesizer, espeak: EspeakSynthesizer
) -> None:
    catalogue = VoiceCatalogue([piper, espeak])
    try:
        data = await catalogue.synthesize(SPANISH, "espeak-ng-es", SynthesisOptions())
    finally:
        catalogue.close()
    assert_plausible(data, SPANISH, 22_050)


@pytest.mark.parametrize(
    ("fmt", "mime"), [("ogg", "audio/ogg"), ("mp3", "audio/mpeg"), ("flac", "audio/flac")]
)
def test_encodings(piper_clip: Clip, fmt: str, mime: str) -> None:
    data, content_type = encode(piper_clip.wav, fmt)
    assert content_type == mime
    assert sniff(data).mime_type == mime
    decoded = decode(data, max_bytes=10**7, max_seconds=60)
    assert decoded.duration == pytest.approx(piper_clip.audio.duration, abs=0.1)
