"""Shared fixtures of the speech tests: real models installed once per session, real speech.

Models: the PyPI-packaged CTranslate2 models are installed (linked / joined) into a session
temporary models directory, and the English one converted to ggml for whisper.cpp, once.
Speech: generated with Piper (neural, en_US) and espeak-ng (robotic, en and es), once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.speech import ggml, packaged
from services.speech.audio import DecodedAudio, decode
from services.speech.models import ModelCatalogue, ct2_path, ggml_path
from services.speech.service import SPEC
from services.speech.settings import SpeechSettings
from services.speech.tts.base import SynthesisOptions
from services.speech.tts.espeak import EspeakSynthesizer
from services.speech.tts.piper import PiperSynthesizer
from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka.server import Running, start
from voka.speech.v1 import speech_pb2_grpc

ENGLISH = "Please send the quarterly report to the finance team before Friday."
ENGLISH_2 = "The meeting starts at nine o'clock in the big room."
SPANISH = "Buenos días, me llamo María y vivo en Madrid."
PIPER_VOICE = "piper-en-us-joe-medium"


@dataclass(frozen=True)
class Clip:
    """Generated speech: what was said, as WAV bytes and decoded to 16 kHz."""

    text: str
    wav: bytes
    audio: DecodedAudio


def _clip(text: str, wav: bytes) -> Clip:
    return Clip(text=text, wav=wav, audio=decode(wav, max_bytes=10**8, max_seconds=60))


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Packaged models installed, `tiny.en` also as ggml."""
    root = tmp_path_factory.mktemp("speech-models")
    for model_id in packaged.PACKAGED:
        packaged.install(model_id, root)
    ggml.convert(ct2_path(root, "tiny.en"), ggml_path(root, "tiny.en"))
    return root


@pytest.fixture(scope="session")
def model_catalogue(models_dir: Path) -> ModelCatalogue:
    """One catalogue for the session, so each model loads once."""
    return ModelCatalogue(models_dir, default_model="tiny.en")


@pytest.fixture(scope="session")
def piper() -> PiperSynthesizer:
    return PiperSynthesizer(None, varied=False)


@pytest.fixture(scope="session")
def espeak() -> EspeakSynthesizer:
    synthesizer = EspeakSynthesizer()
    if not synthesizer.available():
        pytest.fail("espeak-ng is not installed: scripts/apt-packages.txt lists it")
    return synthesizer


@pytest.fixture(scope="session")
def piper_clip(piper: PiperSynthesizer) -> Clip:
    return _clip(ENGLISH, piper.synthesize(ENGLISH, PIPER_VOICE, SynthesisOptions()))


@pytest.fixture(scope="session")
def piper_clip_2(piper: PiperSynthesizer) -> Clip:
    return _clip(ENGLISH_2, piper.synthesize(ENGLISH_2, PIPER_VOICE, SynthesisOptions()))


@pytest.fixture(scope="session")
def espeak_english_clip(espeak: EspeakSynthesizer) -> Clip:
    return _clip(
        ENGLISH, espeak.synthesize(ENGLISH, "espeak-ng-en-us", SynthesisOptions(rate=0.85))
    )


@pytest.fixture(scope="session")
def espeak_spanish_clip(espeak: EspeakSynthesizer) -> Clip:
    return _clip(SPANISH, espeak.synthesize(SPANISH, "espeak-ng-es", SynthesisOptions(rate=0.85)))


# --- the speech service in process (real NATS, SQLite), for the RPC tests ------------------


def service_settings(
    tokens: TokenFactory, nats_url: str, models_dir: Path, data_dir: Path, **extra: Any
) -> SpeechSettings:
    """The small English model by default (fast), models already installed, short ack wait
    (a killed worker's job moves on in seconds), three voice samples per user."""
    values: dict[str, Any] = {
        "service": "speech", "port": 0, "data_dir": data_dir, "jwks_file": tokens.jwks_file,
        "nats_url": nats_url, "speech_models_dir": models_dir, "speech_default_model": "tiny.en",
        "speech_install_default_models": False, "speech_job_ack_seconds": 3.0,
        "speech_sample_max_count": 3, **extra,
    }  # fmt: skip
    return SpeechSettings(**values)


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory,
    nats: NatsServer,
    models_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    data_dir = tmp_path_factory.mktemp("speech-data")
    running = await start(SPEC, service_settings(tokens, nats.url, models_dir, data_dir))
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(service: Running) -> AsyncIterator[speech_pb2_grpc.SpeechServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield speech_pb2_grpc.SpeechServiceStub(channel)
