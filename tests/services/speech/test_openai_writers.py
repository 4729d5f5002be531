"""OpenAI's transcript formats, written from a known result and read back with the official
SDK's own types (so a field the SDK needs cannot go missing)."""

from __future__ import annotations

import json

import pytest
from openai.types.audio import (
    Transcription,
    TranscriptionTextDeltaEvent,
    TranscriptionTextDoneEvent,
    TranscriptionVerbose,
)

from services.speech.openai import writers
from voka.speech.v1 import speech_pb2
from voka.wellknown import duration


def word(text: str, start: float, end: float) -> speech_pb2.Word:
    return speech_pb2.Word(word=text, start_offset=duration(start), end_offset=duration(end),
                           probability=0.9)  # fmt: skip


RESULT = speech_pb2.TranscriptionResult(
    text="Hello there. See you at 3661 seconds.",
    language="en",
    duration=duration(3662.5),
    task=speech_pb2.RECOGNITION_TASK_TRANSCRIBE,
    segments=[
        speech_pb2.TranscriptSegment(
            index=0, start_offset=duration(0.0), end_offset=duration(1.25), text="Hello there.",
            words=[word(" Hello", 0.0, 0.5), word(" there.", 0.5, 1.25)],
            avg_log_probability=-0.2, no_speech_probability=0.01,
        ),
        speech_pb2.TranscriptSegment(
            index=1, start_offset=duration(3661.0), end_offset=duration(3662.004),
            text="See you at 3661 seconds.",
        ),
    ],
)  # fmt: skip


def test_json_is_text_with_billed_seconds():
    data, mime = writers.write_json(RESULT, False)
    parsed = Transcription.model_validate_json(data)
    assert mime == "application/json"
    assert parsed.text == RESULT.text
    assert parsed.usage is not None
    assert parsed.usage.type == "duration"
    assert parsed.usage.seconds == 3663


def test_text_is_the_text_and_a_newline():
    assert writers.write_text(RESULT, False) == (
        b"Hello there. See you at 3661 seconds.\n",
        "text/plain; charset=utf-8",
    )


def test_srt_numbers_cues_with_comma_milliseconds_past_an_hour():
    data, _ = writers.write_srt(RESULT, False)
    assert data.decode() == (
        "1\n00:00:00,000 --> 00:00:01,250\nHello there.\n\n"
        "2\n01:01:01,000 --> 01:01:02,004\nSee you at 3661 seconds.\n"
    )


def test_vtt_has_its_header_and_dot_milliseconds():
    data, mime = writers.write_vtt(RESULT, False)
    assert mime.startswith("text/vtt")
    assert data.decode() == (
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.250\nHello there.\n\n"
        "01:01:01.000 --> 01:01:02.004\nSee you at 3661 seconds.\n"
    )


def test_verbose_json_has_segments_and_words_only_when_asked():
    data, _ = writers.write_verbose_json(RESULT, True)
    parsed = TranscriptionVerbose.model_validate_json(data)
    assert (parsed.language, parsed.duration, parsed.text) == ("english", 3662.5, RESULT.text)
    assert parsed.segments is not None
    first, second = parsed.segments
    assert (first.id, first.start, first.end, first.text) == (0, 0.0, 1.25, " Hello there.")
    assert (first.avg_logprob, first.no_speech_prob, first.tokens) == (-0.2, 0.01, [])
    assert (second.seek, second.end) == (366100, 3662.004)
    assert first.compression_ratio == writers.compression_ratio("Hello there.") > 0
    assert parsed.words is not None
    assert [(w.word, w.start, w.end) for w in parsed.words] == [
        ("Hello", 0.0, 0.5), ("there.", 0.5, 1.25)
    ]  # fmt: skip
    assert json.loads(data)["task"] == "transcribe"
    without_words, _ = writers.write_verbose_json(RESULT, False)
    assert "words" not in json.loads(without_words)


def test_a_translation_says_so_and_an_unknown_language_keeps_its_code():
    translated = speech_pb2.TranscriptionResult(
        text="Hi.", language="xx", task=speech_pb2.RECOGNITION_TASK_TRANSLATE
    )
    body = json.loads(writers.write_verbose_json(translated, False)[0])
    assert (body["task"], body["language"], body["segments"]) == ("translate", "xx", [])


@pytest.mark.parametrize("text", ["", ' Hello, "world" — ¿qué tal?\n'])
def test_stream_events_are_sdk_events(text: str):
    delta = writers.delta_event(text)
    done = writers.done_event(text)
    for frame in (delta, done):
        assert frame.startswith(b"data: ")
        assert frame.endswith(b"\n\n")
        assert b"\n" not in frame[:-2]  # one line of data per event
    assert TranscriptionTextDeltaEvent.model_validate_json(delta[6:]).delta == text
    assert TranscriptionTextDoneEvent.model_validate_json(done[6:]).text == text
