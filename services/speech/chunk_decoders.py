"""Chunks of a recognition stream → float32 mono 16 kHz samples, in the encoding the stream's
config names, within the stream's length limit. LINEAR16 and WAV are converted chunk by chunk (a
stateful resampler, so chunk edges leave no clicks); Ogg and WebM Opus are containers that only
decode whole, so they are buffered (within the upload limits) and come out when the stream ends.

A stream has no header to check its length against, so `Bounded` counts the samples as they come
out and refuses the chunk that passes the limit. Counting decoded samples bounds the bytes too,
because every rate is held to `audio.MIN_RATE`-`audio.MAX_RATE` (a WAV header claiming 4 MHz
would let a gigabyte pass for a fraction of a second).
"""

from __future__ import annotations

import struct
from typing import Protocol

import av
import numpy as np

from services.speech import audio
from voka.speech.v1 import speech_pb2

EMPTY = np.zeros(0, dtype=np.float32)


class ChunkDecoder(Protocol):
    def feed(self, chunk: bytes) -> np.ndarray:
        """Samples decodable so far; AudioError when the bytes are not what was announced."""
        ...

    def finish(self) -> np.ndarray:
        """What remains once the caller half-closed."""
        ...


class Pcm16:
    """Raw 16-bit little-endian PCM at `rate` Hz with `channels` interleaved channels."""

    def __init__(self, rate: int, channels: int) -> None:
        self._channels = channels
        self._frame_bytes = 2 * channels
        self._rest = b""
        self._rate = rate
        self._resampler = av.AudioResampler(format="flt", layout="mono", rate=audio.SAMPLE_RATE)

    def feed(self, chunk: bytes) -> np.ndarray:
        data = self._rest + chunk
        whole = len(data) - len(data) % self._frame_bytes
        self._rest = data[whole:]
        if not whole:
            return EMPTY
        pcm = np.frombuffer(data[:whole], dtype="<i2").reshape(-1, self._channels)
        mono = pcm.mean(axis=1)  # downmix: the mean of channels
        return self._convert(self._resampler.resample(audio.pcm16_frame(mono, self._rate)))

    def finish(self) -> np.ndarray:
        return self._convert(self._resampler.resample(None))

    @staticmethod
    def _convert(frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return EMPTY
        return np.concatenate([f.to_ndarray().reshape(-1) for f in frames]).astype(np.float32)


class Wav:
    """A WAV header (16-bit PCM) at the start, then PCM: parsed once enough bytes came."""

    def __init__(self) -> None:
        self._head = b""
        self._pcm: Pcm16 | None = None

    def feed(self, chunk: bytes) -> np.ndarray:
        if self._pcm is not None:
            return self._pcm.feed(chunk)
        self._head += chunk
        parsed = _wav_start(self._head)
        if parsed is None:
            if len(self._head) > 1 << 16:
                raise audio.AudioError("corrupt", "no WAV data chunk in the first 64 KiB")
            return EMPTY
        rate, channels, offset = parsed
        self._pcm = Pcm16(rate, channels)
        return self._pcm.feed(self._head[offset:])

    def finish(self) -> np.ndarray:
        if self._pcm is None:
            raise audio.AudioError("corrupt", "the stream ended before its WAV header did")
        return self._pcm.finish()


class Whole:
    """A container (Ogg, WebM) decoded once the stream ends."""

    def __init__(self, max_bytes: int, max_seconds: float) -> None:
        self._data = bytearray()
        self._max_bytes = max_bytes
        self._max_seconds = max_seconds

    def feed(self, chunk: bytes) -> np.ndarray:
        self._data += chunk
        if len(self._data) > self._max_bytes:
            raise audio.AudioError("too_large", f"the stream passed {self._max_bytes} bytes")
        return EMPTY

    def finish(self) -> np.ndarray:
        decoded = audio.decode(bytes(self._data), max_bytes=self._max_bytes,
                               max_seconds=self._max_seconds)  # fmt: skip
        return decoded.samples


class Bounded:
    """Another decoder, refused once more than `max_seconds` of audio came out of it."""

    def __init__(self, decoder: ChunkDecoder, max_seconds: float) -> None:
        self._decoder = decoder
        self._max_seconds = max_seconds
        self._max_samples = int(max_seconds * audio.SAMPLE_RATE)
        self._samples = 0

    def feed(self, chunk: bytes) -> np.ndarray:
        return self._counted(self._decoder.feed(chunk))

    def finish(self) -> np.ndarray:
        return self._counted(self._decoder.finish())

    def _counted(self, samples: np.ndarray) -> np.ndarray:
        self._samples += samples.size
        if self._samples > self._max_samples:
            seconds = self._samples / audio.SAMPLE_RATE
            raise audio.AudioError("too_long", audio.too_long(seconds, self._max_seconds))
        return samples


def _wav_start(head: bytes) -> tuple[int, int, int] | None:
    """(rate, channels, offset of the PCM) once the header is all there; None before."""
    if len(head) < 12:
        return None
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        raise audio.AudioError("unsupported_format", "the stream does not start with a WAV header")
    offset, fmt = 12, None
    while offset + 8 <= len(head):
        chunk_id, size = struct.unpack_from("<4sI", head, offset)
        if chunk_id == b"fmt " and offset + 24 <= len(head):
            tag, channels, rate = struct.unpack_from("<HHI", head, offset + 8)
            bits = struct.unpack_from("<H", head, offset + 22)[0]
            if tag != 1 or bits != 16 or channels not in (1, 2):
                raise audio.AudioError(
                    "unsupported_format", "WAV streams must be 16-bit PCM, 1-2 channels"
                )
            if not audio.MIN_RATE <= rate <= audio.MAX_RATE:
                raise audio.AudioError(
                    "unsupported_format",
                    f"WAV streams run at {audio.MIN_RATE}-{audio.MAX_RATE} Hz, not {rate} Hz",
                )
            fmt = rate, channels
        if chunk_id == b"data":
            return None if fmt is None else (*fmt, offset + 8)
        offset += 8 + size + (size & 1)
    return None


def decoder_for(
    config: speech_pb2.StreamingRecognitionConfig,
    *,
    max_seconds: float,
    buffered_bytes: int,
    buffered_seconds: float,
) -> ChunkDecoder:
    """The decoder of the config's encoding, refused past `max_seconds` of audio; containers
    decoded whole are also held to `buffered_bytes` and `buffered_seconds` (they sit in memory)."""
    decoder: ChunkDecoder
    if config.encoding == speech_pb2.AUDIO_ENCODING_WAV:
        decoder = Wav()
    elif config.encoding in (
        speech_pb2.AUDIO_ENCODING_OGG_OPUS,
        speech_pb2.AUDIO_ENCODING_WEBM_OPUS,
    ):
        decoder = Whole(buffered_bytes, buffered_seconds)
    else:
        rate, channels = config.sample_rate_hertz or audio.SAMPLE_RATE, config.audio_channel_count
        decoder = Pcm16(rate, channels or 1)
    return Bounded(decoder, max_seconds)
