"""How many unfinished tasks one owner may have (`VOKA_TASKS_MAX_QUEUED_PER_OWNER`): a cap on
what one user can pile into the queues, counted from the database so it holds across
replicas and restarts (plus this replica's tasks taken in and waiting for their round:
`Intake.unfinished`).

Counting an owner's unfinished tasks is an index range over (owner, state), which costs more
than a submit near the cap; so each owner's count is read at most once a second and, between
reads, raised by what this replica admitted (tasks that finished meanwhile are not taken off:
the estimate errs towards refusing, and a refusal reads the count again before it is final).
Replicas admitting for the same owner at once can overshoot the cap by what each admits
within a second; the cap is a guard against floods, not an accounting.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from voka import errors
from voka.errors import VokaError

FRESH_SECONDS = 1.0  # an owner's count is read again after this long
SWEEP_AT = 10_000  # counts kept before the stale ones are dropped

Count = Callable[[str], Awaitable[int]]


@dataclass
class _Known:
    unfinished: int  # read from the database, plus what was admitted since
    read_at: float


class OwnerQuota:
    """`room(owner, wanted)`: how many of `wanted` new tasks fit under the cap (0 = no cap)."""

    def __init__(self, count: Count, cap: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._count = count
        self.cap = cap
        self._clock = clock
        self._known: dict[str, _Known] = {}

    async def room(self, owner: str, wanted: int, whole: bool = False) -> int:
        """How many of `wanted` tasks the owner may add now (all or none with `whole`); the
        ones granted count as the owner's until the next read."""
        if self.cap <= 0:
            return wanted
        now = self._clock()
        known = self._known.get(owner)
        if (
            known is None
            or now - known.read_at > FRESH_SECONDS
            or (known.unfinished + wanted > self.cap)
        ):
            if len(self._known) >= SWEEP_AT:
                self._known = {o: k for o, k in self._known.items()
                               if now - k.read_at <= FRESH_SECONDS}  # fmt: skip
            known = self._known[owner] = _Known(await self._count(owner), now)
        granted = max(0, min(wanted, self.cap - known.unfinished))
        if whole and granted < wanted:
            return 0
        known.unfinished += granted
        return granted

    async def admit(self, owner: str, wanted: int) -> None:
        """All `wanted` tasks, or RESOURCE_EXHAUSTED (QuotaFailure naming the owner)."""
        if await self.room(owner, wanted, whole=True) < wanted:
            raise self.exceeded(owner)

    def exceeded(self, owner: str) -> VokaError:
        known = self._known.get(owner)
        have = f"has {known.unfinished} unfinished tasks" if known else "has too many tasks"
        return errors.quota_exceeded(
            f"{owner} {have}; at most {self.cap} may be queued, scheduled, running or retrying "
            "at once (VOKA_TASKS_MAX_QUEUED_PER_OWNER): submit more once some have finished",
            owner, f"unfinished tasks per owner: {self.cap}",
        )  # fmt: skip
