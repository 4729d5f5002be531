"""Speech recognition real-time factor: the service vs. the bare engine libraries, one run.

    PYTHONPATH=.:gen .venv/bin/python -m bench.speech [--model tiny.en] [--runs 5] [--seconds 20]

Every leg transcribes the same WAV (Piper-generated English speech, about `--seconds` long)
with the same model and options (language given, greedy decoding, same thread count). Each leg
runs once to warm up (not counted); then the legs take turns, `--runs` rounds, each round
starting with the next leg and each run after a 1 s pause, so a noisy machine slows them alike;
the figure is each leg's median. RTF = processing time / audio length.

* faster-whisper (bare): `WhisperModel.transcribe` on samples decoded beforehand (the baseline:
  the engine alone), and on the WAV bytes (faster-whisper's own decoding);
* RecognitionPool: the service's own path minus gRPC (sniff, limits, decode, worker thread);
* gRPC Transcribe: the speech service running in process (auth, validation, conversion) with
  the WAV as the request body, on one channel;
* whisper.cpp (bare): pywhispercpp on the ggml file converted from the same CTranslate2 model
  (`python -m services.speech models convert-ggml`), on the decoded samples.

Service overhead = service RTF / bare faster-whisper RTF on decoded samples - 1 (goal: at most
10 %); the service's figures include its decoding, the baseline's do not. The WER
column checks that every leg heard the same words.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

import grpc
import numpy as np
from faster_whisper import WhisperModel
from google.api import httpbody_pb2
from pywhispercpp.model import Model

from services.speech import ggml, packaged
from services.speech.audio import decode, float_to_wav
from services.speech.engines.base import TranscribeOptions
from services.speech.models import ModelCatalogue, ct2_path, ggml_path
from services.speech.recognition import RecognitionPool
from services.speech.service import SPEC
from services.speech.settings import SpeechSettings
from services.speech.tts.base import SynthesisOptions
from services.speech.tts.piper import PiperSynthesizer
from tests.fixtures.tokens import TokenFactory
from tests.services.speech.wer import wer
from tools.processes import NatsServer
from voka.server import start
from voka.speech.v1 import speech_pb2, speech_pb2_grpc

SENTENCES = [
    "Please send the quarterly report to the finance team before Friday.",
    "The meeting starts at nine o'clock in the big room on the second floor.",
    "We agreed to move the product launch to the first week of next month.",
    "Maria will call the supplier and ask for a better price on the cables.",
    "Remember to back up the database before you install the new version.",
]
LIMIT = 600.0
SETTLE_SECONDS = 1.0


def speech_wav(seconds: float) -> tuple[bytes, str]:
    """Piper sentences with short pauses until `seconds` of audio, as one 16 kHz WAV, and
    what they say."""
    piper = PiperSynthesizer(None, varied=False)
    voice = piper.voices()[0].id
    parts: list[np.ndarray] = []
    said: list[str] = []
    total = 0.0
    while total < seconds:
        sentence = SENTENCES[len(said) % len(SENTENCES)]
        said.append(sentence)
        wav = piper.synthesize(sentence, voice, SynthesisOptions())
        samples = decode(wav, max_bytes=10**8, max_seconds=LIMIT).samples
        parts += [samples, np.zeros(8000, dtype=np.float32)]
        total += samples.size / 16_000 + 0.5
    return float_to_wav(np.concatenate(parts)), " ".join(said)


Leg = tuple[float, str]  # median seconds, the text of the last run
Runner = Callable[[], str]


def interleaved(runs: int, runners: dict[str, Runner]) -> dict[str, Leg]:
    """Warm every runner once, then `runs` rounds of each in turn; median seconds per runner.

    Each round starts with the next runner (no leg always follows the same one), and each run
    starts after a pause: whisper.cpp's and onnxruntime's worker threads spin for a while after
    a call and would slow whichever leg came next."""
    texts = {name: run() for name, run in runners.items()}
    names = list(runners)
    durations: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(runs):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            time.sleep(SETTLE_SECONDS)
            started = time.perf_counter()
            texts[name] = runners[name]()
            durations[name].append(time.perf_counter() - started)
    return {name: (statistics.median(durations[name]), texts[name]) for name in names}


def on_loop(loop: asyncio.AbstractEventLoop, fn: Callable[[], Coroutine[Any, Any, str]]) -> Runner:
    """A coroutine leg as a blocking call for the timing thread (~50 µs a hop, against seconds
    of inference)."""
    return lambda: asyncio.run_coroutine_threadsafe(fn(), loop).result()


def bare_faster_whisper(model_dir: Path, wav: bytes, threads: int) -> tuple[Runner, Runner]:
    """The library as a script would call it: on samples decoded beforehand (the pure engine
    cost, the baseline), and on the WAV bytes (its own decoding, which ends in a full
    `gc.collect()`: ~0.4 s in a process this size)."""
    model = WhisperModel(str(model_dir), device="cpu", compute_type="int8", cpu_threads=threads)
    samples = decode(wav, max_bytes=10**9, max_seconds=LIMIT).samples

    def run(audio: np.ndarray | io.BytesIO) -> str:
        segments, _ = model.transcribe(audio, language="en", beam_size=1)
        return "".join(s.text for s in segments)

    return (lambda: run(samples)), (lambda: run(io.BytesIO(wav)))


def bare_whisper_cpp(path: Path, wav: bytes, threads: int) -> Callable[[], str]:
    model = Model(str(path), redirect_whispercpp_logs_to=None, print_progress=False,
                  n_threads=threads)  # fmt: skip
    samples = decode(wav, max_bytes=10**9, max_seconds=LIMIT).samples

    def run() -> str:
        return " ".join(s.text for s in model.transcribe(samples, language="en"))

    return run


def pool_runner(pool: RecognitionPool, wav: bytes) -> Callable[[], Coroutine[Any, Any, str]]:
    """The service's recognition path without gRPC: decode with its limits, then the pool."""

    async def run() -> str:
        audio = decode(wav, max_bytes=10**9, max_seconds=LIMIT)
        options = TranscribeOptions(language="en", beam_size=1)
        return (await pool.transcribe(None, audio.samples, options)).text

    return run


