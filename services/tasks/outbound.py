"""Wiring of what the tasks service sends out of itself: the webhook dispatcher and RPCs, and
the configuration its embedded workers use to deliver webhooks and call other services."""

from __future__ import annotations

from services.tasks import peers
from services.tasks.functions import webhooks as delivery
from services.tasks.intake import Intake
from services.tasks.registry import Registry
from services.tasks.scheduler import Scheduler
from services.tasks.settings import TasksSettings
from services.tasks.store import Store
from services.tasks.validation import Submits
from services.tasks.webhook_api import Webhooks
from services.tasks.webhook_dispatcher import Dispatcher
from services.tasks.webhook_store import WebhookStore
from voka import service_identity
from voka.server import Resources


async def start(
    resources: Resources, settings: TasksSettings, store: Store, scheduler: Scheduler,
    registry: Registry, *, intake: Intake,
) -> Webhooks:  # fmt: skip
    """Configure this process's task functions, start the dispatcher; the webhook RPCs'
    dependencies come back."""
    assert resources.bus is not None
    delivery.configure(settings)
    identity = service_identity.from_env("tasks", settings.address_of("auth"))
    outgoing = peers.Peers(settings, identity)
    peers.configure(outgoing)
    resources.on_stop.append(outgoing.close)
    dispatcher = Dispatcher(
        resources.bus,
        WebhookStore(store.transactions),
        Submits(registry, settings.tasks_shards),
        intake.accept,
        settings.tasks_webhook_max_failures,
    )
    await dispatcher.start()
    resources.on_stop.append(dispatcher.stop)
    return Webhooks.build(store, scheduler, dispatcher, settings)
