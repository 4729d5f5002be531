"""StreamTranslateText's bound: a caller that stops reading stops the service translating ahead
of it. Driven without a network, so gRPC's own buffers do not blur the count: the servicer's
generator stands still exactly as it does while gRPC waits to write an answer nobody reads."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from services.translate.rpcs import TranslateServicer
from services.translate.rpcs.translations import STREAM_IN_FLIGHT
from services.translate.translator import Outcome
from voka import authn
from voka.translate.v1 import translate_pb2

SENT = 1000


class CountingTranslator:
    """Answers every text at once and counts them."""

    def __init__(self) -> None:
        self.translated = 0

    async def translate(self, text: str, source: str, target: str, *_: Any, **__: Any) -> Outcome:
        self.translated += 1
        return Outcome(text.upper(), source, target, None, (), 0, False, 0.0)


class NoRecorder:
    async def record(self, attempt: object) -> None:
        pass


async def segments() -> AsyncIterator[translate_pb2.StreamTranslateTextRequest]:
    for i in range(SENT):
        yield translate_pb2.StreamTranslateTextRequest(
            text=f"Segment {i}.", source_language_code="en", target_language_code="es"
        )


async def test_a_client_that_reads_nothing_keeps_pending_answers_at_the_bound() -> None:
    translator = CountingTranslator()
    servicer = TranslateServicer(translator, NoRecorder(), None, lambda *_: False)  # type: ignore[arg-type]
    caller = authn._caller.set(authn.Identity("users/slow", frozenset(), "jti", 0.0))
    try:
        stream = servicer.StreamTranslateText(segments(), None)  # type: ignore[arg-type]
        first = await stream.__anext__()  # gRPC writes it, and the write never completes
        await asyncio.sleep(0.5)  # time enough to run far ahead, if the service would
        assert translator.translated == STREAM_IN_FLIGHT  # the unread answer holds its slot
        rest = [answer async for answer in stream]  # the caller reads again: nothing is lost
    finally:
        authn._caller.reset(caller)
    assert sorted(a.index for a in [first, *rest]) == list(range(SENT))
    assert translator.translated == SENT
