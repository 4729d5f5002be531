"""The TranslateService RPCs: validation, then the translator; history, stats and events are
recorded after the answer (see `recorder`)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
from google.protobuf import timestamp_pb2
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.translate import convert, store, validation
from services.translate.catalogue import AUTO, LANGUAGES, PIVOT
from services.translate.recorder import Record, Recorder
from services.translate.translator import Outcome, Translator
from voka import authn, errors, wellknown
from voka.errors import FieldViolation
from voka.translate.v1 import events_pb2, translate_pb2, translate_pb2_grpc

STREAM_IN_FLIGHT = 64
Context = grpc.aio.ServicerContext[Any, Any]


@dataclass(frozen=True)
class Job:
    """One validated text to translate."""

    text: str
    source: str
    target: str
    engine: int
    skip_history: bool
    origin: int


def _fail(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.invalid_argument(violations)


def _time(message: Any, name: str) -> datetime | None:
    if not message.HasField(name):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, name)
    return value.ToDatetime(tzinfo=UTC)


def _scope(requested: str) -> str | None:
    """Whose rows: admins may name an owner or `-` (everyone, None); others get their own."""
    identity = authn.caller()
    if not identity.is_admin or not requested:
        return identity.subject
    return None if requested == "-" else requested


class TranslateServicer(translate_pb2_grpc.TranslateServiceServicer):
    def __init__(
        self,
        translator: Translator,
        recorder: Recorder,
        sessions: async_sessionmaker[AsyncSession],
        loaded: Callable[[int, str, str], bool],
    ) -> None:
        self._translator = translator
        self._recorder = recorder
        self._sessions = sessions
        self._loaded = loaded

    # --- translating -------------------------------------------------------------------

    async def TranslateText(
        self, request: translate_pb2.TranslateTextRequest, context: Context
    ) -> translate_pb2.TranslateTextResponse:
        violations = _item_violations(request, "", request.source_language_code)
        _fail(violations)
        job = _job(request, "", "", translate_pb2.TRANSLATION_ORIGIN_SINGLE)
        return await self._run(job, authn.caller().subject)

    async def BatchTranslateText(
        self, request: translate_pb2.BatchTranslateTextRequest, context: Context
    ) -> translate_pb2.BatchTranslateTextResponse:
        started = asyncio.get_running_loop().time()
        _fail(_batch_violations(request))
        owner = authn.caller().subject
        jobs = [
            _job(
                item,
                request.source_language_code,
                request.target_language_code,
                translate_pb2.TRANSLATION_ORIGIN_BATCH,
            )
            for item in request.requests
        ]
        outcomes = await asyncio.gather(*(self._try(job, owner) for job in jobs))
        results = [
            translate_pb2.BatchTranslateTextResult(index=i, **outcome)
            for i, outcome in enumerate(outcomes)
        ]
        return translate_pb2.BatchTranslateTextResponse(
            results=results,
            character_count=sum(len(job.text) for job in jobs),
            latency=wellknown.duration(asyncio.get_running_loop().time() - started),
        )

    async def StreamTranslateText(
        self,
        request_iterator: AsyncIterator[translate_pb2.StreamTranslateTextRequest],
        context: Context,
    ) -> AsyncIterator[translate_pb2.StreamTranslateTextResponse]:
        """Segments run concurrently (at most STREAM_IN_FLIGHT); answers go out as each
        finishes. Reading stops while the slots are full, which pushes back on the sender."""
        owner = authn.caller().subject
        answers: asyncio.Queue[translate_pb2.StreamTranslateTextResponse | None] = asyncio.Queue()
        reader = asyncio.create_task(self._read_stream(request_iterator, owner, answers))
        try:
            while (answer := await answers.get()) is not None:
                yield answer
            await reader
        finally:
            reader.cancel()

    async def _read_stream(
        self,
        requests: AsyncIterator[translate_pb2.StreamTranslateTextRequest],
        owner: str,
        answers: asyncio.Queue[translate_pb2.StreamTranslateTextResponse | None],
    ) -> None:
        slots = asyncio.Semaphore(STREAM_IN_FLIGHT)
        state = translate_pb2.StreamTranslateTextRequest(source_language_code=AUTO)
        tasks: set[asyncio.Task[None]] = set()

        async def answer(index: int, segment: translate_pb2.StreamTranslateTextRequest) -> None:
            try:
                outcome = await self._segment(segment, owner)
                segment_id = segment.segment_id or str(index)
                await answers.put(
                    translate_pb2.StreamTranslateTextResponse(
                        segment_id=segment_id, index=index, **outcome
                    )
                )
            finally:
                slots.release()

        index = 0
        async for segment in requests:
            _carry(state, segment)
            await slots.acquire()
            task = asyncio.create_task(answer(index, segment))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            index += 1
        await asyncio.gather(*tasks)
        await answers.put(None)

    async def _segment(
        self, segment: translate_pb2.StreamTranslateTextRequest, owner: str
    ) -> dict[str, Any]:
        violations = [
            *validation.text(segment.text, "text"),
            *validation.language(
                segment.source_language_code,
                "source_language_code",
                allow_auto=True,
                required=False,
            ),
            *validation.language(
                segment.target_language_code,
                "target_language_code",
                allow_auto=False,
                required=True,
            ),
            *validation.engine(segment.engine, "engine"),
        ]
        if violations:
            return {"error": errors.invalid_argument(violations).to_status()}
        job = Job(
            segment.text,
            segment.source_language_code,
            segment.target_language_code,
            segment.engine,
            segment.skip_history,
            translate_pb2.TRANSLATION_ORIGIN_STREAM,
        )
        return await self._try(job, owner)

    async def _try(self, job: Job, owner: str) -> dict[str, Any]:
        """`{"translation": ...}` or `{"error": status}`: one item's failure stays its own."""
        try:
            return {"translation": await self._run(job, owner)}
        except errors.VokaError as exc:
            return {"error": exc.to_status()}

    async def _run(self, job: Job, owner: str) -> translate_pb2.TranslateTextResponse:
        started = datetime.now(UTC)
        try:
            outcome = await self._translator.translate(job.text, job.source, job.target, job.engine)
        except errors.VokaError as exc:
            self._recorder.submit(_failure(job, owner, exc, started))
            raise
        translation_id = "" if job.skip_history else uuid.uuid4().hex
        self._recorder.submit(_success(job, owner, outcome, translation_id, started))
        return _response(job, outcome, translation_id)

    # --- catalogue ---------------------------------------------------------------------

    async def DetectLanguage(
        self, request: translate_pb2.DetectLanguageRequest, context: Context
    ) -> translate_pb2.DetectLanguageResponse:
        _fail(validation.text(request.text, "text"))
        found = await self._translator.detect(request.text)
        return translate_pb2.DetectLanguageResponse(languages=[convert.detected(d) for d in found])

    async def ListLanguages(
        self, request: translate_pb2.ListLanguagesRequest, context: Context
    ) -> translate_pb2.ListLanguagesResponse:
        routes = [r for r in self._translator.catalogue.routes() if r.installed]
        sources = {r.source for r in routes}
        targets = {r.target for r in routes}
        languages = [
            translate_pb2.Language(
                name=f"languages/{code}",
                language_code=code,
                display_name=english,
                native_name=native,
                installed_as_source=code in sources,
                installed_as_target=code in targets,
                detectable=True,
            )
            for code, (english, native) in sorted(LANGUAGES.items())
            if not request.installed_only or code in sources | targets
        ]
        return translate_pb2.ListLanguagesResponse(languages=languages, pivot_language_code=PIVOT)

    async def ListLanguagePairs(
        self, request: translate_pb2.ListLanguagePairsRequest, context: Context
    ) -> translate_pb2.ListLanguagePairsResponse:
        size, bad_size = validation.page_size(request.page_size)
        offset, bad_token = validation.page_token(request.page_token)
        _fail(
            [
                *bad_size,
                *bad_token,
                *validation.filter_language(request.source_language_code, "source_language_code"),
                *validation.filter_language(request.target_language_code, "target_language_code"),
                *validation.engine(request.engine, "engine"),
            ]
        )
        pairs = [
            convert.pair(route)
            for route in self._translator.catalogue.routes()
            if _pair_matches(request, route.source, route.target)
        ]
        pairs = [p for p in pairs if _pair_kind_matches(request, p)]
        for pair in pairs[offset : offset + size]:
            for leg in pair.legs:
                leg.loaded = leg.installed and self._loaded(
                    leg.engine, leg.source_language_code, leg.target_language_code
                )
        more = offset + size < len(pairs)
        return translate_pb2.ListLanguagePairsResponse(
            language_pairs=pairs[offset : offset + size],
            next_page_token=validation.encode_token(offset + size) if more else "",
            total_size=len(pairs),
        )

    # --- history and stats -------------------------------------------------------------

    async def ListTranslations(
        self, request: translate_pb2.ListTranslationsRequest, context: Context
    ) -> translate_pb2.ListTranslationsResponse:
        size, bad_size = validation.page_size(request.page_size)
        offset, bad_token = validation.page_token(request.page_token)
        where = _history_filter(request, request.owner)
        _fail([*bad_size, *bad_token, *_filter_violations(request)])
        await self._recorder.flush()
        async with self._sessions() as session:
            rows, total = await store.page(session, where, offset, size)
        more = offset + len(rows) < total
        return translate_pb2.ListTranslationsResponse(
            translations=[convert.translation(r) for r in rows],
            next_page_token=validation.encode_token(offset + size) if more else "",
            total_size=total,
        )

    async def GetTranslation(
        self, request: translate_pb2.GetTranslationRequest, context: Context
    ) -> translate_pb2.GetTranslationResponse:
        row = await self._owned(request.name)
        return translate_pb2.GetTranslationResponse(translation=convert.translation(row))

    async def DeleteTranslation(
        self, request: translate_pb2.DeleteTranslationRequest, context: Context
    ) -> translate_pb2.DeleteTranslationResponse:
        row = await self._owned(request.name)
        async with self._sessions.begin() as session:
            await store.delete(session, row["id"])
        return translate_pb2.DeleteTranslationResponse()

    async def PurgeTranslations(
        self, request: translate_pb2.PurgeTranslationsRequest, context: Context
    ) -> translate_pb2.PurgeTranslationsResponse:
        _fail(_filter_violations(request))
        where = _history_filter(request, request.owner)
        await self._recorder.flush()
        async with self._sessions.begin() as session:
            count = await store.purge(session, where, request.validate_only)
        return translate_pb2.PurgeTranslationsResponse(purge_count=count)

    async def GetTranslationStats(
        self, request: translate_pb2.GetTranslationStatsRequest, context: Context
    ) -> translate_pb2.GetTranslationStatsResponse:
        owner = _scope(request.owner)
        where = store.Filter(
            owner, start=_time(request, "start_time"), end=_time(request, "end_time")
        )
        await self._recorder.flush()
        async with self._sessions() as session:
            total, groups = await store.stats(session, where)
        return translate_pb2.GetTranslationStatsResponse(
            stats=_stats(owner or "-", where, total, groups)
        )

    async def _owned(self, name: str) -> dict[str, Any]:
        """The caller's entry (admins: anyone's); someone else's is NOT_FOUND, never revealed."""
        prefix, _, translation_id = name.partition("/")
        if prefix != "translations" or not translation_id:
            raise errors.invalid_argument([FieldViolation("name", "must be translations/{id}")])
        await self._recorder.flush()
        async with self._sessions() as session:
            row = await store.get(session, translation_id)
        identity = authn.caller()
        if row is None or (row["owner"] != identity.subject and not identity.is_admin):
            raise errors.not_found("translation", name)
        return row


