"""The speech service through Envoy's REST mapping, as `make up` runs it (on the small English
model here): audio uploads as raw bodies, transcription jobs watched over Server-Sent Events,
synthesized audio back with its content type, voice samples private to their owner.

The speech is made by the service's own Piper voice, then transcribed (word error rate ≤ 10 %).
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.e2e.conftest import sign_in
from tests.services.speech.wer import wer

pytestmark = pytest.mark.integration
TEXT = "Please send the quarterly report to the finance team before Friday."


@pytest.fixture(scope="module")
def speech(rest: httpx.Client) -> bytes:
    """WAV of TEXT, spoken by the Piper voice through SynthesizeSpeech."""
    reply = rest.post("/api/v1/tts/synthesize", headers=sign_in(rest),
                      json={"text": TEXT, "voice": "voices/piper-en-us-joe-medium"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "audio/wav"
    assert reply.content[:4] == b"RIFF"
    assert len(reply.content) > 16_000
    return reply.content


def test_upload_is_transcribed(rest: httpx.Client, speech: bytes):
    reply = rest.post("/api/v1/stt/transcribe", content=speech, headers={
        **sign_in(rest), "content-type": "application/octet-stream"},
        params={"config.word_timestamps": "true", "config.language": "en"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["contentType"] == "audio/wav"
    assert wer(TEXT, body["result"]["text"]) <= 0.1, body
    assert body["result"]["segments"][0]["words"]


def test_text_renamed_wav_empty_and_oversized_bodies_are_refused(rest: httpx.Client):
    headers = {**sign_in(rest), "content-type": "audio/wav"}
    text = rest.post("/api/v1/stt/transcribe", content=b"I am a text file named a.wav\n" * 20,
                     headers=headers)  # fmt: skip
    assert text.status_code == 400
    violation = text.json()["details"][0]["fieldViolations"][0]
    assert violation["field"] == "body"
    assert "unsupported_format" in violation["description"]
    empty = rest.post("/api/v1/stt/transcribe", content=b"", headers=headers)
    assert empty.status_code == 400
    huge = rest.post("/api/v1/stt/transcribe", content=b"RIFF" + bytes(26 * 1024 * 1024),
                     headers=headers)  # fmt: skip
    assert huge.status_code in (400, 413), huge.text


def test_models_and_voices_are_public(rest: httpx.Client):
    models = rest.get("/api/v1/stt/models").json()["models"]
    assert any(m["model"] == "tiny.en" and m.get("isDefault") for m in models)
    voices = rest.get("/api/v1/tts/voices", params={"language": "es"}).json()["voices"]
    assert voices
    assert all(v["languages"][0].startswith("es") for v in voices)


def test_job_is_watched_over_server_sent_events(rest: httpx.Client, speech: bytes):
    headers = sign_in(rest)
    created = rest.post("/api/v1/transcriptions", content=speech, headers=headers,
                        params={"external_reference": "e2e"})  # fmt: skip
    assert created.status_code == 200, created.text
    name = created.json()["transcription"]["name"]
    states = []
    with rest.stream("GET", f"/api/v1/{name}:watch", headers=headers, timeout=120) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        for line in stream.iter_lines():
            if line.startswith("data: "):
                job = json.loads(line[len("data: ") :])["transcription"]
                states.append(job["state"])
    assert states[-1] == "TRANSCRIPTION_STATE_SUCCEEDED"
    assert wer(TEXT, job["result"]["text"]) <= 0.1
    assert job["result"]["segments"]
    other = rest.get(f"/api/v1/{name}", headers=sign_in(rest))
    assert other.status_code == 404


def test_synthesis_in_ogg(rest: httpx.Client):
    reply = rest.post("/api/v1/tts/synthesize", headers=sign_in(rest),
                      json={"text": "Hola a todos.", "language": "es",
                            "audioEncoding": "AUDIO_ENCODING_OGG_OPUS"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert (reply.headers["content-type"], reply.content[:4]) == ("audio/ogg", b"OggS")


def test_voice_samples_are_private_to_their_owner(rest: httpx.Client, speech: bytes):
    alice, bob = sign_in(rest), sign_in(rest)
    made = rest.post("/api/v1/voice/samples", content=speech, headers=alice,
                     params={"display_name": "Me", "language": "en"})  # fmt: skip
    assert made.status_code == 200, made.text
    name = made.json()["voiceSample"]["name"]
    assert made.json()["quota"]["sampleCount"] == 1
    download = rest.get(f"/api/v1/voice/{name}:download", headers=alice)
    assert download.headers["content-type"] == "audio/wav"
    assert download.content == speech
    assert rest.get(f"/api/v1/voice/{name}", headers=bob).status_code == 404
    assert rest.get(f"/api/v1/voice/{name}:download", headers=bob).status_code == 404
    assert rest.delete(f"/api/v1/voice/{name}", headers=bob).status_code == 404
    assert rest.get("/api/v1/voice/samples", headers=bob).json().get("voiceSamples", []) == []
    assert rest.delete(f"/api/v1/voice/{name}", headers=alice).status_code == 200
    assert rest.get(f"/api/v1/voice/{name}", headers=alice).status_code == 404
