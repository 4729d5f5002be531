"""Transcriptions a turn refers to (`transcriptions: ["transcriptions/{id}"]`, the speech
service's jobs), as context in its prompt: the speech backend let a chat refer to a
transcription by name (issue 19, item 5).

Each is read from the speech service as the caller (their own bearer token, or their name with
the assistant's identity: `rpcs.base.forwarded`), so speech decides who may read it. Its
refusals end the turn with the same meaning: NOT_FOUND and PERMISSION_DENIED as they are,
INVALID_ARGUMENT on the field that named it; a transcription with no text yet is
FAILED_PRECONDITION; a speech service that is down is UNAVAILABLE naming it. Nothing is stored
yet when that happens.

Bounded: at most MAX_TRANSCRIPTIONS per turn, each cut to a token budget in the prompt (whole
words, the opening kept), and the prompt says when one was cut and how long it was."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import grpc

from services.assistant import speech as speech_peer
from services.assistant.speech import Metadata, SpeechClient
from voka import errors, peer_calls
from voka.errors import FieldViolation
from voka.speech.v1 import speech_pb2

MAX_TRANSCRIPTIONS = 4
NAME = re.compile(r"^transcriptions/[A-Za-z0-9_-]{1,64}$")  # the speech service's ids
LEAD = "Transcriptions the user refers to (from the speech service):"
Counter = Callable[[str], int]


@dataclass(frozen=True)
class Transcript:
    """One transcription's text as read for a turn."""

    name: str  # transcriptions/{id}
    file_name: str
    text: str


def violations(names: Sequence[str], path: str = "transcriptions") -> list[FieldViolation]:
    """The shape of a request's references: at most MAX_TRANSCRIPTIONS names, each
    `transcriptions/{id}`."""
    if len(names) > MAX_TRANSCRIPTIONS:
        return [FieldViolation(path, f"at most {MAX_TRANSCRIPTIONS} transcriptions per turn")]
    return [
        FieldViolation(f"{path}[{i}]", "must be transcriptions/{id}")
        for i, name in enumerate(names)
        if not NAME.match(name)
    ]


def _refused(exc: peer_calls.RefusedError, name: str, path: str) -> errors.VokaError | None:
    """The speech service's refusal as the turn's own answer, where one has the same meaning."""
    if exc.code == grpc.StatusCode.NOT_FOUND:
        return errors.not_found("Transcription", name)
    if exc.code == grpc.StatusCode.PERMISSION_DENIED:
        return errors.permission_denied(f"the speech service denies {name}: {exc.details}")
    if exc.code == grpc.StatusCode.INVALID_ARGUMENT:
        return errors.invalid_argument([FieldViolation(path, exc.details)])
    return None


class Transcripts:
    """Reads the transcriptions a turn refers to."""

    def __init__(self, speech: SpeechClient) -> None:
        self._speech = speech

    async def read(self, names: Sequence[str], metadata: Metadata) -> tuple[Transcript, ...]:
        """Each named transcription's text (validated names), in order; the first that cannot
        be had ends the turn (see the module's doc)."""
        found = []
        for index, name in enumerate(names):
            with peer_calls.answering(speech_peer.PEER):
                try:
                    job = await self._speech.transcription(name, metadata)
                except peer_calls.RefusedError as exc:
                    precise = _refused(exc, name, f"transcriptions[{index}]")
                    if precise is None:
                        raise  # FAILED_PRECONDITION naming the speech service
                    raise precise from exc
            if job.state != speech_pb2.TRANSCRIPTION_STATE_SUCCEEDED:
                state = speech_pb2.TranscriptionState.Name(job.state)
                raise errors.failed_precondition(
                    f"{name} is {state}: only a SUCCEEDED transcription has text",
                    "TRANSCRIPTION_NOT_READY", name,
                )  # fmt: skip
            found.append(Transcript(name, job.file_name, job.result.text.strip()))
        return tuple(found)


def cut(text: str, budget: int, count: Counter) -> str | None:
    """The longest opening of `text` in whole words within `budget` tokens; None when all of
    it fits."""
    if count(text) <= budget:
        return None
    words = text.split()
    low, high = 0, len(words)
    while low < high:  # the most words that fit: a binary search, about log2(words) counts
        middle = (low + high + 1) // 2
        if count(" ".join(words[:middle])) <= budget:
            low = middle
        else:
            high = middle - 1
    return " ".join(words[:low])


def prompt_text(transcripts: Sequence[Transcript], budget: int, count: Counter) -> str:
    """The system prompt's part for the transcriptions, each within `budget` tokens and saying
    when it was cut; empty for none."""
    if not transcripts:
        return ""
    parts = [LEAD]
    for transcript in transcripts:
        title = (
            f"{transcript.name} ({transcript.file_name})"
            if transcript.file_name
            else transcript.name
        )
        shortened = cut(transcript.text, budget, count)
        if shortened is None:
            parts.append(f"[{title}] {transcript.text}")
        else:
            whole = count(transcript.text)
            parts.append(f"[{title}, cut to its first {budget} of {whole} tokens] {shortened} […]")
    return "\n".join(parts)
