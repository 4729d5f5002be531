"""The tasks service's wiring: store, registry, scheduler (owning every shard for now), the
embedded worker pools `make up` relies on, and the servicer."""

from __future__ import annotations

from services.tasks.events import parse_worker_type
from services.tasks.registry import default_registry
from services.tasks.scheduler import Scheduler
from services.tasks.servicer import TasksServicer
from services.tasks.settings import TasksSettings
from services.tasks.store import Store
from services.tasks.worker import Worker
from voka.server import Registration, Resources, ServiceSpec, registration


def tasks_settings(resources: Resources) -> TasksSettings:
    """The kit hands over its Settings; the VOKA_TASKS_* ones are read on top of them."""
    if isinstance(resources.settings, TasksSettings):
        return resources.settings
    return TasksSettings(**resources.settings.model_dump())


async def build(resources: Resources) -> list[Registration]:
    settings = tasks_settings(resources)
    if resources.sessions is None or resources.bus is None:
        raise RuntimeError("tasks needs its database and NATS")
    store, registry = Store(resources.sessions), default_registry()
    scheduler = Scheduler(store, resources.bus, settings)
    await scheduler.start()
    resources.on_stop.append(scheduler.stop)
    types = [parse_worker_type(t) for t in settings.tasks_embedded_workers]
    if types:
        worker = Worker(resources.bus, registry, types, settings.tasks_worker_concurrency,
                        ack_wait=settings.tasks_visibility_seconds)  # fmt: skip
        await worker.start()
        resources.on_stop.append(worker.stop)
    servicer = TasksServicer(  # type: ignore[abstract]  # unbuilt RPCs: UNIMPLEMENTED
        store, registry, scheduler, resources.bus, settings.tasks_shards
    )
    return [registration(servicer)]


SPEC = ServiceSpec(name="tasks", build=build, database=True)
