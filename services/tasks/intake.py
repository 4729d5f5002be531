"""Where accepted tasks go in, whoever accepted them (a submit RPC or the webhook dispatcher):
stored, with concurrent callers sharing one transaction, then queued on the shards this replica
serves (the owners of the others hear of them)."""

from __future__ import annotations

from collections.abc import Sequence

from services.tasks import metrics
from services.tasks.batching import GroupCommit
from services.tasks.changes import Accepted, NewTask
from services.tasks.scheduler import Scheduler
from services.tasks.store import TaskStore


class Intake:
    """One way in for new tasks, so every path stores, queues and counts them alike."""

    def __init__(self, store: TaskStore, scheduler: Scheduler) -> None:
        self._inserts: GroupCommit[NewTask, tuple[Accepted, bool]] = GroupCommit(store.submit)
        self._scheduler = scheduler

    async def accept(self, batch: Sequence[NewTask]) -> list[tuple[Accepted, bool]]:
        """Each task with whether its idempotency key made it a known one (then it is the
        task already there, and nothing new is queued)."""
        results = await self._inserts.submit(batch)
        fresh = [task for task, dedup in results if not dedup]
        await self._scheduler.admit(fresh)
        metrics.submitted([r.worker_type for r in fresh], len(results) - len(fresh))
        return results