# --- helpers ---------------------------------------------------------------------------


def _item_violations(
    item: translate_pb2.TranslateTextRequest, prefix: str, target_default: str
) -> list[FieldViolation]:
    return [
        *validation.text(item.text, f"{prefix}text"),
        *validation.language(
            item.source_language_code,
            f"{prefix}source_language_code",
            allow_auto=True,
            required=False,
        ),
        *validation.language(
            item.target_language_code or target_default,
            f"{prefix}target_language_code",
            allow_auto=False,
            required=True,
        ),
        *validation.engine(item.engine, f"{prefix}engine"),
    ]


def _batch_violations(request: translate_pb2.BatchTranslateTextRequest) -> list[FieldViolation]:
    violations = [
        *validation.language(
            request.source_language_code, "source_language_code", allow_auto=True, required=False
        ),
        *validation.language(
            request.target_language_code, "target_language_code", allow_auto=False, required=False
        ),
    ]
    count = len(request.requests)
    if not 1 <= count <= validation.MAX_BATCH_ITEMS:
        violations.append(
            FieldViolation(
                "requests", f"must hold 1 to {validation.MAX_BATCH_ITEMS} items, not {count}"
            )
        )
    if sum(len(r.text) for r in request.requests) > validation.MAX_BATCH_CHARS:
        violations.append(
            FieldViolation(
                "requests", f"must hold at most {validation.MAX_BATCH_CHARS} characters in all"
            )
        )
    for i, item in enumerate(request.requests):
        violations += _item_violations(item, f"requests[{i}].", request.target_language_code)
    return violations


