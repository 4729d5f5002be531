"""The CTranslate2 engine: the converted tiny model loads through the service's own code, wins
the route for its pair, answers through gRPC, and agrees with transformers on what it reads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from services.translate.engines.ctranslate2 import SUBDIR, CTranslate2Engine
from services.translate.engines.marian import MarianEngine
from tests.fixtures.tokens import TokenFactory
from tests.services.translate.conftest import CT2_PAIR
from voka.translate.v1 import translate_pb2, translate_pb2_grpc


async def test_converted_pair_is_served_by_ctranslate2(
    stub: translate_pb2_grpc.TranslateServiceStub, tokens: TokenFactory
) -> None:
    source, target = CT2_PAIR.split("-")
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="Good morning.", source_language_code=source, target_language_code=target
        ),
        metadata=tokens.metadata(),
    )
    assert reply.engine == translate_pb2.ENGINE_CTRANSLATE2
    assert reply.translated_text
    (pair,) = (
        await stub.ListLanguagePairs(
            translate_pb2.ListLanguagePairsRequest(
                source_language_code=source, target_language_code=target
            )
        )
    ).language_pairs
    assert (pair.engine, pair.installed) == (translate_pb2.ENGINE_CTRANSLATE2, True)


def test_engine_batches_keep_order_and_count(models_dir: Path) -> None:
    engine = CTranslate2Engine(models_dir, 1 << 30)
    source, target = CT2_PAIR.split("-")
    texts = ["Good morning.", "The coffee is hot.", "Can you help me?"]
    batch = engine.translate(source, target, texts)
    singles = [engine.translate(source, target, [t])[0] for t in texts]
    # The random model never ends a sentence, so each runs to the length cap, which follows the
    # batch's longest input: a batched output continues its single one, padding changes nothing.
    assert len(batch) == len(texts)
    assert all(b.startswith(s) for b, s in zip(batch, singles, strict=True))
    assert engine.loaded(source, target)
    assert engine.unload_idle(0.0) == [(source, target)]
    assert not engine.loaded(source, target)


def test_conversion_keeps_the_weights(models_dir: Path) -> None:
    """Same weights, same greedy search, same length cap: CTranslate2 in float32 gives what
    transformers gives."""
    ct2 = CTranslate2Engine(models_dir, 1 << 30, compute_type="float32")
    marian = MarianEngine(models_dir, 1 << 30)
    texts = ["Hello, how are you?", "The house is big.", "Thank you very much."]
    assert ct2.translate("en", "nl", texts) == marian.translate("en", "de", texts)


def test_convert_command_refuses_a_pair_without_a_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.translate", "models", "convert", "es-en"],
        env={"VOKA_TRANSLATE_MODELS_DIR": str(tmp_path), "PYTHONPATH": ".:gen"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no Marian model for es-en" in result.stderr
    assert not (tmp_path / SUBDIR).exists()


@pytest.mark.parametrize("pair", ["xx-en", "en-en"])
def test_convert_command_refuses_unknown_pairs(pair: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "services.translate", "models", "convert", pair],
        env={"PYTHONPATH": ".:gen"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert f"unknown pair {pair!r}" in result.stderr
