"""A deleted account's tasks (finished, waiting and running) and webhooks go when auth
announces the deletion on NATS; other users keep theirs, and the event coming again changes
nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf import struct_pb2, timestamp_pb2

from services.tasks.service import SPEC
from tests.fixtures.nats import announce_user_deleted, erasure_settled
from tests.fixtures.tokens import TokenFactory
from tests.fixtures.waiting import eventually
from tests.services.tasks.conftest import in_process, wait_final
from tools.processes import NatsServer
from voka.server import Running, start
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

Metadata = tuple[tuple[str, str]]
GONE, STAYS = "users/gone-erasure", "users/stays-erasure"


@pytest.fixture
async def service(
    tokens: TokenFactory, nats: NatsServer, tmp_path: Path, database_url: str
) -> AsyncIterator[Running]:
    settings = in_process(tokens, nats, tmp_path, database_url=database_url,
                          tasks_embedded_workers=["GENERAL_PURPOSE", "IO_INTENSIVE"],
                          tasks_webhook_allowed_hosts=["127.0.0.1/32"])  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture
async def stub(service: Running) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)


def request(function: str, **args: object) -> tasks_pb2.SubmitTaskRequest:
    struct = struct_pb2.Struct()
    struct.update(args)
    return tasks_pb2.SubmitTaskRequest(function_name=function, args=struct)


async def keep(stub: tasks_pb2_grpc.TasksServiceStub, me: Metadata) -> str:
    """A finished, a scheduled and a running task and a webhook of `me`; the running task."""
    done = await stub.SubmitTask(request("demo.noop"), metadata=me)
    await wait_final(stub, done.name, me)
    later = request("demo.noop")
    hour = datetime.now(UTC) + timedelta(hours=1)
    later.not_before_time.CopyFrom(timestamp_pb2.Timestamp(seconds=int(hour.timestamp())))
    await stub.SubmitTask(later, metadata=me)
    running = await stub.SubmitTask(request("demo.sleep", seconds=30), metadata=me)
    webhook = tasks_pb2.Webhook(target_uri="http://127.0.0.1:9/hook",
                        event_subjects=["voka.meetings.client.created"])  # fmt: skip
    await stub.CreateWebhook(tasks_pb2.CreateWebhookRequest(webhook=webhook), metadata=me)

    async def started() -> bool:
        task = await stub.GetTask(tasks_pb2.GetTaskRequest(name=running.name), metadata=me)
        return task.task.state == tasks_pb2.TASK_STATE_RUNNING

    await eventually(started)
    return running.name


async def kept(stub: tasks_pb2_grpc.TasksServiceStub, me: Metadata, owner: str) -> tuple[int, int]:
    """How many tasks and webhooks `owner` (calling as `me`, an admin, who lists every owner's
    webhooks) has."""
    tasks = await stub.ListTasks(tasks_pb2.ListTasksRequest(), metadata=me)
    webhooks = await stub.ListWebhooks(tasks_pb2.ListWebhooksRequest(), metadata=me)
    return len(tasks.tasks), sum(w.owner == owner for w in webhooks.webhooks)


async def test_deleted_user_tasks_and_webhooks_are_erased(
    stub: tasks_pb2_grpc.TasksServiceStub, service: Running, tokens: TokenFactory,
    nats: NatsServer,
) -> None:  # fmt: skip
    gone, stays = (tokens.metadata(subject=subject, roles=("user", "admin"))  # webhooks: admins
                   for subject in (GONE, STAYS))  # fmt: skip
    await keep(stub, gone)
    running = await keep(stub, stays)

    await announce_user_deleted(nats.url, GONE)

    async def erased() -> bool:  # the running task stops first, then goes on redelivery
        return await kept(stub, gone, GONE) == (0, 0)

    await eventually(erased, within=20)
    assert await kept(stub, stays, STAYS) == (3, 1)
    still = await stub.GetTask(tasks_pb2.GetTaskRequest(name=running), metadata=stays)
    assert still.task.state == tasks_pb2.TASK_STATE_RUNNING

    await announce_user_deleted(nats.url, GONE)  # as a redelivery would
    await eventually(lambda: erasure_settled(service))
    assert await kept(stub, stays, STAYS) == (3, 1)
    assert await kept(stub, gone, GONE) == (0, 0)