def _job(item: translate_pb2.TranslateTextRequest, source: str, target: str, origin: int) -> Job:
    return Job(
        text=item.text,
        source=item.source_language_code or source,
        target=item.target_language_code or target,
        engine=item.engine,
        skip_history=item.skip_history,
        origin=origin,
    )


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


def _filter_violations(request: Any) -> list[FieldViolation]:
    violations = [
        *validation.filter_language(request.source_language_code, "source_language_code"),
        *validation.filter_language(request.target_language_code, "target_language_code"),
    ]
    start, end = _time(request, "start_time"), _time(request, "end_time")
    if start and end and start >= end:
        violations.append(FieldViolation("end_time", "must be after start_time"))
    return violations


def _history_filter(request: Any, owner: str) -> store.Filter:
    return store.Filter(
        owner=_scope(owner),
        source=request.source_language_code,
        target=request.target_language_code,
        start=_time(request, "start_time"),
        end=_time(request, "end_time"),
    )


def _pair_matches(
    request: translate_pb2.ListLanguagePairsRequest, source: str, target: str
) -> bool:
    return (not request.source_language_code or request.source_language_code == source) and (
        not request.target_language_code or request.target_language_code == target
    )


def _pair_kind_matches(
    request: translate_pb2.ListLanguagePairsRequest, pair: translate_pb2.LanguagePair
) -> bool:
    return (
        (not request.installed_only or pair.installed)
        and (not request.engine or pair.engine == request.engine)
        and (not request.route_type or pair.route_type == request.route_type)
    )


