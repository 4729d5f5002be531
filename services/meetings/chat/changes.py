"""Searchable content written: the signal that wakes the passage indexers (`chat.indexer`) of
this process when the transaction that wrote it commits, so new text is embedded within a round
of being written instead of at the indexer's next backstop round.

Every store write of passage text (transcript segments, summaries, meetings' titles and agendas,
projects, clients, chat messages) calls `written` with its session, whichever path caused it (an
RPC, the recording pipeline's consumers, the transactional inbox); a rollback wakes nobody.

Only this process's indexers are woken, and that is enough: the replica that wrote the content
embeds it into the shared database, where every replica's Search reads the vectors. No event
is published for it, and none is needed from other replicas (the content already is their own
database's). The indexer's backstop round catches what a wake-up misses (a replica that stopped
between the commit and its round).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from voka.db import after_commit

Wake = Callable[[], None]
_wakes: dict[Wake, asyncio.AbstractEventLoop] = {}  # each with the loop it belongs to


def written(session: AsyncSession) -> None:
    """Passage text was written in `session`'s transaction: wake the indexers once it commits."""
    after_commit(session, _committed)


def _committed(_session: Session) -> None:
    # In the committing event loop's thread: only wake-ups of that loop are safe to call (an
    # `asyncio.Event` belongs to one loop; tests run several, one after another).
    loop = asyncio.get_running_loop()
    for wake, owner in tuple(_wakes.items()):
        if owner is loop:
            wake()


@contextlib.contextmanager
def waking(wake: Wake) -> Iterator[None]:
    """`wake` is called after every commit in this event loop that wrote passage text, while
    the block runs."""
    _wakes[wake] = asyncio.get_running_loop()
    try:
        yield
    finally:
        del _wakes[wake]