@contextlib.asynccontextmanager
async def speech_service(
    models_dir: Path, work: Path, model: str, wav: bytes, threads: int
) -> AsyncIterator[Callable[[], Coroutine[Any, Any, str]]]:
    """The speech service in process (with its own NATS); yields one Transcribe call."""
    tokens = TokenFactory.in_directory(work)
    nats = NatsServer(work / "nats")
    nats.start()
    settings = SpeechSettings(
        service="speech",
        port=0,
        metrics_port=0,
        data_dir=work / "data",
        jwks_file=tokens.jwks_file,
        nats_url=nats.url,
        log_level="WARNING",
        speech_models_dir=models_dir,
        speech_default_model=model,
        speech_threads=threads,
        speech_max_upload_bytes=10**9,
    )
    request = speech_pb2.TranscribeRequest(
        body=httpbody_pb2.HttpBody(content_type="audio/wav", data=wav),
        config=speech_pb2.RecognitionConfig(language="en", model=model, beam_size=1),
    )
    metadata = tokens.metadata(ttl=3600)
    try:
        running = await start(SPEC, settings)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = speech_pb2_grpc.SpeechServiceStub(channel)

                async def call() -> str:
                    response = await stub.Transcribe(request, metadata=metadata, timeout=LIMIT)
                    return str(response.result.text)

                yield call
        finally:
            await running.stop()
    finally:
        nats.stop()


def table(audio_seconds: float, said: str, rows: dict[str, Leg]) -> str:
    baseline = next(iter(rows.values()))[0]
    lines = [f"{'path':<40} {'seconds':>8} {'RTF':>7} {'vs bare f-w':>12} {'WER':>6}"]
    for name, (seconds, text) in rows.items():
        change = f"{(seconds / baseline - 1) * 100:+.1f} %"
        lines.append(
            f"{name:<40} {seconds:>8.2f} {seconds / audio_seconds:>7.3f} {change:>12} "
            f"{wer(said, text):>6.1%}"
        )
    return "\n".join(lines)


async def legs(work: Path, args: argparse.Namespace) -> tuple[dict[str, Leg], float, str]:
    """Every leg on the same WAV and model: {name: (median seconds, text)}, audio length,
    what was said."""
    models_dir, model, threads = work / "models", args.model, args.threads
    packaged.install(model, models_dir)
    wav, said = speech_wav(args.seconds)
    audio_seconds = decode(wav, max_bytes=10**9, max_seconds=LIMIT).duration
    print(f"audio: {audio_seconds:.1f} s of Piper speech; model {model}; {threads} threads; "
          f"median of {args.runs} interleaved warm runs", flush=True)  # fmt: skip
    loop = asyncio.get_running_loop()
    pool = RecognitionPool(
        ModelCatalogue(models_dir, default_model=model, threads=threads), queue_size=1
    )
    on_samples, on_bytes = bare_faster_whisper(ct2_path(models_dir, model), wav, threads)
    runners: dict[str, Runner] = {
        "faster-whisper, bare, decoded samples": on_samples,
        "faster-whisper, bare, WAV bytes": on_bytes,
        "RecognitionPool (service, no gRPC)": on_loop(loop, pool_runner(pool, wav)),
    }
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(pool.close)
        if not args.no_grpc:
            call = await stack.enter_async_context(
                speech_service(models_dir, work, model, wav, threads)
            )
            runners["gRPC Transcribe (service)"] = on_loop(loop, call)
        if not args.no_whisper_cpp:
            target = ggml.convert(ct2_path(models_dir, model), ggml_path(models_dir, model))
            runners["whisper.cpp (bare pywhispercpp)"] = bare_whisper_cpp(target, wav, threads)
        results = await asyncio.to_thread(interleaved, args.runs, runners)
    return results, audio_seconds, said


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.speech", description=__doc__)
    parser.add_argument("--model", default="tiny.en", help="a packaged model: tiny.en or base")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the test audio")
    parser.add_argument("--runs", type=int, default=5, help="timed rounds (median)")
    parser.add_argument("--threads", type=int, default=2, help="inference threads, every leg")
    parser.add_argument("--no-grpc", action="store_true", help="skip the in-process service")
    parser.add_argument("--no-whisper-cpp", action="store_true", help="skip whisper.cpp")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        rows, audio_seconds, said = await legs(Path(tmp), args)
    print(table(audio_seconds, said, rows))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
