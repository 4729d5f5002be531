"""Where accepted tasks go in, whoever accepted them (a submit RPC, a stream's message, the
webhook dispatcher): stored, queued on the shards this replica serves (the owners of the others
hear of them) and counted, in rounds that concurrent callers share.

A round is one transaction for everything waiting, one wake-up of the scheduler (whose next
dispatch then hands the round out together) and one metrics record: sixteen unary SubmitTask
calls in flight cost about what one StreamSubmitTasks message of sixteen tasks costs, instead
of sixteen scheduler wake-ups and sixteen records behind one shared insert.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from services.tasks import metrics
from services.tasks.batching import ROUND_LINGER, GroupCommit
from services.tasks.changes import Accepted, NewTask
from services.tasks.scheduler import Scheduler
from services.tasks.store import TaskStore

ROUND_LIMIT = 1000  # tasks one round takes in, at most (a caller's batch is never split)


class Intake:
    """One way in for new tasks, so every path stores, queues and counts them alike."""

    def __init__(self, store: TaskStore, scheduler: Scheduler) -> None:
        self._store = store
        self._scheduler = scheduler
        self._rounds: GroupCommit[NewTask, tuple[Accepted, bool]] = GroupCommit(
            self._round, ROUND_LIMIT, linger=ROUND_LINGER
        )
        self._in_flight: Counter[str] = Counter()  # owner -> tasks taken in, not yet stored

    async def accept(self, batch: Sequence[NewTask]) -> list[tuple[Accepted, bool]]:
        """Each task with whether its idempotency key made it a known one (then it is the
        task already there, and nothing new is queued). Returns once the round holding the
        batch is stored and queued; a round that fails fails each of its callers."""
        self._in_flight.update(task.owner for task in batch)
        return await self._rounds.submit(batch)

    async def unfinished(self, owner: str) -> int:
        """The owner's unfinished tasks, those in a round not stored yet included: the owner
        quota's count, which must not miss a stream's previous message still waiting for its
        round (a round of few tasks may wait ROUND_LINGER). A round stops counting its tasks
        here in the step that sees its transaction end, and the waiting ones are read after
        the stored ones: on SQLite, whose one thread runs the count and the rounds in turn and
        wakes their callers in the same order, each task is then counted once, whichever came
        first (counted twice, a stream's next message was refused for tasks it did not have;
        on PostgreSQL the two may still overlap by a round, which errs towards refusing)."""
        stored = await self._store.unfinished_count(owner)
        return stored + self._in_flight[owner]

    async def _round(self, batch: list[NewTask]) -> list[tuple[Accepted, bool]]:
        try:
            results = await self._store.submit(batch)
        finally:
            self._in_flight.subtract(task.owner for task in batch)
            self._in_flight += Counter()  # drops the owners at zero
        fresh = [task for task, deduplicated in results if not deduplicated]
        await self._scheduler.admit(fresh)
        metrics.submitted([task.worker_type for task in fresh], len(results) - len(fresh))
        metrics.SUBMIT_ROUNDS.observe(len(batch))
        return results
