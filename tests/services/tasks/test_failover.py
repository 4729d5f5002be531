"""Crashes, with real processes: replicas (`python -m services.tasks`) and workers
(`python -m services.tasks.worker`) killed with SIGKILL, a real NATS server, real databases.
Delays are short (2 s leases and visibility) so each recovery shows within seconds."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path

import grpc
import pytest
from google.protobuf import duration_pb2, struct_pb2

from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.tasks.conftest import wait_final
from tests.services.tasks.effects import EFFECTS_DIR
from tests.services.tasks.processes import Child, Replica, Worker
from tools.processes import NatsServer
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

SHARDS = 4
RECOVERY = 90.0  # seconds: process starts are slow on a busy 2-core machine
Metadata = tuple[tuple[str, str]]


@pytest.fixture
def effects(tmp_path: Path) -> Path:
    directory = tmp_path / "effects"
    directory.mkdir()
    return directory


def environment(
    tokens: TokenFactory, nats_url: str, tmp_path: Path, effects: Path, database_url: str = ""
) -> dict[str, str]:
    return {
        "VOKA_NATS_URL": nats_url, "VOKA_DATA_DIR": str(tmp_path / "data"),
        "VOKA_DATABASE_URL": database_url, "VOKA_JWKS_FILE": str(tokens.jwks_file),
        "VOKA_LOG_JSON": "false", "VOKA_DRAIN_SECONDS": "0", "VOKA_RATE_LIMIT_PER_SECOND": "0",
        "VOKA_TASKS_SHARDS": str(SHARDS), "VOKA_TASKS_LEASE_SECONDS": "2",
        "VOKA_TASKS_VISIBILITY_SECONDS": "2", "VOKA_TASKS_TICK_SECONDS": "0.05",
        "VOKA_TASKS_RETRY_BASE_SECONDS": "0.1", "VOKA_TASKS_RETRY_MAX_SECONDS": "0.5",
        "VOKA_TASKS_EMBEDDED_WORKERS": "[]",
        "VOKA_TASKS_FUNCTION_MODULES": json.dumps(["tests.services.tasks.effects"]),
        EFFECTS_DIR: str(effects),
    }  # fmt: skip


@pytest.fixture
def children() -> Iterator[list[Child]]:
    """Every child a test starts; whatever is still running at the end is killed."""
    started: list[Child] = []
    yield started
    for child in started:
        child.kill()


@contextlib.asynccontextmanager
async def stub_of(replica: Replica) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    async with grpc.aio.insecure_channel(replica.address) as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)


def effect_request(key: str, seconds: float) -> tasks_pb2.SubmitTaskRequest:
    args = struct_pb2.Struct()
    args.update({"key": key, "seconds": seconds})
    return tasks_pb2.SubmitTaskRequest(
        function_name="test.effect", args=args, shard_key=key, max_attempts=10,
        attempt_timeout=duration_pb2.Duration(seconds=3),
    )  # fmt: skip


async def submit_effects(
    stub: tasks_pb2_grpc.TasksServiceStub, keys: Sequence[str], me: Metadata, seconds: float
) -> list[str]:
    batch = tasks_pb2.BatchSubmitTasksRequest(requests=[effect_request(k, seconds) for k in keys])
    reply = await stub.BatchSubmitTasks(batch, metadata=me)
    return [r.name for r in reply.results]


async def all_final(
    stub: tasks_pb2_grpc.TasksServiceStub, names: Sequence[str], me: Metadata
) -> list[tasks_pb2.Task]:
    return list(await asyncio.gather(*(wait_final(stub, n, me, within=RECOVERY) for n in names)))


async def count_states(
    stub: tasks_pb2_grpc.TasksServiceStub, names: Sequence[str], me: Metadata
) -> Counter[int]:
    tasks = await asyncio.gather(
        *(stub.GetTask(tasks_pb2.GetTaskRequest(name=n), metadata=me) for n in names)
    )
    return Counter(t.task.state for t in tasks)


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    """Other processes' state: there is no event to wait on."""
    await eventually(check, RECOVERY)


def assert_effects_once(effects: Path, keys: Sequence[str]) -> None:
    """Every key's effect exists once; each ran at least once (more after a crash is fine)."""
    assert sorted(p.stem for p in effects.glob("*.done")) == sorted(keys)
    runs = Counter((effects / "runs.log").read_text().split())
    assert set(runs) == set(keys)


