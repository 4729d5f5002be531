"""The tasks service's wiring: the stores (sharing one writer: `transactions.py`), the registry,
the scheduler and the leases that decide its shards, the live pools heard from the workers'
heartbeats, what the service sends out of itself (webhook deliveries, calls to peers), the
embedded worker pools `make up` relies on, the autoscaler, and the servicer."""

from __future__ import annotations

from services.tasks import peers
from services.tasks.autoscaler import Autoscaler
from services.tasks.erasure import eraser
from services.tasks.events import parse_worker_type
from services.tasks.functions import webhooks as delivery
from services.tasks.intake import Intake
from services.tasks.lease_store import LeaseStore
from services.tasks.ownership import Ownership
from services.tasks.pool_store import PoolStore
from services.tasks.pools import LivePools, Pools
from services.tasks.registry import default_registry
from services.tasks.rpcs import TasksServicer
from services.tasks.rpcs.base import Webhooks
from services.tasks.scheduler import Scheduler
from services.tasks.settings import TasksSettings
from services.tasks.store import TaskStore
from services.tasks.validation import Submits
from services.tasks.webhooks.dispatcher import Dispatcher
from services.tasks.webhooks.secrets import Sealer
from services.tasks.webhooks.store import WebhookStore
from services.tasks.worker import Worker
from voka import service_identity
from voka.erasure import erase_deleted_users
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(TasksSettings)
    bus = resources.bus
    if resources.transactions is None or bus is None:
        raise RuntimeError("tasks needs its database and NATS")
    store = TaskStore(resources.transactions)
    registry = default_registry(settings.tasks_function_modules)
    scheduler = Scheduler(store, bus, settings)
    await scheduler.start()
    resources.on_stop.append(scheduler.stop)
    leases = LeaseStore(store.transactions)
    ownership = Ownership(leases, scheduler)
    await ownership.start()
    resources.on_stop.append(ownership.stop)
    pools = Pools(LivePools(bus, scheduler, settings.tasks_visibility_seconds),
                  PoolStore(store.transactions), bus)  # fmt: skip
    scheduler.staffed = pools.live.staffed
    await pools.live.start()  # before the embedded worker's first beat
    resources.on_stop.append(pools.live.stop)
    intake = Intake(store, scheduler)
    # Before the embedded worker: its deliveries and peer calls use this configuration.
    delivery.configure(settings)
    identity = service_identity.from_env("tasks", settings.address_of("auth"))
    outgoing = peers.Peers(settings, identity)
    peers.configure(outgoing)
    resources.on_stop.append(outgoing.close)
    webhook_store = WebhookStore(store.transactions)
    sealer = Sealer.from_config(settings.tasks_webhook_key, settings.data_dir)
    dispatcher = Dispatcher(bus, webhook_store, Submits(registry, scheduler.placement),
                            intake.accept, sealer=sealer,
                            max_failures=settings.tasks_webhook_max_failures)  # fmt: skip
    await dispatcher.start()
    resources.on_stop.append(dispatcher.stop)
    await erase_deleted_users(bus, "tasks", eraser(store.transactions, scheduler, dispatcher))
    types = [parse_worker_type(t) for t in settings.tasks_embedded_workers]
    if types:
        worker = Worker(bus, registry, types, settings.tasks_worker_concurrency,
                        ack_wait=settings.tasks_visibility_seconds)  # fmt: skip
        await worker.start()
        resources.on_stop.append(worker.stop)
    autoscaler = Autoscaler(pools.store, pools.live, scheduler, bus,
                            settings.tasks_visibility_seconds / 3)  # fmt: skip
    autoscaler.start()
    resources.on_stop.append(autoscaler.stop)
    servicer = TasksServicer(
        store, leases, registry, scheduler, bus, pools=pools, intake=intake,
        webhooks=Webhooks.of(webhook_store, dispatcher, settings, sealer),
    )  # fmt: skip
    return [registration(servicer)]


SPEC = ServiceSpec(name="tasks", build=build, database=True)
