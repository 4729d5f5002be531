"""What the TasksService RPCs share: the service's parts they call, and the habits every
resource module needs (reading a task the caller may see, showing it, keyset pages over the
task table, who counts as trusted, the owner quota).

Tenancy is the kit's (`voka.tenancy`): callers see their own tasks and webhooks, admins
everyone's, and anyone else's record is NOT_FOUND, never PERMISSION_DENIED.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import grpc

from services.tasks import control, convert
from services.tasks.changes import TaskQuery
from services.tasks.intake import Intake
from services.tasks.lease_store import LeaseStore
from services.tasks.live.feed import LiveUpdates
from services.tasks.pools import Pools
from services.tasks.quotas import OwnerQuota
from services.tasks.records import TaskRecord
from services.tasks.registry import Registry
from services.tasks.scheduler import Scheduler
from services.tasks.settings import TasksSettings
from services.tasks.status_reads import StatusReads
from services.tasks.store import TaskStore
from services.tasks.validation import Submits
from services.tasks.webhooks.dispatcher import Dispatcher
from services.tasks.webhooks.secrets import Sealer
from services.tasks.webhooks.store import WebhookStore
from services.tasks.webhooks.targets import Allowed
from voka import authn, errors, pagination, tenancy
from voka.bus import Bus
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]


def now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Webhooks:
    """What the webhook RPCs need beyond the tasks: their store, the dispatcher to refresh
    after each change, the sealer of signing secrets, the allowed targets, the owner limit."""

    store: WebhookStore
    dispatcher: Dispatcher
    sealer: Sealer
    allowed: Allowed
    per_owner: int

    @classmethod
    def of(
        cls, store: WebhookStore, dispatcher: Dispatcher, settings: TasksSettings, sealer: Sealer
    ) -> Webhooks:
        return cls(
            store=store, dispatcher=dispatcher, sealer=sealer,
            allowed=Allowed.parse(settings.tasks_webhook_allowed_hosts),
            per_owner=settings.tasks_webhooks_per_owner,
        )  # fmt: skip


class BaseRpcs(tasks_pb2_grpc.TasksServiceServicer):
    """The dependencies of every TasksService RPC; RPCs not built answer UNIMPLEMENTED through
    the generated base class."""

    def __init__(
        self,
        store: TaskStore,
        leases: LeaseStore,
        registry: Registry,
        scheduler: Scheduler,
        bus: Bus,
        *,
        pools: Pools,
        webhooks: Webhooks,
        intake: Intake,
    ) -> None:
        self._store = store
        self._leases = leases
        self._registry = registry
        self._scheduler = scheduler
        self._bus = bus
        self._pools = pools
        self._status = StatusReads(store.transactions, leases, pools.store,
                                   scheduler.settings.tasks_lease_seconds)  # fmt: skip
        self._webhooks = webhooks
        self._submits = Submits(registry, scheduler.placement)
        self._accept = intake.accept
        cap = scheduler.settings.tasks_max_queued_per_owner
        self._quota = OwnerQuota(intake.unfinished, cap)
        self._live = LiveUpdates.of(scheduler.settings, self._figures)

    async def _figures(self) -> tasks_pb2.TaskMetrics:
        """The task figures as GetTaskMetrics gives them by default (its 60 s window)."""
        request = tasks_pb2.GetTaskMetricsRequest()
        return await control.task_metrics(self._scheduler, self._store, self._pools, request)

    def _shown(self, record: TaskRecord, full: bool = True) -> tasks_pb2.Task:
        """The Task as callers see it, saying so when its pool has no worker."""
        return convert.task(record, full, self._pools.live.staffed(record.worker_type))

    async def _task(self, task_id: str, resource: str = "Task") -> TaskRecord:
        """The task if the caller may see it; NOT_FOUND (named as `resource`) otherwise."""
        record = await self._store.get(task_id)
        prefix = "tasks/" if resource == "Task" else "dead-letters/"
        tenancy.require_visible(record.owner if record else None, resource, prefix + task_id)
        assert record is not None  # a missing task was refused just above
        return record


def trusted() -> bool:
    """Admins and services may ask for what users may not (CRITICAL priority), and services'
    submits are not capped (their work fans in from many users, capped where they entered)."""
    caller = authn.caller()
    return caller.is_admin or caller.is_service


def fingerprint(filters: TaskQuery) -> str:
    return pagination.fingerprint(asdict(filters))


def task_page(size: int, token: str, filters: TaskQuery) -> tuple[int, tuple[datetime, str] | None]:
    """Page size and the cursor of `token`, which must come from the same filters."""
    page, problems = pagination.page_size(size)
    after, bad = pagination.keyset_cursor(token, fingerprint(filters))
    if problems + bad:
        raise errors.invalid_argument(problems + bad)
    return page, after
