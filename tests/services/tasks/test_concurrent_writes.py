"""Writes by one user at the same time all succeed (issue 15, item 2), on SQLite and on
PostgreSQL: 60 concurrent submissions and cancellations."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf import timestamp_pb2

from services.tasks.service import SPEC
from services.tasks.settings import TasksSettings
from tests.fixtures.tokens import TokenFactory
from tests.services.concurrency import failures, serving
from tools.processes import NatsServer
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

WRITES = 60


@pytest.fixture
async def stub(
    tokens: TokenFactory, nats: NatsServer, tmp_path: Path, database_url: str
) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    settings = TasksSettings(
        service="tasks", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file,
        nats_url=nats.url, database_url=database_url, tasks_embedded_workers=[],
        rate_limit_per_second=0,
    )  # fmt: skip
    async with serving(SPEC, settings, tasks_pb2_grpc.TasksServiceStub) as stub:
        yield stub


def _later(n: int) -> tasks_pb2.SubmitTaskRequest:
    """A task for in an hour: it waits, so it can be cancelled."""
    later = datetime.now(UTC) + timedelta(hours=1)
    return tasks_pb2.SubmitTaskRequest(
        function_name="demo.noop",
        not_before_time=timestamp_pb2.Timestamp(seconds=int(later.timestamp())),
        idempotency_key=f"task {n}",
    )


async def test_sixty_concurrent_submissions_and_cancellations_all_succeed(
    stub: tasks_pb2_grpc.TasksServiceStub, tokens: TokenFactory
) -> None:
    me = tokens.metadata(subject="users/alice")
    waiting = [(await stub.SubmitTask(_later(n), metadata=me)).name for n in range(WRITES // 2)]

    def write(n: int) -> Awaitable[object]:
        if n % 2:
            return stub.SubmitTask(_later(n + WRITES), metadata=me)
        cancel = tasks_pb2.CancelTaskRequest(name=waiting[n // 2], reason=f"cancel {n}")
        return stub.CancelTask(cancel, metadata=me)

    assert await failures(write(n) for n in range(WRITES)) == []
    states = [
        (await stub.GetTask(tasks_pb2.GetTaskRequest(name=name), metadata=me)).task.state
        for name in waiting
    ]
    assert set(states) == {tasks_pb2.TASK_STATE_CANCELLED}
