"""The passage indexer: a background task of the service that keeps every passage's vector in
step with its content, so search by meaning never makes a write RPC wait on a model.

Each round reads up to a batch of passages whose vector is missing or older than their source
(`SearchStore.stale`: new transcript segments, chat messages, projects, clients, meetings, a
summary rewritten), embeds their text with one call to the assistant's EmbeddingService as
passages, and stores the vectors (`VectorStore.put`) with the source time read. A full batch is
followed at once by the next. Otherwise the indexer sleeps until a transaction that wrote
passage text commits in this process (`chat.changes`), or `backstop` seconds at most: reading
for stale passages costs 0.2 to 0.5 s at 100 000 passages (bench/README.md), too much to do
every second on every replica for nothing. Deleted content needs no round: its vectors go with
it by cascade, in the same transaction.

While the assistant is away (or refuses) the round fails and the indexer retries after 2 s,
then twice as long each time up to a minute, writes meanwhile notwithstanding (a write does not
bring the assistant back): the passages stay searchable by their words, and are embedded once
it answers. Every replica runs an indexer; two embedding the same passage race on its primary
key, and the loser rolls back and finds it done next round.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from services.meetings.chat import changes
from services.meetings.chat.vectors import encode
from services.meetings.database import Database
from voka.assistant.v1 import embeddings_pb2

log = logging.getLogger("voka.meetings.indexer")
MAX_CHARS = 2000  # the model reads 512 tokens at most; more text only costs the transfer
RETRY_WAIT, MAX_WAIT = 1.0, 60.0  # after failed rounds: RETRY_WAIT * 2**failures, at most MAX_WAIT

Embed = Callable[[list[str]], Awaitable[embeddings_pb2.EmbedTextsResponse]]


class Indexer:
    """Embeds stale passages in batches, forever (`run`, a background task)."""

    def __init__(self, database: Database, embed: Embed, *, batch: int, backstop: float) -> None:
        self._database = database
        self._embed = embed
        self._batch = batch
        self._backstop = backstop
        self._stopped = asyncio.Event()
        self._woken = asyncio.Event()  # passage text committed (or `stop`) since the round began

    async def run(self) -> None:
        """Rounds until `stop`: a flag as well as the task's cancellation, since a cancellation
        that lands inside a database call can come out as an ordinary error."""
        failures = 0
        with changes.waking(self._woken.set):
            while not self._stopped.is_set():
                self._woken.clear()  # what commits from now on, the next round reads
                try:
                    done = await self.index_once()
                    failures = 0
                except Exception as exc:
                    failures += 1
                    log.warning("passage indexing failed (%.300s); retrying", exc)
                    await _until(self._stopped, min(RETRY_WAIT * 2**failures, MAX_WAIT))
                    continue
                if done < self._batch:
                    await _until(self._woken, self._backstop)

    def stop(self) -> None:
        self._stopped.set()
        self._woken.set()

    async def index_once(self) -> int:
        """One round: how many passages were embedded."""
        async with self._database.transaction() as stores:
            pending = await stores.search.stale(self._batch)
        if not pending:
            return 0
        # A passage with no words (a silent segment) is embedded by its title, so it is done.
        texts = [(p.passage.text.strip() or p.passage.title or "-")[:MAX_CHARS] for p in pending]
        reply = await self._embed(texts)
        async with self._database.transaction() as stores:
            await stores.vectors.put(
                pending, [encode(e.values) for e in reply.embeddings], reply.model
            )
        return len(pending)


async def _until(flag: asyncio.Event, seconds: float) -> None:
    """Until `flag` is set, or `seconds` have passed."""
    # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a cancellation that
    # comes as its timeout expires, and the indexer would then never stop.
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await flag.wait()
