"""The tasks service's wiring: store, registry, scheduler (owning every shard for now), the
live pools heard from the workers' heartbeats, the embedded worker pools `make up` relies on,
the autoscaler, and the servicer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from services.tasks import outbound
from services.tasks.autoscaler import Autoscaler
from services.tasks.bounds import PoolStore
from services.tasks.events import parse_worker_type
from services.tasks.intake import Intake
from services.tasks.leases import LeaseStore
from services.tasks.ownership import Ownership
from services.tasks.pools import LivePools, Pools
from services.tasks.registry import default_registry
from services.tasks.scheduler import Scheduler
from services.tasks.servicer import TasksServicer
from services.tasks.settings import TasksSettings
from services.tasks.store import Store
from services.tasks.worker import Worker
from voka.server import Registration, Resources, ServiceSpec, registration


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(TasksSettings)
    if resources.sessions is None or resources.bus is None:
        raise RuntimeError("tasks needs its database and NATS")
    store = Store(resources.sessions)
    resources.on_stop.append(_closer(store))
    registry = default_registry(settings.tasks_function_modules)
    scheduler = Scheduler(store, resources.bus, settings)
    await scheduler.start()
    resources.on_stop.append(scheduler.stop)
    leases = LeaseStore(store.transactions)
    ownership = Ownership(leases, scheduler)
    await ownership.start()
    resources.on_stop.append(ownership.stop)
    pools = Pools(LivePools(resources.bus, scheduler, settings.tasks_visibility_seconds),
                  PoolStore(store.transactions), resources.bus)  # fmt: skip
    await pools.live.start()  # before the embedded worker's first beat
    resources.on_stop.append(pools.live.stop)
    # before the embedded worker: its deliveries and peer calls use this configuration
    intake = Intake(store, scheduler)
    webhooks = await outbound.start(resources, settings, store, scheduler, registry, intake=intake)
    types = [parse_worker_type(t) for t in settings.tasks_embedded_workers]
    if types:
        worker = Worker(resources.bus, registry, types, settings.tasks_worker_concurrency,
                        ack_wait=settings.tasks_visibility_seconds)  # fmt: skip
        await worker.start()
        resources.on_stop.append(worker.stop)
    autoscaler = Autoscaler(pools.store, pools.live, scheduler, resources.bus,
                            settings.tasks_visibility_seconds / 3)  # fmt: skip
    autoscaler.start()
    resources.on_stop.append(autoscaler.stop)
    servicer = TasksServicer(
        store, leases, registry, scheduler, resources.bus, pools=pools, webhooks=webhooks,
        intake=intake,
    )  # fmt: skip
    return [registration(servicer)]


def _closer(store: Store) -> Callable[[], Awaitable[None]]:
    async def close() -> None:
        store.close()

    return close


SPEC = ServiceSpec(name="tasks", build=build, database=True)