async def test_a_worker_killed_mid_task_its_task_completes_on_another(
    tokens: TokenFactory, nats_server: NatsServer, tmp_path: Path, effects: Path,
    children: list[Child],
) -> None:  # fmt: skip
    env = environment(tokens, nats_server.url, tmp_path, effects)
    replica = Replica(env, tmp_path / "logs" / "replica.log")
    first = Worker(["IO_INTENSIVE"], env, tmp_path / "logs" / "first.log")
    children += [replica, first]
    replica.wait_serving()
    me = tokens.metadata(subject="users/alice")
    async with stub_of(replica) as stub:
        [name] = await submit_effects(stub, ["slow"], me, seconds=2.0)

        async def running_on_first() -> bool:
            task = (await stub.GetTask(tasks_pb2.GetTaskRequest(name=name), metadata=me)).task
            return task.state == tasks_pb2.TASK_STATE_RUNNING and task.worker == first.name

        await until(running_on_first)
        first.kill()
        second = Worker(["IO_INTENSIVE"], env, tmp_path / "logs" / "second.log")
        children.append(second)
        task = await wait_final(stub, name, me, within=RECOVERY)
    assert task.state == tasks_pb2.TASK_STATE_SUCCEEDED
    assert task.worker == second.name
    assert_effects_once(effects, ["slow"])


async def test_a_replica_of_two_killed_its_shards_fail_over_and_every_task_completes(
    tokens: TokenFactory, nats_server: NatsServer, tmp_path: Path, effects: Path,
    postgres_url: str, children: list[Child],
) -> None:  # fmt: skip
    env = environment(tokens, nats_server.url, tmp_path, effects, postgres_url)
    doomed = Replica(env, tmp_path / "logs" / "doomed.log")
    doomed.wait_serving()
    survivor = Replica(env, tmp_path / "logs" / "survivor.log")
    worker = Worker(["IO_INTENSIVE"], env, tmp_path / "logs" / "worker.log")
    children += [doomed, survivor, worker]
    survivor.wait_serving()
    me, admin = tokens.metadata(subject="users/bob"), tokens.metadata(roles=("admin",))
    keys = [f"k{i}" for i in range(40)]
    async with stub_of(survivor) as stub:

        async def held_by() -> dict[str, list[int]]:
            status = await stub.GetSchedulerStatus(
                tasks_pb2.GetSchedulerStatusRequest(), metadata=admin
            )
            return {r.id: list(r.shards) for r in status.status.replicas}

        async def balanced() -> bool:
            return sorted(len(s) for s in (await held_by()).values()) == [2, 2]

        await until(balanced)
        async with stub_of(doomed) as other:  # half accepted by each replica
            names = await submit_effects(other, keys[:20], me, seconds=0.3)
        names += await submit_effects(stub, keys[20:], me, seconds=0.3)

        async def some_done() -> bool:
            return (await count_states(stub, names, me))[tasks_pb2.TASK_STATE_SUCCEEDED] >= 5

        await until(some_done)
        doomed.kill()
        finished = await all_final(stub, names, me)

        async def survivor_holds_all() -> bool:
            return sorted(len(s) for s in (await held_by()).values()) == [SHARDS]

        await until(survivor_holds_all)
    assert {t.state for t in finished} == {tasks_pb2.TASK_STATE_SUCCEEDED}
    assert_effects_once(effects, keys)


async def test_after_a_restart_of_everything_no_accepted_task_is_lost(
    tokens: TokenFactory, tmp_path: Path, effects: Path, children: list[Child]
) -> None:
    nats = NatsServer(tmp_path / "nats-home")
    nats.start()
    try:
        env = environment(tokens, nats.url, tmp_path, effects)
        replica = Replica(env, tmp_path / "logs" / "replica-1.log")
        worker = Worker(["IO_INTENSIVE"], env, tmp_path / "logs" / "worker-1.log")
        children += [replica, worker]
        replica.wait_serving()
        me = tokens.metadata(subject="users/carol")
        keys = [f"r{i}" for i in range(30)]
        async with stub_of(replica) as stub:
            names = await submit_effects(stub, keys, me, seconds=0.3)

            async def partly_done() -> bool:
                return (await count_states(stub, names, me))[tasks_pb2.TASK_STATE_SUCCEEDED] >= 3

            await until(partly_done)
        replica.kill()
        worker.kill()
        nats.stop()

        nats.start()  # same ports, same JetStream store; same SQLite file for the replica
        again = Replica(env, tmp_path / "logs" / "replica-2.log")
        worker = Worker(["IO_INTENSIVE"], env, tmp_path / "logs" / "worker-2.log")
        children += [again, worker]
        again.wait_serving()
        async with stub_of(again) as stub:
            finished = await all_final(stub, names, me)
    finally:
        nats.stop()
    assert {t.state for t in finished} == {tasks_pb2.TASK_STATE_SUCCEEDED}
    assert_effects_once(effects, keys)