def _response(
    job: Job, outcome: Outcome, translation_id: str
) -> translate_pb2.TranslateTextResponse:
    response = translate_pb2.TranslateTextResponse(
        translated_text=outcome.text,
        source_language_code=outcome.source,
        target_language_code=outcome.target,
        engine=outcome.engine,  # type: ignore[arg-type]
        model=outcome.legs[-1].model if outcome.legs else "",
        legs=[convert.leg(leg) for leg in outcome.legs],
        character_count=len(job.text),
        cached=outcome.cached,
        latency=wellknown.duration(outcome.latency),
        translation=f"translations/{translation_id}" if translation_id else "",
    )
    if outcome.detected is not None:
        response.detected_language.CopyFrom(convert.detected(outcome.detected))
    return response


def _success(
    job: Job, owner: str, outcome: Outcome, translation_id: str, started: datetime
) -> Record:
    now = datetime.now(UTC)
    latency_ms = outcome.latency * 1000
    history = None
    if translation_id:
        history = {
            "id": translation_id,
            "owner": owner,
            "source_text": job.text,
            "translated_text": outcome.text,
            "source_language_code": outcome.source,
            "detected_language_code": outcome.detected.language if outcome.detected else None,
            "detected_confidence": outcome.detected.confidence if outcome.detected else None,
            "target_language_code": outcome.target,
            "engine": outcome.engine,
            "legs": [convert.leg_to_json(leg) for leg in outcome.legs],
            "character_count": len(job.text),
            "cached": outcome.cached,
            "latency_ms": latency_ms,
            "origin": job.origin,
            "create_time": started,
        }
    event = events_pb2.TranslationCompletedEvent(
        translation=f"translations/{translation_id}" if translation_id else "",
        owner=owner,
        source_language_code=outcome.source,
        target_language_code=outcome.target,
        engine=outcome.engine,  # type: ignore[arg-type]
        model=outcome.legs[-1].model if outcome.legs else "",
        legs=[convert.leg(leg) for leg in outcome.legs],
        character_count=len(job.text),
        translated_character_count=len(outcome.text),
        latency=wellknown.duration(outcome.latency),
        cached=outcome.cached,
        origin=job.origin,  # type: ignore[arg-type]
        complete_time=wellknown.timestamp(now),
    )
    if outcome.detected is not None:
        event.detected_language.CopyFrom(convert.detected(outcome.detected))
    usage = _usage(
        owner,
        outcome.source,
        outcome.target,
        outcome.engine,
        len(job.text),
        cached=outcome.cached,
        failed=False,
        latency_ms=latency_ms,
        when=started,
    )
    return Record(usage=usage, history=history, event=event)


