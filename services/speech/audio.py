"""Uploaded audio: recognised by its bytes, checked against limits, decoded to 16 kHz mono.

The format comes from magic bytes only (never the Content-Type or the file name). Limits are
checked before any real work: the byte count first, then the duration the header claims (a WAV
header claiming 2 GB is refused without reading further), then the decoded duration as it grows,
so a lying header cannot make the decoder run long. Decoding goes through PyAV, which
faster-whisper already depends on.
"""

from __future__ import annotations

import contextlib
import io
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000
# Rates the service takes in (LINEAR16 and WAV streams) and gives out (synthesis): telephony to
# studio. A stream's duration limit bounds its bytes only because its rate is bounded.
MIN_RATE, MAX_RATE = 8_000, 48_000
# What streaming WAV writers put in before they know the length (ffmpeg pipes: 0xFFFFFFFF;
# espeak-ng --stdout: 0x7FFFF000): the length is unknown, not 2 GB.
_UNKNOWN_WAV_SIZES = (0, 0x7FFFF000, 0x7FFFFFFF, 0xFFFFFFFF)


class AudioError(ValueError):
    """Audio the service refuses; `reason` is one of the `REASONS`."""

    REASONS = ("unsupported_format", "empty", "too_large", "too_long", "corrupt")

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class AudioFormat:
    """A container the service accepts, with the MIME type it answers with."""

    name: str
    mime_type: str


WAV = AudioFormat("wav", "audio/wav")
MP3 = AudioFormat("mp3", "audio/mpeg")
M4A = AudioFormat("m4a", "audio/mp4")
OGG = AudioFormat("ogg", "audio/ogg")
WEBM = AudioFormat("webm", "audio/webm")
FLAC = AudioFormat("flac", "audio/flac")
FORMATS: tuple[AudioFormat, ...] = (WAV, MP3, M4A, OGG, WEBM, FLAC)


@dataclass(frozen=True)
class DecodedAudio:
    """float32 mono samples at 16 kHz, with what the upload was before conversion."""

    samples: np.ndarray
    sample_rate: int
    duration: float
    format: AudioFormat
    source_sample_rate: int = 0
    source_channels: int = 0


def sniff(data: bytes) -> AudioFormat:
    """The container of `data`, from its first bytes; AudioError when it is none we accept."""
    if not data:
        raise AudioError("empty", "the audio is empty")
    head = data[:12]
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return WAV
    if head[:4] == b"fLaC":
        return FLAC
    if head[:4] == b"OggS":
        return OGG
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return WEBM
    if head[4:8] == b"ftyp":
        return M4A
    if head[:3] == b"ID3" or _is_mpeg_audio_frame(head):
        return MP3
    raise AudioError("unsupported_format", "not audio in a supported format (" + _accepted() + ")")


def _accepted() -> str:
    return ", ".join(f.name for f in FORMATS)


def _is_mpeg_audio_frame(head: bytes) -> bool:
    """An MPEG audio frame sync (11 set bits) with a layer set; ADTS AAC has layer 0."""
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def check(data: bytes, *, max_bytes: int, max_seconds: float) -> AudioFormat:
    """What can be refused without decoding (format, size, a WAV header's claims): uploads
    stored now and decoded later by a worker are checked with this at once."""
    fmt = sniff(data)
    if len(data) > max_bytes:
        raise AudioError("too_large", f"the audio is {len(data)} bytes; at most {max_bytes}")
    if fmt is WAV:
        _check_wav_header(data, max_bytes=max_bytes, max_seconds=max_seconds)
    return fmt


def decode(data: bytes, *, max_bytes: int, max_seconds: float) -> DecodedAudio:
    """Sniff, check limits, decode and resample `data`; AudioError names what is wrong."""
    fmt = check(data, max_bytes=max_bytes, max_seconds=max_seconds)
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            return _decode_container(container, fmt, max_seconds)
    except av.FFmpegError as exc:
        raise AudioError("corrupt", f"the {fmt.name} audio cannot be decoded: {exc}") from exc


HEAD_BYTES = 64 * 1024  # enough for any container's header checks (WAV chunks before `data`)


@dataclass(frozen=True)
class AudioStream:
    """A stored file decoded as it is read: `chunks` yields float32 mono 16 kHz pieces, one
    packet's worth at a time, so memory does not grow with the file's length."""

    format: AudioFormat
    claimed_seconds: float  # what the container says (0 when it does not say)
    chunks: Iterator[np.ndarray]


@contextlib.contextmanager
def open_file(path: Path, *, max_bytes: int, max_seconds: float) -> Iterator[AudioStream]:
    """Check the file at `path` like `check` (its head only), then decode it streamed; the
    duration limit is enforced on the samples as they come out. AudioError names the problem,
    from the checks or from the decoder at any point of the iteration."""
    with open(path, "rb") as file:
        head = file.read(HEAD_BYTES)
    size = path.stat().st_size
    if size > max_bytes:
        raise AudioError("too_large", f"the audio is {size} bytes; at most {max_bytes}")
    fmt = check(head, max_bytes=max_bytes, max_seconds=max_seconds)
    try:
        with av.open(str(path), mode="r") as container:
            if not container.streams.audio:
                raise AudioError("corrupt", f"the {fmt.name} file holds no audio stream")
            claimed = container.duration / av.time_base if container.duration else 0.0
            if claimed > max_seconds:
                raise AudioError("too_long", too_long(claimed, max_seconds))
            stream = container.streams.audio[0]
            yield AudioStream(
                fmt, claimed, _guarded(fmt, _resampled(container, stream, max_seconds))
            )
    except av.FFmpegError as exc:
        raise AudioError("corrupt", f"the {fmt.name} audio cannot be decoded: {exc}") from exc


