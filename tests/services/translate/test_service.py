"""The translate service through gRPC: Apertium on real sentences, tiny Marian models, batching,
pivots, cache, missing models, validation, history, stats, streaming, events and overload."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import nats
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from prometheus_client import REGISTRY

from services.translate.batching import Batcher
from services.translate.engines.marian import MarianEngine
from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka import errors
from voka.translate.v1 import events_pb2, translate_pb2

pytestmark = pytest.mark.integration


def user(tokens: TokenFactory) -> tuple[tuple[str, str]]:
    """A fresh user per test: no test sees another's history or stats."""
    return tokens.metadata(subject=f"users/{uuid.uuid4().hex[:12]}")


def violations(err: grpc.aio.AioRpcError) -> list[str]:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(err).details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


async def refusal(stub, tokens, **fields: str) -> grpc.aio.AioRpcError:
    """The error TranslateText answers a fresh user's request of `fields` with."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TranslateText(
            translate_pb2.TranslateTextRequest(**fields), metadata=user(tokens)
        )
    return err.value


def batches(model: str) -> tuple[float, float]:
    labels = {"model": model}
    count = REGISTRY.get_sample_value("voka_translate_batch_size_count", labels) or 0.0
    total = REGISTRY.get_sample_value("voka_translate_batch_size_sum", labels) or 0.0
    return count, total


async def test_apertium_translates_english_to_spanish(stub, tokens):
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="Hello, how are you?", source_language_code="en", target_language_code="es"
        ),
        metadata=user(tokens),
    )
    assert reply.translated_text.startswith("Hola")
    assert reply.engine == translate_pb2.ENGINE_APERTIUM
    assert reply.model == "apertium eng-spa"
    assert [(leg.source_language_code, leg.target_language_code) for leg in reply.legs] == [
        ("en", "es")
    ]
    assert reply.translation.startswith("translations/")


async def test_auto_detects_french_and_splits_sentences(stub, tokens):
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="Bonjour le monde. Merci beaucoup.", target_language_code="es"
        ),
        metadata=user(tokens),
    )
    assert reply.detected_language.language_code == "fr"
    assert reply.detected_language.confidence > 0.5
    assert reply.translated_text == "Saludo el mundo. Muchas gracias."


async def test_concurrent_requests_coalesce_into_batches(stub, tokens):
    before = batches("Helsinki-NLP/opus-mt-en-de")
    texts = [f"The house number {i} is big." for i in range(8)]
    replies = await asyncio.gather(
        *(
            stub.TranslateText(
                translate_pb2.TranslateTextRequest(
                    text=t, source_language_code="en", target_language_code="de"
                ),
                metadata=user(tokens),
            )
            for t in texts
        )
    )
    assert all(r.engine == translate_pb2.ENGINE_MARIAN and r.translated_text for r in replies)
    count, total = (
        a - b for a, b in zip(batches("Helsinki-NLP/opus-mt-en-de"), before, strict=True)
    )
    assert total == 8  # every segment went through the engine once
    assert count < 4  # ... in a few batches, not one call each


async def test_repeated_text_comes_from_the_cache(stub, tokens):
    request = translate_pb2.TranslateTextRequest(
        text=f"Good night {uuid.uuid4().hex[:6]}.",
        source_language_code="en",
        target_language_code="de",
    )
    me = user(tokens)  # another user is never told `cached` (see the test after the next)
    first = await stub.TranslateText(request, metadata=me)
    before = batches("Helsinki-NLP/opus-mt-en-de")
    second = await stub.TranslateText(request, metadata=me)
    assert not first.cached
    assert second.cached
    assert second.translated_text == first.translated_text
    assert batches("Helsinki-NLP/opus-mt-en-de") == before


async def test_pivot_through_english_across_engines(stub, tokens):
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="Hallo.", source_language_code="de", target_language_code="es"
        ),
        metadata=user(tokens),
    )
    assert [
        (leg.engine, leg.source_language_code, leg.target_language_code) for leg in reply.legs
    ] == [(translate_pb2.ENGINE_MARIAN, "de", "en"), (translate_pb2.ENGINE_APERTIUM, "en", "es")]
    assert reply.engine == translate_pb2.ENGINE_APERTIUM  # any rule-based leg marks the whole


async def test_pivot_with_two_marian_legs(stub, tokens):
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="Hallo.", source_language_code="de", target_language_code="it"
        ),
        metadata=user(tokens),
    )
    assert [leg.model for leg in reply.legs] == [
        "Helsinki-NLP/opus-mt-de-en",
        "Helsinki-NLP/opus-mt-en-it",
    ]
    assert reply.engine == translate_pb2.ENGINE_MARIAN


@pytest.mark.parametrize(
    ("source", "target", "field"),
    [("es", "ru", "target_language_code"), ("ru", "es", "source_language_code")],
)
async def test_unsupported_language_names_field_pair_and_install_command(
    stub, tokens, source, target, field
):
    err = await refusal(
        stub, tokens, text="Hola.", source_language_code=source, target_language_code=target
    )
    assert violations(err) == [field]  # was FAILED_PRECONDITION
    assert f"{source}-{target}" in err.details()
    assert f"python -m services.translate models pull {source}-{target}" in err.details()


async def test_forced_engine_not_installed_is_failed_precondition(stub, tokens):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TranslateText(
            translate_pb2.TranslateTextRequest(
                text="Hello.",
                source_language_code="en",
                target_language_code="es",
                engine=translate_pb2.ENGINE_MARIAN,
            ),
            metadata=user(tokens),
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (translate_pb2.TranslateTextRequest(text="", target_language_code="es"), "text"),
        (translate_pb2.TranslateTextRequest(text="a" * 5001, target_language_code="es"), "text"),
        (translate_pb2.TranslateTextRequest(text="Hi\x00", target_language_code="es"), "text"),
        (
            translate_pb2.TranslateTextRequest(text="Hi", target_language_code="xx"),
            "target_language_code",
        ),
        (
            translate_pb2.TranslateTextRequest(
                text="Hi", source_language_code="qq", target_language_code="es"
            ),
            "source_language_code",
        ),
    ],
)
async def test_invalid_input_names_the_field(stub, tokens, request_, field):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TranslateText(request_, metadata=user(tokens))
    assert violations(err.value) == [field]


async def test_batch_names_bad_items_and_keeps_failures_per_item(stub, tokens):
    bad = translate_pb2.BatchTranslateTextRequest(
        requests=[
            translate_pb2.TranslateTextRequest(text="ok"),
            translate_pb2.TranslateTextRequest(text=""),
        ],
        target_language_code="zz",
    )
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.BatchTranslateText(bad, metadata=user(tokens))
    fields = violations(err.value)
    assert {"target_language_code", "requests[1].text", "requests[0].target_language_code"} <= set(
        fields
    )
    reply = await stub.BatchTranslateText(
        translate_pb2.BatchTranslateTextRequest(
            requests=[
                translate_pb2.TranslateTextRequest(text="Hello."),
                translate_pb2.TranslateTextRequest(
                    text="Hola.", source_language_code="es", target_language_code="ru"
                ),
            ],
            source_language_code="en",
            target_language_code="es",
        ),
        metadata=user(tokens),
    )
    assert reply.results[0].translation.translated_text.startswith("Hola")
    assert reply.results[1].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]


async def test_stream_answers_each_segment_and_survives_a_bad_one(stub, tokens):
    segments = [
        translate_pb2.StreamTranslateTextRequest(
            segment_id="a",
            text="Good morning.",
            source_language_code="en",
            target_language_code="es",
        ),
        translate_pb2.StreamTranslateTextRequest(segment_id="b", text=""),
        translate_pb2.StreamTranslateTextRequest(text="Thank you."),  # languages carried over
    ]
    answers = {
        a.segment_id: a
        async for a in stub.StreamTranslateText(iter(segments), metadata=user(tokens))
    }
    assert set(answers) == {"a", "b", "2"}
    assert answers["a"].translation.translated_text.startswith("Buenos")
    assert answers["b"].error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert answers["2"].translation.target_language_code == "es"


async def test_history_is_isolated_between_users(stub, tokens):
    alice, bob = user(tokens), user(tokens)
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="Good morning.", source_language_code="en", target_language_code="es"
        ),
        metadata=alice,
    )
    mine = await stub.ListTranslations(translate_pb2.ListTranslationsRequest(), metadata=alice)
    assert [t.name for t in mine.translations] == [reply.translation]
    assert mine.translations[0].source_text == "Good morning."
    theirs = await stub.ListTranslations(
        translate_pb2.ListTranslationsRequest(owner="-"), metadata=bob
    )
    assert theirs.total_size == 0  # `owner` is for admins; bob gets his own, empty
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetTranslation(
            translate_pb2.GetTranslationRequest(name=reply.translation), metadata=bob
        )
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    await stub.DeleteTranslation(
        translate_pb2.DeleteTranslationRequest(name=reply.translation), metadata=alice
    )
    assert (
        await stub.ListTranslations(translate_pb2.ListTranslationsRequest(), metadata=alice)
    ).total_size == 0


async def test_stats_count_requests_errors_and_cache(stub, tokens):
    me = user(tokens)
    request = translate_pb2.TranslateTextRequest(
        text="I like the sea.",
        source_language_code="en",
        target_language_code="es",
        skip_history=True,
    )
    await stub.TranslateText(request, metadata=me)
    await stub.TranslateText(request, metadata=me)
    with pytest.raises(grpc.aio.AioRpcError):
        await stub.TranslateText(
            translate_pb2.TranslateTextRequest(
                text="Hola.", source_language_code="es", target_language_code="ru"
            ),
            metadata=me,
        )
    stats = (
        await stub.GetTranslationStats(translate_pb2.GetTranslationStatsRequest(), metadata=me)
    ).stats
    assert (stats.request_count, stats.error_count, stats.cached_count) == (3, 1, 1)
    assert stats.character_count == 2 * 15 + 5
    top = stats.pairs[0]
    assert (top.source_language_code, top.target_language_code, top.engine, top.request_count) == (
        "en",
        "es",
        translate_pb2.ENGINE_APERTIUM,
        2,
    )
    assert top.p95_latency.ToTimedelta() >= top.mean_latency.ToTimedelta() / 2


async def test_completed_event_is_published(stub, tokens, nats: NatsServer):
    client = await _connect(nats.url)
    subscription = await client.subscribe("voka.translate.translation.completed")
    me = tokens.metadata(subject="users/eventful")
    await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="The cat sleeps.", source_language_code="en", target_language_code="es"
        ),
        metadata=me,
    )
    # Earlier tests' events may still be on their way (the outbox relay publishes in rounds):
    # the one asserted on is this caller's.
    event = events_pb2.TranslationCompletedEvent()
    while event.owner != "users/eventful":
        message = await subscription.next_msg(timeout=5)
        event = events_pb2.TranslationCompletedEvent.FromString(message.data)
    assert (event.owner, event.engine, event.character_count) == (
        "users/eventful",
        translate_pb2.ENGINE_APERTIUM,
        15,
    )
    await client.close()


async def _connect(url: str):
    return await nats.connect(url)


async def test_languages_and_pairs_report_engines(stub):
    languages = (await stub.ListLanguages(translate_pb2.ListLanguagesRequest())).languages
    codes = {lang.language_code for lang in languages}
    assert {"es", "en", "fr", "de", "it", "pt", "nl", "ru", "zh", "ja", "ar"} <= codes
    pairs = await stub.ListLanguagePairs(
        translate_pb2.ListLanguagePairsRequest(source_language_code="en", target_language_code="es")
    )
    (pair,) = pairs.language_pairs
    assert (pair.engine, pair.installed, pair.route_type) == (
        translate_pb2.ENGINE_APERTIUM,
        True,
        translate_pb2.ROUTE_TYPE_DIRECT,
    )
    missing = (
        await stub.ListLanguagePairs(
            translate_pb2.ListLanguagePairsRequest(
                source_language_code="es", target_language_code="ru"
            )
        )
    ).language_pairs[0]
    assert missing.install_commands == ["python -m services.translate models pull es-ru"]


async def test_full_queue_is_resource_exhausted(models_dir: Path):
    """A busy model (its lock held, as during a long generate) with a full queue refuses new
    work at once; what was queued still completes."""
    engine = MarianEngine(models_dir, 1 << 30)
    busy = engine._models.get(("en", "de")).lock
    with ThreadPoolExecutor(1) as executor:
        batcher = Batcher(executor, window=0.0, max_batch=1, queue_size=2, cache_size=10)
        busy.acquire()
        running = asyncio.create_task(batcher.translate(engine, "en", "de", ["One."]))
        await asyncio.sleep(0.05)  # the worker took it and waits for the model
        queued = asyncio.create_task(batcher.translate(engine, "en", "de", ["Two.", "Three."]))
        await asyncio.sleep(0.05)
        with pytest.raises(errors.VokaError) as err:
            await batcher.translate(engine, "en", "de", ["Four."])
        assert err.value.code == grpc.StatusCode.RESOURCE_EXHAUSTED
        busy.release()
        assert len((await running)[0]) == 1
        assert len((await queued)[0]) == 2
        await batcher.close()


async def test_history_pages_follow_their_token_and_refuse_other_filters(stub, tokens):
    me = user(tokens)
    for text in ("One.", "Two.", "Three."):
        await stub.TranslateText(
            translate_pb2.TranslateTextRequest(
                text=text, source_language_code="en", target_language_code="es"
            ),
            metadata=me,
        )
    spanish = translate_pb2.ListTranslationsRequest(target_language_code="es", page_size=2)
    first = await stub.ListTranslations(spanish, metadata=me)
    assert (len(first.translations), first.total_size) == (2, 3)
    spanish.page_token = first.next_page_token
    second = await stub.ListTranslations(spanish, metadata=me)
    assert [t.source_text for t in [*first.translations, *second.translations]] == [
        "Three.",
        "Two.",
        "One.",
    ]
    assert second.next_page_token == ""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListTranslations(
            translate_pb2.ListTranslationsRequest(
                target_language_code="fr", page_size=2, page_token=first.next_page_token
            ),
            metadata=me,
        )
    assert violations(err.value) == ["page_token"]


async def test_pair_page_token_is_bound_to_its_filters(stub):
    english = translate_pb2.ListLanguagePairsRequest(source_language_code="en", page_size=5)
    first = await stub.ListLanguagePairs(english)
    assert first.next_page_token
    english.page_token = first.next_page_token
    second = await stub.ListLanguagePairs(english)
    shown = [p.name for p in [*first.language_pairs, *second.language_pairs]]
    assert len(set(shown)) == 10
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.ListLanguagePairs(
            translate_pb2.ListLanguagePairsRequest(
                source_language_code="fr", page_size=5, page_token=first.next_page_token
            )
        )
    assert violations(err.value) == ["page_token"]


async def test_missing_target_is_invalid_even_with_a_source(stub, tokens):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.TranslateText(
            translate_pb2.TranslateTextRequest(text="Hi", source_language_code="en"),
            metadata=user(tokens),
        )
    assert violations(err.value) == ["target_language_code"]


async def test_cache_does_not_reveal_that_another_user_translated_the_text(stub, tokens):
    alice, bob = user(tokens), user(tokens)
    request = translate_pb2.TranslateTextRequest(
        text=f"Good evening {uuid.uuid4().hex[:6]}.",
        source_language_code="en",
        target_language_code="de",
    )
    first = await stub.TranslateText(request, metadata=alice)
    before = batches("Helsinki-NLP/opus-mt-en-de")
    theirs = await stub.TranslateText(request, metadata=bob)
    assert not theirs.cached  # bob must not learn that someone translated it before him
    assert theirs.translated_text == first.translated_text
    assert batches("Helsinki-NLP/opus-mt-en-de") == before  # ... yet the cache still served it
    assert (await stub.TranslateText(request, metadata=bob)).cached  # his own, now
    assert (await stub.TranslateText(request, metadata=alice)).cached


async def test_english_to_french_pivots_through_spanish(stub, tokens):
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="Good morning.", source_language_code="en", target_language_code="fr"
        ),
        metadata=user(tokens),
    )
    assert [(leg.source_language_code, leg.target_language_code) for leg in reply.legs] == [
        ("en", "es"),
        ("es", "fr"),
    ]
    assert reply.engine == translate_pb2.ENGINE_APERTIUM
    assert reply.translated_text.startswith("Bon")
    (pair,) = (
        await stub.ListLanguagePairs(
            translate_pb2.ListLanguagePairsRequest(
                source_language_code="en", target_language_code="fr"
            )
        )
    ).language_pairs
    assert (pair.installed, pair.route_type, pair.pivot_language_code) == (
        True,
        translate_pb2.ROUTE_TYPE_PIVOT,
        "es",
    )


async def test_too_short_to_detect_asks_for_the_source_language(stub, tokens):
    err = await refusal(stub, tokens, text="hi", target_language_code="es")
    assert violations(err) == ["source_language_code"]
    assert "cannot tell which language" in err.details()
    reply = await stub.TranslateText(
        translate_pb2.TranslateTextRequest(
            text="hi", source_language_code="en", target_language_code="es"
        ),
        metadata=user(tokens),
    )
    assert reply.translated_text
