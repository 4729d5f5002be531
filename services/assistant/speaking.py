"""The spoken side of a voice chat: the reply's text, sentence by sentence as it arrives, sent to
the speech service's SynthesizeSpeech, so the first audio comes before the reply is finished."""

from __future__ import annotations

import io
import re
import wave
from collections.abc import AsyncIterator, Sequence

from google.api import httpbody_pb2

from services.assistant.speech import SpeechClient, encoding
from voka import errors
from voka.assistant.v1 import assistant_pb2
from voka.speech.v1 import speech_pb2

Out = assistant_pb2.StreamVoiceChatResponse
_RATE = re.compile(r"rate=(\d+)")
_SENTENCE_END = re.compile(r"(?<=[.!?;:])\s+")


def sample_rate(body: httpbody_pb2.HttpBody, asked: int) -> int:
    """The rate of synthesized audio: from its MIME type or WAV header, else what was asked."""
    found = _RATE.search(body.content_type)
    if found:
        return int(found.group(1))
    if body.data[:4] == b"RIFF":
        with wave.open(io.BytesIO(body.data), "rb") as wav:
            return wav.getframerate()
    return asked


def split_sentences(text: str) -> tuple[list[str], str]:
    """Complete sentences of `text`, and the unfinished rest."""
    parts = _SENTENCE_END.split(text)
    return [p for p in parts[:-1] if p.strip()], parts[-1]


class Speaker:
    """Speaks one reply: `add` its text as it arrives, `flush` the rest at its end."""

    def __init__(self, speech: SpeechClient, config: assistant_pb2.VoiceChatConfig,
                 metadata: Sequence[tuple[str, str]]) -> None:  # fmt: skip
        self._speech = speech
        self._config = config
        self._metadata = metadata
        self._pending = ""
        self._sequence = 0

    async def add(self, text: str) -> AsyncIterator[Out]:
        self._pending += text
        sentences, self._pending = split_sentences(self._pending)
        for sentence in sentences:
            async for out in self._speak(sentence, last=False):
                yield out

    async def flush(self) -> AsyncIterator[Out]:
        """The unfinished sentence, as the reply's last chunk."""
        rest, self._pending = self._pending.strip(), ""
        if rest or self._sequence:
            async for out in self._speak(rest, last=True):
                yield out

    async def _speak(self, text: str, last: bool) -> AsyncIterator[Out]:
        config = self._config
        if config.disable_audio_output:
            return
        output = config.output_encoding or assistant_pb2.AUDIO_ENCODING_LINEAR16
        data, rate = b"", config.output_sample_rate_hertz
        if text:
            request = speech_pb2.SynthesizeSpeechRequest(
                text=text, voice=config.voice, language=config.language,
                speaking_rate=config.speaking_rate, audio_encoding=encoding(output),
                sample_rate_hertz=config.output_sample_rate_hertz)  # fmt: skip
            try:
                body = await self._speech.speak(request, self._metadata)
            except errors.VokaError as exc:
                yield Out(error=exc.to_status())
                return
            data, rate = body.data, sample_rate(body, config.output_sample_rate_hertz)
        yield Out(audio=assistant_pb2.AudioChunk(data=data, encoding=output, sample_rate_hertz=rate,
                                     sequence=self._sequence, text=text, last=last))  # fmt: skip
        self._sequence += 1
