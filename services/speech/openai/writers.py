"""A transcript in OpenAI's response formats, and the Server-Sent Events of a streamed one.

`json` is `{"text", "usage"}`; `text` the text and a newline; `srt` and `vtt` one cue per
segment; `verbose_json` adds `task`, `language` (Whisper's name, `english`), `duration`,
`segments` and, when word timestamps were asked, `words`. Segment fields the engines do not
report are filled honestly: `tokens` is empty (the engines keep token ids to themselves),
`temperature` 0 (the one the engines decode from), `seek` the segment's start in 10 ms frames, and
`compression_ratio` computed from the text as Whisper computes it (UTF-8 length over
zlib-compressed length).
"""

from __future__ import annotations

import json
import math
import zlib
from collections.abc import Callable
from typing import Any

from google.protobuf import duration_pb2

from services.speech.openai.languages import language_name
from voka.speech.v1 import speech_pb2

JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"
EVENT_STREAM = "text/event-stream"
TASKS = {speech_pb2.RECOGNITION_TASK_TRANSLATE: "translate"}

Result = speech_pb2.TranscriptionResult


def _seconds(value: duration_pb2.Duration) -> float:
    return round(value.seconds + value.nanos / 1e9, 3)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()


def _usage(result: Result) -> dict[str, Any]:
    """Billed seconds as OpenAI reports them for whisper-1: the audio's length, rounded up."""
    return {"type": "duration", "seconds": math.ceil(_seconds(result.duration))}


def _timestamp(seconds: float, decimal: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal}{millis:03d}"


def _cue(segment: speech_pb2.TranscriptSegment, decimal: str) -> str:
    start = _timestamp(_seconds(segment.start_offset), decimal)
    end = _timestamp(_seconds(segment.end_offset), decimal)
    return f"{start} --> {end}\n{segment.text.strip()}\n"


def compression_ratio(text: str) -> float:
    """Whisper's repetition measure: how much zlib shrinks the text."""
    data = text.encode()
    return round(len(data) / len(zlib.compress(data)), 4) if data else 0.0


def _segment(segment: speech_pb2.TranscriptSegment) -> dict[str, Any]:
    start = _seconds(segment.start_offset)
    return {
        "id": segment.index,
        "seek": round(start * 100),
        "start": start,
        "end": _seconds(segment.end_offset),
        "text": " " + segment.text.strip(),
        "tokens": [],
        "temperature": 0.0,
        "avg_logprob": segment.avg_log_probability,
        "compression_ratio": compression_ratio(segment.text),
        "no_speech_prob": segment.no_speech_probability,
    }


def _word(word: speech_pb2.Word) -> dict[str, Any]:
    return {
        "word": word.word.strip(),
        "start": _seconds(word.start_offset),
        "end": _seconds(word.end_offset),
    }


def write_json(result: Result, words: bool) -> tuple[bytes, str]:
    return _json({"text": result.text, "usage": _usage(result)}), JSON_TYPE


def write_text(result: Result, words: bool) -> tuple[bytes, str]:
    return f"{result.text}\n".encode(), TEXT_TYPE


def write_srt(result: Result, words: bool) -> tuple[bytes, str]:
    cues = [f"{i}\n{_cue(s, ',')}" for i, s in enumerate(result.segments, start=1)]
    return "\n".join(cues).encode(), TEXT_TYPE


def write_vtt(result: Result, words: bool) -> tuple[bytes, str]:
    cues = "\n".join(_cue(s, ".") for s in result.segments)
    return f"WEBVTT\n\n{cues}".encode(), "text/vtt; charset=utf-8"


def write_verbose_json(result: Result, words: bool) -> tuple[bytes, str]:
    body: dict[str, Any] = {
        "task": TASKS.get(result.task, "transcribe"),
        "language": language_name(result.language),
        "duration": _seconds(result.duration),
        "text": result.text,
        "segments": [_segment(s) for s in result.segments],
        "usage": _usage(result),
    }
    if words:
        body["words"] = [_word(w) for s in result.segments for w in s.words]
    return _json(body), JSON_TYPE


Writer = Callable[[Result, bool], tuple[bytes, str]]
WRITERS: dict[str, Writer] = {
    "json": write_json,
    "text": write_text,
    "srt": write_srt,
    "vtt": write_vtt,
    "verbose_json": write_verbose_json,
}


def _event(value: dict[str, Any]) -> bytes:
    return b"data: " + _json(value) + b"\n\n"


def delta_event(delta: str) -> bytes:
    """`transcript.text.delta`: text recognised since the last event."""
    return _event({"type": "transcript.text.delta", "delta": delta})


def done_event(text: str) -> bytes:
    """`transcript.text.done`: the whole text, last event of the stream."""
    return _event({"type": "transcript.text.done", "text": text})
