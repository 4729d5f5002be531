"""Uploads: format sniffed from bytes, limits checked before decoding, decoded to 16 kHz mono."""

from __future__ import annotations

import io
import struct
import time

import av
import numpy as np
import pytest

from services.speech.audio import (
    AudioError,
    decode,
    float_to_wav,
    pcm16_to_float,
    sniff,
)

LIMITS = {"max_bytes": 10 * 1024 * 1024, "max_seconds": 30.0}


def tone(seconds: float, rate: int = 16_000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def encoded(seconds: float, container: str, codec: str, rate: int = 48_000) -> bytes:
    """A tone in another container, written by PyAV (FFmpeg) like a browser or phone would."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="stereo")
        samples = np.tile(tone(seconds, rate), (2, 1))
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="stereo")
        frame.sample_rate = rate
        resampler = av.AudioResampler(format=stream.format, layout="stereo", rate=rate)
        for part in [*resampler.resample(frame), *resampler.resample(None)]:
            out.mux(stream.encode(part))
        out.mux(stream.encode(None))
    return buffer.getvalue()


FORMATS = [
    ("mp3", "mp3", "libmp3lame", "audio/mpeg"),
    ("ogg", "ogg", "libopus", "audio/ogg"),
    ("webm", "webm", "libopus", "audio/webm"),
    ("m4a", "mp4", "aac", "audio/mp4"),
    ("flac", "flac", "flac", "audio/flac"),
]


@pytest.mark.parametrize(("name", "container", "codec", "mime"), FORMATS)
def test_each_format_is_sniffed_and_decoded_to_16k_mono(
    name: str, container: str, codec: str, mime: str
) -> None:
    data = encoded(1.5, container, codec)
    assert sniff(data).name == name
    decoded = decode(data, **LIMITS)
    assert decoded.format.mime_type == mime
    assert decoded.sample_rate == 16_000
    assert decoded.samples.dtype == np.float32
    assert decoded.samples.ndim == 1
    assert decoded.duration == pytest.approx(1.5, abs=0.1)
    assert decoded.source_sample_rate == 48_000
    assert decoded.source_channels == 2


def test_wav_round_trip_keeps_the_signal() -> None:
    signal = tone(1.0)
    decoded = decode(float_to_wav(signal), **LIMITS)
    assert decoded.format.name == "wav"
    assert np.max(np.abs(decoded.samples - signal)) < 1e-3


def test_wav_is_resampled_to_16k() -> None:
    decoded = decode(float_to_wav(tone(2.0, 44_100), 44_100), **LIMITS)
    assert decoded.source_sample_rate == 44_100
    assert decoded.samples.size == pytest.approx(32_000, abs=200)


def test_text_renamed_wav_is_not_audio() -> None:
    with pytest.raises(AudioError) as error:
        decode(b"Meeting notes: this is plain text, saved as notes.wav\n", **LIMITS)
    assert error.value.reason == "unsupported_format"


def test_empty_body_is_refused() -> None:
    with pytest.raises(AudioError) as error:
        decode(b"", **LIMITS)
    assert error.value.reason == "empty"


def test_header_claiming_2gb_is_refused_before_decoding() -> None:
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", 36 + 2**31, b"WAVE", b"fmt ", 16, 1, 1,
        16_000, 32_000, 2, 16, b"data", 2**31,
    )  # fmt: skip
    started = time.perf_counter()
    with pytest.raises(AudioError) as error:
        decode(header + b"\x00" * 3200, **LIMITS)
    assert error.value.reason == "too_large"
    assert time.perf_counter() - started < 0.05


def test_streaming_placeholder_size_is_not_a_2gb_claim() -> None:
    """espeak-ng --stdout writes 0x7FFFF000 as its data size: length unknown, audio fine."""
    wav = bytearray(float_to_wav(tone(0.5)))
    struct.pack_into("<I", wav, 40, 0x7FFFF000)
    assert decode(bytes(wav), **LIMITS).duration == pytest.approx(0.5, abs=0.01)


def test_too_long_by_header_and_by_decoding() -> None:
    with pytest.raises(AudioError) as by_header:
        decode(float_to_wav(tone(3.0)), max_bytes=10**7, max_seconds=2.0)
    assert by_header.value.reason == "too_long"
    with pytest.raises(AudioError) as by_container:
        decode(encoded(3.0, "ogg", "libopus"), max_bytes=10**7, max_seconds=2.0)
    assert by_container.value.reason == "too_long"


def test_audio_of_unknown_length_is_measured_while_decoding() -> None:
    """A streamed WAV (size 0xFFFFFFFF: unknown) of 3 s is stopped at the 2 s limit."""
    wav = bytearray(float_to_wav(tone(3.0)))
    struct.pack_into("<I", wav, 40, 0xFFFFFFFF)
    with pytest.raises(AudioError) as error:
        decode(bytes(wav), max_bytes=10**7, max_seconds=2.0)
    assert error.value.reason == "too_long"


def test_too_many_bytes() -> None:
    with pytest.raises(AudioError) as error:
        decode(float_to_wav(tone(1.0)), max_bytes=1000, max_seconds=30)
    assert error.value.reason == "too_large"


def test_truncated_audio_is_corrupt() -> None:
    data = encoded(1.0, "mp4", "aac")
    with pytest.raises(AudioError) as error:
        decode(data[:200], **LIMITS)
    assert error.value.reason in ("corrupt", "empty")


def test_wav_without_data_chunk_is_corrupt() -> None:
    with pytest.raises(AudioError) as error:
        decode(b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00" + b"\x01\x00" * 8, **LIMITS)
    assert error.value.reason == "corrupt"


def test_pcm16_chunks_become_floats() -> None:
    chunk = struct.pack("<4h", 0, 16384, -32768, 32767)
    assert pcm16_to_float(chunk).tolist() == pytest.approx([0.0, 0.5, -1.0, 32767 / 32768])
    with pytest.raises(AudioError) as error:
        pcm16_to_float(b"\x00\x01\x02")
    assert error.value.reason == "corrupt"