def _failure(job: Job, owner: str, error: errors.VokaError, started: datetime) -> Record:
    now = datetime.now(UTC)
    source = job.source or AUTO
    event = events_pb2.TranslationFailedEvent(
        owner=owner,
        source_language_code=source,
        target_language_code=job.target,
        character_count=len(job.text),
        status=error.to_status(),
        origin=job.origin,  # type: ignore[arg-type]
        fail_time=wellknown.timestamp(now),
    )
    latency_ms = (now - started).total_seconds() * 1000
    usage = _usage(
        owner,
        source,
        job.target,
        0,
        len(job.text),
        cached=False,
        failed=True,
        latency_ms=latency_ms,
        when=started,
    )
    return Record(usage=usage, history=None, event=event)


def _usage(
    owner: str,
    source: str,
    target: str,
    engine: int,
    characters: int,
    *,
    cached: bool,
    failed: bool,
    latency_ms: float,
    when: datetime,
) -> dict[str, Any]:
    return {
        "owner": owner,
        "source_language_code": source,
        "target_language_code": target,
        "engine": engine,
        "character_count": characters,
        "cached": cached,
        "failed": failed,
        "latency_ms": latency_ms,
        "create_time": when,
    }


def _stats(
    owner: str,
    where: store.Filter,
    total: store.Figures,
    groups: dict[tuple[str, str, int], store.Figures],
) -> translate_pb2.TranslationStats:
    now = datetime.now(UTC)
    start = where.start or total.first or now
    message = translate_pb2.TranslationStats(
        owner=owner,
        start_time=wellknown.timestamp(start),
        end_time=wellknown.timestamp(where.end or now),
        request_count=total.requests,
        character_count=total.characters,
        error_count=total.errors,
        cached_count=total.cached,
        mean_latency=wellknown.duration(total.mean_ms / 1000),
        p95_latency=wellknown.duration(total.p95_ms / 1000),
    )
    ordered = sorted(groups.items(), key=lambda kv: (-kv[1].requests, kv[0]))
    for (source, target, engine), figures in ordered:
        pair = message.pairs.add(
            source_language_code=source,
            target_language_code=target,
            engine=engine,
            request_count=figures.requests,
            character_count=figures.characters,
            error_count=figures.errors,
            cached_count=figures.cached,
            mean_latency=wellknown.duration(figures.mean_ms / 1000),
            p95_latency=wellknown.duration(figures.p95_ms / 1000),
        )
        if figures.last is not None:
            pair.last_request_time.CopyFrom(wellknown.timestamp(figures.last))
    return message
