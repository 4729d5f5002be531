"""Meetings Search latency at 100 000 passages, on SQLite and PostgreSQL, in one run: the hybrid
ranking (words + meaning) against words alone, with the vector scan and the indexer's idle round
timed on their own.

    PYTHONPATH=.:gen .venv/bin/python -m bench.meetings_search [--passages 100000] [--calls 30]

One user owns every passage (the worst case for the exact scan: tenancy leaves all of them in
scope): half are transcript segments (100 per meeting), half chat messages (1000 per project).
Projects and meetings are made over gRPC, segments, messages and their vectors written in bulk.
The vectors are random unit vectors of the model's 384 dimensions (embedding 100 000 texts at
~30 ms each would take the better part of an hour; an exact scan costs the same whatever the
values). The query is embedded for real by the assistant's EmbeddingService (in process, over
gRPC; it caches a query it has seen).

The index: no approximate index. Vectors are float32 bytes in a table beside the content; a
search reads the ids of the vectors of the rows the caller may see, takes the vectors from the
service's in-memory cache (reading those it lacks by id: the first search after a start pays
for all of them, reported as "cold") and scores them in numpy off the event loop (sqlite-vec
cannot be loaded by this interpreter's sqlite3, and the local PostgreSQL has no pgvector; see
docs/meetings.md). Figures are the median of `--calls` Search calls (page of 10) after that
first call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import grpc
import numpy as np
import sqlalchemy as sa

from services.assistant.service import SPEC as ASSISTANT
from services.meetings import peers
from services.meetings.chat import hybrid
from services.meetings.chat.records import ChatRecord
from services.meetings.chat.search_store import SearchQuery
from services.meetings.chat.vector_cache import VectorCache
from services.meetings.chat.vectors import encode, passage_vectors
from services.meetings.database import Database, Stores
from services.meetings.meetings.records import RecordingRecord, SegmentRecord
from services.meetings.schema import new_id
from services.meetings.service import SPEC
from services.meetings.settings import MeetingsSettings
from tests.fixtures.databases import fresh_postgres, postgres_admin_url
from tests.fixtures.tokens import TokenFactory
from tests.services.assistant.conftest import assistant_settings
from tools.processes import NatsServer
from voka.assistant.v1 import embeddings_pb2, embeddings_pb2_grpc
from voka.meetings.v1 import meeting_pb2, meetings_pb2, meetings_pb2_grpc, project_pb2
from voka.server import Running, start
from voka.service_identity import ServiceIdentity

SEGMENTS_PER_MEETING, MESSAGES_PER_PROJECT, DIMENSIONS = 100, 1000, 384
MODEL = "multilingual-e5-small"
TOPICS = ["the budget for the launch", "hiring two engineers", "the roadmap for spring",
          "risks in the vendor contract", "the marketing campaign", "server costs going up",
          "the customer interviews", "moving the office"]  # fmt: skip
QUERIES = ["budget", "how much will it cost", "hiring plan", "vendor risks", "spring roadmap",
           "what did customers say", "office move", "campaign results"]  # fmt: skip
ALICE = "users/alice"
Metadata = tuple[tuple[str, str]]


async def seed(service: Running, stub: meetings_pb2_grpc.MeetingsServiceAsyncStub,
               metadata: Metadata, passages: int) -> None:  # fmt: skip
    """`passages` passages of alice's: half segments, half chat messages, each with a vector
    written in the same transaction (the commit wakes the indexer, which finds them done; it
    embeds the meetings' and projects' titles, made over gRPC, for real)."""
    assert service.resources.sessions is not None
    sessions = service.resources.sessions
    rng = np.random.default_rng(7)
    at = datetime(2030, 1, 15, 10, tzinfo=UTC)
    meetings = passages // 2 // SEGMENTS_PER_MEETING
    projects = max(1, passages // 2 // MESSAGES_PER_PROJECT)
    project_names = []
    for p in range(projects):
        made = await stub.CreateProject(meetings_pb2.CreateProjectRequest(
            project=project_pb2.Project(title=f"Project {p}")), metadata=metadata)  # fmt: skip
        project_names.append(made.project.name)
    columns = ("meeting_id", "recording_id", "position", "chat_id")

    def vectors(rows: list[dict[str, object]]) -> list[dict[str, object]]:
        values = rng.standard_normal((len(rows), DIMENSIONS)).astype(np.float32)
        values /= np.linalg.norm(values, axis=1, keepdims=True)
        return [dict.fromkeys(columns) | {"id": new_id(), "model": MODEL, "source_time": None,
                                          "vector": encode(v)} | r
                for r, v in zip(rows, values, strict=True)]  # fmt: skip

    for number in range(meetings):
        meeting = meeting_pb2.Meeting(
            title=f"Sync {number}", project=project_names[number % projects]
        )
        meeting.start_time.FromDatetime(at)
        scheduled = await stub.CreateMeeting(meetings_pb2.CreateMeetingRequest(meeting=meeting),
                                        metadata=metadata)  # fmt: skip
        meeting_id = scheduled.meeting.name.removeprefix("meetings/")
        recording = f"r{meeting_id[:20]}"
        said = [SegmentRecord(recording, i, i * 5000, i * 5000 + 4000, "",
                              f"Point {i}: we talked about {TOPICS[(number + i) % len(TOPICS)]}.")
                for i in range(SEGMENTS_PER_MEETING)]  # fmt: skip
        async with sessions() as session, session.begin():
            stores = Stores.of(session, None)
            await stores.recordings.add(RecordingRecord(
                recording, meeting_id, ALICE, "a.wav", "audio/wav", 1, "0", "/none", 600_000, "en",
                meeting_pb2.RECORDING_STATE_TRANSCRIBED, "", "", 0, False, at))  # fmt: skip
            await stores.recordings.add_segments(meeting_id, said)
            await session.execute(sa.insert(passage_vectors), vectors([
                {"source": "segment", "ref": f"{recording}/{s.position}", "meeting_id": meeting_id,
                 "recording_id": recording, "position": s.position} for s in said]))  # fmt: skip
    for p, name in enumerate(project_names):
        project_id = name.removeprefix("projects/")
        chat = [ChatRecord(f"c{p}x{i}", project_id, 1,
                           f"Question {i}: what about {TOPICS[(p + i) % len(TOPICS)]}?", at,
                           author=ALICE) for i in range(MESSAGES_PER_PROJECT)]  # fmt: skip
        async with sessions() as session, session.begin():
            await Stores.of(session, None).chat.add(chat)
            await session.execute(sa.insert(passage_vectors), vectors(
                [{"source": "chat", "ref": c.id, "chat_id": c.id} for c in chat]))  # fmt: skip


async def until_idle(database: Database) -> None:
    """Until the indexer has embedded every passage (the meetings' and projects' titles)."""
    while True:
        async with database.transaction() as stores:
            if not await stores.search.stale(1):
                return
        await asyncio.sleep(0.5)


async def p50(call: Callable[[], Awaitable[object]], calls: int) -> float:
    """Median seconds of `calls` calls, after one warm-up."""
    await call()
    times = []
    for _ in range(calls):
        began = time.perf_counter()
        await call()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


@contextlib.asynccontextmanager
async def meetings(
    settings: MeetingsSettings,
) -> AsyncIterator[tuple[Running, meetings_pb2_grpc.MeetingsServiceAsyncStub]]:
    """The meetings service in process, and a stub on it."""
    running = await start(dataclasses.replace(SPEC, bus=False), settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield running, meetings_pb2_grpc.MeetingsServiceStub(channel)
    finally:
        await running.stop()


def searches(stub: meetings_pb2_grpc.MeetingsServiceAsyncStub, metadata: Metadata,
             calls: int) -> Callable[[], Awaitable[object]]:  # fmt: skip
    """A Search call per call, cycling through QUERIES."""
    queries = iter(QUERIES * (calls + 1))

    async def search() -> object:
        request = meetings_pb2.SearchRequest(query=next(queries), page_size=10)
        return await stub.Search(request, metadata=metadata)

    return search


def parts(database: Database, passages: int) -> dict[str, Callable[[], Awaitable[object]]]:
    """The vector side alone (ids in scope, vectors from a warm cache, numpy scoring) and an
    idle indexer round."""
    query = SearchQuery(("budget",))
    unit = np.ones(DIMENSIONS, dtype=np.float32) / np.sqrt(DIMENSIONS)
    embedded = embeddings_pb2.EmbedTextsResponse(
        embeddings=[embeddings_pb2.Embedding(values=list(unit))], model=MODEL
    )
    cache = VectorCache(passages)

    async def scan() -> object:
        async with database.transaction() as stores:
            return await hybrid.nearest(stores.search, cache, query, embedded, limit=100,
                                        floor=0.0, meetings_of=ALICE, owner=ALICE)  # fmt: skip

    async def idle_round() -> object:
        async with database.transaction() as stores:
            return await stores.search.stale(32)

    return {"vector side p50 ms": scan, "indexer idle round p50 ms": idle_round}


async def measure(database_url: str, data: Path, tokens: TokenFactory, assistant: str,
                  passages: int, calls: int) -> dict[str, float]:  # fmt: skip
    base = MeetingsSettings(service="meetings", port=0, data_dir=data, jwks_file=tokens.jwks_file,
                            database_url=database_url, addresses={"assistant": assistant},
                            meetings_search_index_backstop=3600.0,
                            rate_limit_per_second=0.0)  # fmt: skip
    metadata = tokens.metadata(subject=ALICE)
    figures: dict[str, float] = {}
    async with meetings(base) as (service, stub):
        began = time.perf_counter()
        await seed(service, stub, metadata, passages)
        assert service.resources.sessions is not None
        await until_idle(Database(service.resources.sessions))
        if database_url.startswith("postgresql"):  # fresh statistics, as autovacuum keeps them
            async with service.resources.sessions() as session, session.begin():
                await session.execute(sa.text("ANALYZE"))
        figures["seed s"] = time.perf_counter() - began
        search = searches(stub, metadata, calls)
        began = time.perf_counter()
        await search()
        figures["first Search ms (cold cache)"] = 1000 * (time.perf_counter() - began)
        figures["Search p50 ms, hybrid"] = 1000 * await p50(search, calls)
        assert service.resources.sessions is not None
        for name, call in parts(Database(service.resources.sessions), passages).items():
            figures[name] = 1000 * await p50(call, calls)
        async with grpc.aio.insecure_channel(assistant) as channel:
            embed = embeddings_pb2_grpc.EmbeddingServiceStub(channel)
            texts = iter(f"{QUERIES[0]} {database_url[:6]} {n}" for n in range(calls + 1))

            async def embed_query() -> object:
                request = embeddings_pb2.EmbedTextsRequest(
                    texts=[next(texts)], purpose=embeddings_pb2.EMBEDDING_PURPOSE_QUERY
                )
                return await embed.EmbedTexts(request, metadata=metadata)

            figures["query embedding p50 ms (new)"] = 1000 * await p50(embed_query, calls)
    words = base.model_copy(update={"addresses": {"assistant": "127.0.0.1:9"}})  # nobody there
    async with meetings(words) as (_, stub):
        figures["Search p50 ms, words only"] = 1000 * await p50(
            searches(stub, metadata, calls), calls
        )
    return figures


async def main(passages: int, calls: int) -> None:
    peers.own_identity = lambda _: ServiceIdentity("meetings", "t", _issuer(tokens))  # type: ignore[assignment]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        tokens = TokenFactory.in_directory(root)
        nats = NatsServer(root / "nats")
        nats.start()
        settings = assistant_settings(tokens, nats, root / "assistant",
                                      f"sqlite:///{root / 'assistant.db'}",
                                      rate_limit_per_second=0.0)  # fmt: skip
        assistant = await start(ASSISTANT, settings)
        address = f"127.0.0.1:{assistant.port}"
        results: dict[str, dict[str, float]] = {}
        try:
            results["SQLite"] = await measure(f"sqlite:///{root / 'm.db'}", root / "s", tokens,
                                              address, passages, calls)  # fmt: skip
            with fresh_postgres(postgres_admin_url(), "voka_bench") as url:
                results["PostgreSQL"] = await measure(url, root / "p", tokens, address,
                                                      passages, calls)  # fmt: skip
        finally:
            await assistant.stop()
            nats.stop()
    print(f"meetings Search, {passages} passages of one user, exact numpy scan, {calls} calls")
    print(f"{'measure':32}" + "".join(f"{name:>12}" for name in results))
    for measure_name in next(iter(results.values())):
        row = "".join(f"{r[measure_name]:>12.1f}" for r in results.values())
        print(f"{measure_name:32}{row}")


def _issuer(tokens: TokenFactory) -> Callable[[str, str], Awaitable[tuple[str, float]]]:
    async def issue(service: str, secret: str) -> tuple[str, float]:
        token = tokens.mint(subject=f"services/{service}", roles=("service",), ttl=3600)
        return token, time.time() + 3600

    return issue


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--passages", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=30)
    return parser.parse_args()


if __name__ == "__main__":
    arguments = _args()
    asyncio.run(main(arguments.passages, arguments.calls))
