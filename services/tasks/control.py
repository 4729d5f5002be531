"""GetTaskMetrics, GetSchedulerStatus, ControlScheduler and SubmitDemoTasks, built from the
scheduler's live state, the Prometheus metrics, the workers' heartbeats and the database.

Shards, replicas, pauses and pool bounds come from the database (every replica applies the
stored pauses in its lease round, the answering one at once); queue figures are the answering
replica's; live workers, busy slots and utilisation are what every replica hears in the beats.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf import struct_pb2

from services.tasks import bounds, metrics
from services.tasks.changes import TaskQuery
from services.tasks.lease_store import LeaseStore
from services.tasks.pools import Pools, pool_message, utilisation_message
from services.tasks.records import SHARD, WORKER_TYPE
from services.tasks.registry import Registry, TaskFunction
from services.tasks.scheduler import Scheduler
from services.tasks.status_reads import StatusReads
from services.tasks.store import TaskStore
from voka import errors, wellknown
from voka.errors import FieldViolation
from voka.tasks.v1 import tasks_pb2

WORKER_TYPES = [t for t in tasks_pb2.WorkerType.values() if t != tasks_pb2.WORKER_TYPE_UNSPECIFIED]
PRIORITIES = [p for p in tasks_pb2.Priority.values() if p != tasks_pb2.PRIORITY_UNSPECIFIED]
MIN_WINDOW, MAX_WINDOW, DEFAULT_WINDOW = 10.0, 86_400.0, 60.0
DEMO_DEFAULT = 100
DEMO_MAX_SECONDS, DEMO_DEFAULT_SECONDS = 60.0, 0.1
FAILING = "demo.fail"  # what `failure_rate` swaps in


def _now() -> datetime:
    return datetime.now(UTC)


# GetTaskMetrics


async def task_metrics(
    scheduler: Scheduler, store: TaskStore, pools: Pools, request: tasks_pb2.GetTaskMetricsRequest
) -> tasks_pb2.TaskMetrics:
    window = DEFAULT_WINDOW
    if request.HasField("window"):
        window = request.window.ToTimedelta().total_seconds()
        if not MIN_WINDOW <= window <= MAX_WINDOW:
            raise errors.invalid_argument([FieldViolation("window", "10s to 24h")])
    now = _now()
    depths = scheduler.queues.depths(now.timestamp())
    busy = scheduler.in_flight()
    message = tasks_pb2.TaskMetrics(
        window=wellknown.duration(window),
        compute_time=wellknown.timestamp(now),
        queued_total=sum(d.count for d in depths),
        scheduled_total=await store.count(
            TaskQuery(owner=None, state=tasks_pb2.TASK_STATE_SCHEDULED)
        ),
        retrying_total=await store.count(
            TaskQuery(owner=None, state=tasks_pb2.TASK_STATE_RETRYING)
        ),
        running_total=sum(busy.values()),
        submitted_per_second=metrics.RATES.per_second("submitted", window),
        started_per_second=metrics.RATES.per_second("started", window),
        completed_per_second=metrics.RATES.per_second("completed", window),
        # The histograms cover this process's life, not the window (Prometheus keeps no
        # history); percentiles are estimated from their buckets (see metrics.histogram).
        queue_latency=metrics.histogram(metrics.QUEUE_LATENCY),
        run_time=metrics.histogram(metrics.RUN_TIME),
        retries=metrics.RATES.count("retried", window),
        dead_letter_size=await store.count(TaskQuery(owner=None, dead_letters=True)),
        counters=tasks_pb2.TaskCounters(
            submitted=metrics.total(metrics.SUBMITTED),
            started=metrics.total(metrics.STARTED),
            succeeded=metrics.total(metrics.SUCCEEDED),
            failed_attempts=metrics.total(metrics.FAILED),
            retries=metrics.total(metrics.RETRIED),
            dead_lettered=metrics.total(metrics.DEAD_LETTERED),
            cancelled=metrics.total(metrics.CANCELLED),
            deduplicated=metrics.total(metrics.DEDUPLICATED),
        ),
    )
    for depth in depths:
        message.queue_depths.add(
            shard=depth.shard, priority=depth.priority, worker_type=depth.worker_type,
            depth=depth.count, oldest_age=wellknown.duration(depth.oldest_wait),
        )  # fmt: skip
    for priority in PRIORITIES:
        latency = metrics.histogram(metrics.QUEUE_LATENCY, metrics.priority_label(priority))
        if latency.count:
            message.queue_latency_by_priority.add(priority=priority, queue_latency=latency)
    for worker_type in WORKER_TYPES:
        queued = sum(d.count for d in depths if d.worker_type == worker_type)
        figures = pools.live.figures(worker_type)
        message.pools.append(utilisation_message(worker_type, figures, queued))
    return message


# GetSchedulerStatus


async def scheduler_status(
    scheduler: Scheduler, reads: StatusReads, pools: Pools
) -> tasks_pb2.SchedulerStatus:
    """Shards and replicas as the lease table has them; queue figures of the shards served
    by the answering replica (others' are theirs to tell); pools from the workers' beats and
    the stored bounds (the stored figures from `reads`, at most a second old and never older
    than this replica's last write)."""
    now = _now()
    queues = scheduler.queues
    queued: Counter[int] = Counter()
    for depth in queues.depths(now.timestamp()):
        queued[depth.shard] += depth.count
    running = scheduler.running_by_shard()
    settings = scheduler.settings
    stored = await reads.get(now)
    status = tasks_pb2.SchedulerStatus(
        shard_count=settings.tasks_shards,
        answered_by=scheduler.replica,
        compute_time=wellknown.timestamp(now),
        paused_shards=sorted(queues.paused_shards),
        paused_worker_types=sorted(queues.paused_types),  # type: ignore[arg-type]
    )
    held: dict[str, list[int]] = {}
    for lease in stored.leases:
        owned = lease.owner is not None and lease.expire_time is not None
        owned = owned and lease.expire_time > now  # type: ignore[operator]
        paused = lease.shard in queues.paused_shards
        shard = status.shards.add(
            shard=lease.shard, owner_replica=lease.owner or "" if owned else "",
            epoch=lease.epoch, paused=paused,
            state=_shard_state(owned, paused),
            queued=queued[lease.shard],
            running=running[lease.shard],
        )  # fmt: skip
        if owned and lease.expire_time is not None:
            shard.lease_expire_time.CopyFrom(wellknown.timestamp(lease.expire_time))
            held.setdefault(lease.owner or "", []).append(lease.shard)
    for replica in stored.live(now - timedelta(seconds=settings.tasks_lease_seconds)):
        status.replicas.add(
            id=replica.id, shards=held.get(replica.id, []), draining=replica.draining,
            heartbeat_time=wellknown.timestamp(replica.heartbeat_time),
            start_time=wellknown.timestamp(replica.start_time), version=settings.version,
        )  # fmt: skip
    for worker_type in WORKER_TYPES:
        figures = pools.live.figures(worker_type)
        paused = worker_type in queues.paused_types
        status.pools.append(pool_message(worker_type, figures, stored.bounds.get(worker_type),
                                         paused, stored.demand[worker_type]))  # fmt: skip
    return status


def _shard_state(owned: bool, paused: bool) -> tasks_pb2.ShardState.ValueType:
    if not owned:
        return tasks_pb2.SHARD_STATE_UNOWNED
    return tasks_pb2.SHARD_STATE_PAUSED if paused else tasks_pb2.SHARD_STATE_ACTIVE


# ControlScheduler


async def control(
    scheduler: Scheduler,
    leases: LeaseStore,
    pools: Pools,
    request: tasks_pb2.ControlSchedulerRequest,
) -> str:
    """Applies the action; returns what was done, in words."""
    action = request.WhichOneof("action")
    if action in ("pause_shard", "resume_shard"):
        shard = getattr(request, action).shard
        count = scheduler.settings.tasks_shards
        if not 0 <= shard < count:
            field = f"{action}.shard"
            raise errors.invalid_argument([FieldViolation(field, f"0 to {count - 1}")])
        pause = action == "pause_shard"
        changed = await leases.set_pause(SHARD, shard, pause, _now())
        scheduler.apply_pauses(*await leases.pauses())
        return f"shard {shard} {'paused' if pause else 'resumed'}" + (
            "" if changed else " (already)"
        )
    if action in ("pause_worker_type", "resume_worker_type"):
        worker_type = getattr(request, action).worker_type
        if worker_type not in WORKER_TYPES:
            raise errors.invalid_argument(
                [FieldViolation(f"{action}.worker_type", "is required: a worker type")]
            )
        pause = action == "pause_worker_type"
        changed = await leases.set_pause(WORKER_TYPE, worker_type, pause, _now())
        scheduler.apply_pauses(*await leases.pauses())
        name = tasks_pb2.WorkerType.Name(worker_type)
        return f"{name} {'paused' if pause else 'resumed'}" + ("" if changed else " (already)")
    if action == "resize_pool":
        live = pools.live.figures(request.resize_pool.worker_type).workers
        size = await bounds.resize(pools.store, pools.bus, request.resize_pool, live)
        return (f"{tasks_pb2.WorkerType.Name(size.worker_type)} pool: {size.min_workers} to "
                f"{size.max_workers} workers, {size.desired_workers} wanted")  # fmt: skip
    if action == "drain_replica":
        replica = request.drain_replica.replica or scheduler.replica
        if not await leases.set_draining(replica, True):
            raise errors.not_found("Replica", replica)
        return f"replica {replica} draining: it hands its shards to the others"
    raise errors.invalid_argument([FieldViolation("action", "is required")])


# SubmitDemoTasks


def _demo_args(function: TaskFunction, index: int, seconds: float) -> dict[str, Any]:
    """Sample arguments for the shipped demo functions; {} for others."""
    samples: dict[str, dict[str, Any]] = {
        "math.add": {"a": index, "b": 1},
        "math.fibonacci": {"n": index % 50},
        "text.word_count": {"text": f"demo task number {index}"},
        "demo.sleep": {"seconds": seconds},
        "demo.cpu_burn": {"seconds": seconds},
        "demo.fail": {"message": f"demo failure {index}"},
    }
    return samples.get(function.name, {})


def demo_requests(
    registry: Registry,
    request: tasks_pb2.SubmitDemoTasksRequest,
    most: int,
    critical: bool = False,
    rng: random.Random | None = None,
) -> list[tasks_pb2.SubmitTaskRequest]:
    """The submits SubmitDemoTasks makes, at most `most` (checked like any other submit
    afterwards); the mix of priorities includes CRITICAL only when `critical` (a trusted
    caller)."""
    count = request.count or min(DEMO_DEFAULT, most)
    demos, seconds = _demo_choices(registry, request, count, most)
    rng = rng or random.Random()  # noqa: S311 (which demo tasks fail, not a secret)
    failing = registry.get(FAILING)
    mix = PRIORITIES if critical else [p for p in PRIORITIES if p != tasks_pb2.PRIORITY_CRITICAL]
    submits = []
    for index in range(count):
        function = demos[index % len(demos)]
        if failing is not None and rng.random() < request.failure_rate:
            function = failing
        args = struct_pb2.Struct()
        args.update(_demo_args(function, index, seconds))
        priority = request.priority or mix[index % len(mix)]
        submits.append(
            tasks_pb2.SubmitTaskRequest(function_name=function.name, args=args, priority=priority)
        )
    return submits


def _demo_choices(
    registry: Registry, request: tasks_pb2.SubmitDemoTasksRequest, count: int, most: int
) -> tuple[list[TaskFunction], float]:
    """The demo functions to cycle through and each task's duration; INVALID_ARGUMENT with
    every bad field."""
    problems = []
    if not 1 <= count <= most:
        problems.append(FieldViolation("count", f"1 to {most}"))
    demos = [f for f in registry.all() if f.demo]
    if request.function_name:
        demos = [f for f in demos if f.name == request.function_name]
        if not demos:
            problems.append(FieldViolation("function_name", "is not a demo task function"))
    else:  # the mix succeeds unless `failure_rate` says otherwise
        demos = [f for f in demos if f.name != FAILING]
    if request.worker_type:
        demos = [f for f in demos if f.worker_type == request.worker_type]
        if not demos and request.worker_type in WORKER_TYPES:
            problems.append(FieldViolation("worker_type", "no demo function of this type"))
    if request.worker_type not in tasks_pb2.WorkerType.values():
        problems.append(FieldViolation("worker_type", "is not a worker type"))
    if request.priority not in tasks_pb2.Priority.values():
        problems.append(FieldViolation("priority", "is not a priority"))
    seconds = DEMO_DEFAULT_SECONDS
    if request.HasField("task_duration"):
        seconds = request.task_duration.ToTimedelta() / timedelta(seconds=1)
        if not 0 <= seconds <= DEMO_MAX_SECONDS:
            problems.append(FieldViolation("task_duration", "0 to 60s"))
    if not 0 <= request.failure_rate <= 1:
        problems.append(FieldViolation("failure_rate", "0 to 1"))
    if problems:
        raise errors.invalid_argument(problems)
    return demos, seconds
