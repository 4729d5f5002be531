"""A deleted user's tasks data: their webhooks with their delivery rows, and their tasks.

Rows are deleted, not kept as CANCELLED: a cancelled task still holds its arguments, results
and errors, the very data erasure is for. Every task row of the user goes in one transaction
with the webhooks, except a RUNNING one: a scheduler replica tracks its attempt in memory until
the attempt's outcome updates the row, and with the row gone that outcome would match nothing
and the attempt would hold a dispatch-window slot for ever. Those are cancelled the way
CancelTask does (`Scheduler.cancel`), and the eraser fails so JetStream redelivers the event
(`voka.bus` backoff): the next delivery deletes them once they ended CANCELLED. A waiting task
deleted from under a replica's ready queue is harmless: its hand-out is a conditional UPDATE
that then moves nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy import Connection

from services.tasks.records import tasks
from services.tasks.scheduler import Scheduler
from services.tasks.webhooks.dispatcher import Dispatcher
from services.tasks.webhooks.records import deliveries, webhooks
from voka.erasure import Eraser
from voka.tasks.v1 import tasks_pb2
from voka.transactions import Transactions

REASON = "account deleted"


class StillRunningError(Exception):
    """Some of the user's attempts were running: asked to stop, their rows go on redelivery."""


def eraser(transactions: Transactions, scheduler: Scheduler, dispatcher: Dispatcher) -> Eraser:
    """The eraser `voka.erasure` runs when auth announces an account's deletion."""

    async def erase(owner: str) -> int:
        removed, running = await transactions.write(lambda c: _delete(c, owner))
        await dispatcher.refresh()  # this replica stops delivering at once, others within
        for task_id in running:  # its REFRESH_SECONDS
            await scheduler.cancel(task_id, REASON)
        if running:
            raise StillRunningError(f"{len(running)} tasks of {owner} were running; retried")
        return removed

    return erase


def _delete(connection: Connection, owner: str) -> tuple[int, list[str]]:
    """Delete the owner's webhooks, their deliveries and every task not RUNNING; how many
    rows went, and the RUNNING tasks left."""
    owned = sa.select(webhooks.c.id).where(webhooks.c.owner == owner)
    mine, running = tasks.c.owner == owner, tasks.c.state == tasks_pb2.TASK_STATE_RUNNING
    statements = (
        sa.delete(deliveries).where(deliveries.c.webhook_id.in_(owned)),
        sa.delete(webhooks).where(webhooks.c.owner == owner),
        sa.delete(tasks).where(mine, sa.not_(running)),
    )
    removed = sum(connection.execute(statement).rowcount for statement in statements)
    left = list(connection.execute(sa.select(tasks.c.id).where(mine, running)).scalars())
    return removed, left
