"""The tasks service in process on a real NATS server and SQLite, with its embedded workers
(GENERAL_PURPOSE and IO_INTENSIVE) and short delays so retries and aging show in milliseconds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from services.tasks.service import SPEC
from services.tasks.settings import TasksSettings
from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka.server import Running, start
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

WAIT = 10.0


def in_process(
    tokens: TokenFactory, nats: NatsServer, data_dir: Path, **overrides: Any
) -> TasksSettings:
    """The settings of a service run in process: a real NATS, SQLite under `data_dir`, short
    delays (retries and aging in milliseconds), no rate limit (tests poll GetTask every 20 ms);
    `overrides` on top."""
    return TasksSettings(**{
        "service": "tasks", "port": 0, "data_dir": data_dir, "jwks_file": tokens.jwks_file,
        "nats_url": nats.url, "tasks_shards": 4, "tasks_retry_base_seconds": 0.05,
        "tasks_retry_max_seconds": 0.2, "tasks_tick_seconds": 0.05, "rate_limit_per_second": 0,
        **overrides,
    })  # fmt: skip


@pytest.fixture(scope="module")
async def service(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    settings = in_process(tokens, nats, tmp_path_factory.mktemp("data"),
                          tasks_embedded_workers=["GENERAL_PURPOSE", "IO_INTENSIVE"])  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(service: Running) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{service.port}") as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)


async def wait_final(
    stub: tasks_pb2_grpc.TasksServiceStub,
    name: str,
    metadata: tuple[tuple[str, str]],
    within: float = WAIT,
) -> tasks_pb2.Task:
    """Poll GetTask until the task reaches a final state."""
    final = {tasks_pb2.TASK_STATE_SUCCEEDED, tasks_pb2.TASK_STATE_DEAD_LETTERED,
             tasks_pb2.TASK_STATE_CANCELLED}  # fmt: skip
    async with asyncio.timeout(within):
        while True:
            task = (await stub.GetTask(tasks_pb2.GetTaskRequest(name=name), metadata=metadata)).task
            if task.state in final:
                return task
            await asyncio.sleep(0.02)
