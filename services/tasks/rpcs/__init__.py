"""The TasksService RPCs, one module per resource, joined here into the servicer."""

from __future__ import annotations

from services.tasks.rpcs.dead_letters import DeadLettersRpcs
from services.tasks.rpcs.functions import TaskFunctionsRpcs
from services.tasks.rpcs.scheduler import SchedulerRpcs
from services.tasks.rpcs.tasks import TasksRpcs
from services.tasks.rpcs.webhooks import WebhooksRpcs


class TasksServicer(TasksRpcs, TaskFunctionsRpcs, DeadLettersRpcs, SchedulerRpcs, WebhooksRpcs):
    """Every built RPC of TasksService; the others answer UNIMPLEMENTED (generated base)."""