def _guarded(fmt: AudioFormat, chunks: Iterator[np.ndarray]) -> Iterator[np.ndarray]:
    """Decoder errors met while iterating, as AudioError."""
    try:
        yield from chunks
    except av.FFmpegError as exc:
        raise AudioError("corrupt", f"the {fmt.name} audio cannot be decoded: {exc}") from exc


def _decode_container(
    container: av.container.InputContainer, fmt: AudioFormat, max_seconds: float
) -> DecodedAudio:
    if not container.streams.audio:
        raise AudioError("corrupt", f"the {fmt.name} file holds no audio stream")
    stream = container.streams.audio[0]
    claimed = container.duration / av.time_base if container.duration else 0.0
    if claimed > max_seconds:
        raise AudioError("too_long", too_long(claimed, max_seconds))
    chunks = list(_resampled(container, stream, max_seconds))
    samples = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.float32)
    if samples.size == 0:
        raise AudioError("empty", f"the {fmt.name} file holds no audio samples")
    return DecodedAudio(
        samples=samples,
        sample_rate=SAMPLE_RATE,
        duration=samples.size / SAMPLE_RATE,
        format=fmt,
        source_sample_rate=stream.codec_context.sample_rate or 0,
        source_channels=stream.codec_context.channels or 0,
    )


def _resampled(
    container: av.container.InputContainer, stream: av.AudioStream, max_seconds: float
) -> Iterator[np.ndarray]:
    """Decoded chunks as float32 mono 16 kHz, stopping once more than `max_seconds` came out."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
    limit = int(max_seconds * SAMPLE_RATE)
    total = 0
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            chunk = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
            total += chunk.size
            if total > limit:
                raise AudioError("too_long", too_long(total / SAMPLE_RATE, max_seconds))
            yield chunk
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1).astype(np.float32, copy=False)


def too_long(seconds: float, max_seconds: float) -> str:
    """The message of a `too_long` refusal, the same for uploads and streams."""
    return f"the audio lasts {seconds:.1f} s or more; at most {max_seconds:g} s"


def _check_wav_header(data: bytes, *, max_bytes: int, max_seconds: float) -> None:
    """Refuse a WAV whose header claims more bytes or seconds than allowed, before decoding."""
    byte_rate, data_size, _ = _wav_header(data)
    if data_size in _UNKNOWN_WAV_SIZES:
        return
    if data_size > max_bytes:
        raise AudioError(
            "too_large", f"the WAV header claims {data_size} bytes of audio; at most {max_bytes}"
        )
    if byte_rate and data_size / byte_rate > max_seconds:
        raise AudioError("too_long", too_long(data_size / byte_rate, max_seconds))


def _wav_header(data: bytes) -> tuple[int, int, int]:
    """(byte rate from `fmt `, size claimed by `data`, where its samples start), walking the
    RIFF chunks."""
    offset, byte_rate = 12, 0
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        if chunk_id == b"fmt " and offset + 16 <= len(data):
            byte_rate = struct.unpack_from("<I", data, offset + 16)[0]
        if chunk_id == b"data":
            return byte_rate, size, offset + 8
        offset += 8 + size + (size & 1)
    raise AudioError("corrupt", "the WAV file has no data chunk")


def pcm16_to_float(chunk: bytes) -> np.ndarray:
    """Raw 16-bit little-endian mono PCM (a streaming chunk) as float32 in [-1, 1)."""
    if len(chunk) % 2:
        raise AudioError("corrupt", "16-bit PCM needs an even number of bytes")
    return np.frombuffer(chunk, dtype="<i2").astype(np.float32) / 32768.0


def float_to_wav(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> bytes:
    """float32 mono samples as a 16-bit PCM WAV file (for tests, benches and streams)."""
    return pcm16_wav((np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes(), sample_rate)


def pcm16_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Raw 16-bit mono PCM with a WAV header whose sizes are the real ones."""
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + len(pcm), b"WAVE", b"fmt ", 16, 1, 1,
        sample_rate, sample_rate * 2, 2, 16, b"data", len(pcm),
    )  # fmt: skip
    return header + pcm


def pcm16_frame(pcm: np.ndarray, rate: int) -> av.AudioFrame:
    """16-bit mono samples as a PyAV frame at `rate` Hz, for its resampler and its encoders."""
    frame = av.AudioFrame.from_ndarray(pcm.astype("<i2", copy=False).reshape(1, -1),
                                       format="s16", layout="mono")  # fmt: skip
    frame.sample_rate = rate
    return frame


def resample_wav(data: bytes, rate: int) -> bytes:
    """A 16-bit mono WAV at `rate` Hz, resampled by FFmpeg's libswresample (through PyAV, which
    decodes and converts everything else here), so no voice is limited to its native rate."""
    pcm, source = wav_pcm16(data)
    if source == rate:
        return data
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    frame = pcm16_frame(np.frombuffer(pcm, dtype="<i2"), source)
    frames = [*resampler.resample(frame), *resampler.resample(None)]
    return pcm16_wav(b"".join(f.to_ndarray().astype("<i2").tobytes() for f in frames), rate)


def wav_pcm16(data: bytes) -> tuple[bytes, int]:
    """(PCM bytes, sample rate) of a 16-bit mono WAV, whatever sizes its header claims."""
    byte_rate, _, start = _wav_header(data)
    return data[start:], byte_rate // 2
