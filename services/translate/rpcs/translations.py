"""Translating texts (one, a batch, a stream) and the history they leave behind.

Validation, then the translator; the answer goes once its history, usage and event are
committed, in a transaction shared with the calls made at the same time (see `recorder`), so a
caller reads its own writes. History pages are keyset pages newest first, their token bound to
the filters it was made for.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from services.translate import convert, validation
from services.translate.catalogue import AUTO
from services.translate.recorder import Attempt
from services.translate.records import TranslationRecord
from services.translate.rpcs.base import Context, TranslateRpcs
from services.translate.store import NEWEST_FIRST, Filter
from services.translate.translator import Job
from voka import authn, errors, pagination, tenancy, wellknown
from voka.translate.v1 import translate_pb2

STREAM_IN_FLIGHT = 64
RESOURCE = "translation"
# A stream's answers on their way out; None ends the stream.
Answers = asyncio.Queue[translate_pb2.StreamTranslateTextResponse | None]


class TranslationRpcs(TranslateRpcs):
    """TranslateText, BatchTranslateText, StreamTranslateText; List, Get, Delete and
    PurgeTranslations."""

    # --- translating -------------------------------------------------------------------------

    async def TranslateText(
        self, request: translate_pb2.TranslateTextRequest, context: Context
    ) -> translate_pb2.TranslateTextResponse:
        validation.check(validation.item(request))
        job = convert.job(request, translate_pb2.TRANSLATION_ORIGIN_SINGLE)
        return await self._run(job, authn.caller().subject)

    async def BatchTranslateText(
        self, request: translate_pb2.BatchTranslateTextRequest, context: Context
    ) -> translate_pb2.BatchTranslateTextResponse:
        started = asyncio.get_running_loop().time()
        validation.check(validation.batch(request))
        owner = authn.caller().subject
        jobs = [
            convert.job(
                item,
                translate_pb2.TRANSLATION_ORIGIN_BATCH,
                request.source_language_code,
                request.target_language_code,
            )
            for item in request.requests
        ]
        outcomes = await asyncio.gather(*(self._try(job, owner) for job in jobs))
        return translate_pb2.BatchTranslateTextResponse(
            results=[
                translate_pb2.BatchTranslateTextResult(index=i, **outcome)
                for i, outcome in enumerate(outcomes)
            ],
            character_count=sum(len(job.text) for job in jobs),
            latency=wellknown.duration(asyncio.get_running_loop().time() - started),
        )

    async def StreamTranslateText(
        self,
        request_iterator: AsyncIterator[translate_pb2.StreamTranslateTextRequest],
        context: Context,
    ) -> AsyncIterator[translate_pb2.StreamTranslateTextResponse]:
        """Segments run concurrently and answers go out as each finishes. A segment holds one
        of STREAM_IN_FLIGHT slots from when it is read until its answer has been sent, so a
        caller that stops reading stops the service: it never translates more than
        STREAM_IN_FLIGHT answers ahead of the caller, and stops reading segments meanwhile."""
        owner = authn.caller().subject
        slots = asyncio.Semaphore(STREAM_IN_FLIGHT)
        # Every held slot has at most one answer here, and the end of the stream comes last.
        answers: Answers = asyncio.Queue(maxsize=STREAM_IN_FLIGHT + 1)
        reader = asyncio.create_task(self._read_stream(request_iterator, owner, slots, answers))
        try:
            while (answer := await answers.get()) is not None:
                yield answer  # returns once gRPC has sent it: only then is its slot free
                slots.release()
            await reader
        finally:
            reader.cancel()

    async def _read_stream(
        self,
        segments: AsyncIterator[translate_pb2.StreamTranslateTextRequest],
        owner: str,
        slots: asyncio.Semaphore,
        answers: Answers,
    ) -> None:
        """Reads a segment only when a slot is free; the end (None) follows the last answer,
        or a failure, whose cause `StreamTranslateText` then raises."""
        state = translate_pb2.StreamTranslateTextRequest(source_language_code=AUTO)

        async def answer(index: int, segment: translate_pb2.StreamTranslateTextRequest) -> None:
            outcome = await self._segment(segment, owner)
            segment_id = segment.segment_id or str(index)
            answers.put_nowait(
                translate_pb2.StreamTranslateTextResponse(
                    segment_id=segment_id, index=index, **outcome
                )
            )

        try:
            async with asyncio.TaskGroup() as running:
                index = 0
                async for segment in segments:
                    _carry(state, segment)
                    await slots.acquire()
                    running.create_task(answer(index, segment))
                    index += 1
        finally:
            answers.put_nowait(None)

    async def _segment(
        self, segment: translate_pb2.StreamTranslateTextRequest, owner: str
    ) -> dict[str, Any]:
        """A bad segment is answered with its error; the stream goes on."""
        violations = validation.item(segment)
        if violations:
            return {"error": errors.invalid_argument(violations).to_status()}
        return await self._try(convert.job(segment, translate_pb2.TRANSLATION_ORIGIN_STREAM), owner)

    async def _try(self, job: Job, owner: str) -> dict[str, Any]:
        """`{"translation": ...}` or `{"error": status}`: one item's failure stays its own."""
        try:
            return {"translation": await self._run(job, owner)}
        except errors.VokaError as exc:
            return {"error": exc.to_status()}

    async def _run(self, job: Job, owner: str) -> translate_pb2.TranslateTextResponse:
        """The translation, once what it leaves behind is committed; a failure is recorded
        too, then raised (unless its record cannot be written: then the recorder's refusal)."""
        started = datetime.now(UTC)
        try:
            outcome = await self._translator.translate(
                job.text, job.source, job.target, job.engine, owner
            )
        except errors.VokaError as exc:
            await self._recorder.record(Attempt(job, owner, started, datetime.now(UTC), error=exc))
            raise
        translation_id = "" if job.skip_history else uuid.uuid4().hex
        ended = datetime.now(UTC)
        await self._recorder.record(Attempt(job, owner, started, ended, outcome, translation_id))
        return convert.response(job, outcome, translation_id)

    # --- history -----------------------------------------------------------------------------

    async def ListTranslations(
        self, request: translate_pb2.ListTranslationsRequest, context: Context
    ) -> translate_pb2.ListTranslationsResponse:
        size, bad_size = pagination.page_size(request.page_size)
        where = _history_filter(request)
        query = pagination.fingerprint(
            where.owner, where.source, where.target, where.start, where.end
        )
        cursor, bad_token = pagination.decode_token(request.page_token, NEWEST_FIRST, query)
        validation.check(bad_size, bad_token, validation.history_filter(request))
        listing = await self._store.page(where, pagination.Page(size, cursor))
        return translate_pb2.ListTranslationsResponse(
            translations=[convert.translation(r) for r in listing.items],
            next_page_token=pagination.next_token(NEWEST_FIRST, query, listing),
            total_size=listing.total,
        )

    async def GetTranslation(
        self, request: translate_pb2.GetTranslationRequest, context: Context
    ) -> translate_pb2.GetTranslationResponse:
        record = await self._entry(request.name)
        return translate_pb2.GetTranslationResponse(translation=convert.translation(record))

    async def DeleteTranslation(
        self, request: translate_pb2.DeleteTranslationRequest, context: Context
    ) -> translate_pb2.DeleteTranslationResponse:
        record = await self._entry(request.name)
        await self._store.delete(record.id)
        return translate_pb2.DeleteTranslationResponse()

    async def PurgeTranslations(
        self, request: translate_pb2.PurgeTranslationsRequest, context: Context
    ) -> translate_pb2.PurgeTranslationsResponse:
        validation.check(validation.history_filter(request))
        where = _history_filter(request)
        count = await self._store.purge(where, request.validate_only)
        return translate_pb2.PurgeTranslationsResponse(purge_count=count)

    async def _entry(self, name: str) -> TranslationRecord:
        """The named entry if the caller may see it; anyone else's is NOT_FOUND, never revealed."""
        translation_id = validation.translation_id(name)
        record = await self._store.get(translation_id)
        tenancy.require_visible(None if record is None else record.owner, RESOURCE, name)
        assert record is not None  # require_visible refused a missing one
        return record


def _carry(
    state: translate_pb2.StreamTranslateTextRequest,
    segment: translate_pb2.StreamTranslateTextRequest,
) -> None:
    """Fill a segment's empty language and engine fields from the previous segment's."""
    for name in ("source_language_code", "target_language_code", "engine"):
        if getattr(segment, name):
            setattr(state, name, getattr(segment, name))
        else:
            setattr(segment, name, getattr(state, name))


def _history_filter(
    request: translate_pb2.ListTranslationsRequest | translate_pb2.PurgeTranslationsRequest,
) -> Filter:
    return Filter(
        owner=tenancy.list_owner(request.owner),
        source=request.source_language_code,
        target=request.target_language_code,
        start=convert.time_field(request, "start_time"),
        end=convert.time_field(request, "end_time"),
    )
