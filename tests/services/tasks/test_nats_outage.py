"""A task accepted while NATS is down runs once NATS is back, within seconds, and as one attempt:
its dispatch, published while the connection was gone, is not left RUNNING until its attempt
timeout (300 s for `demo.noop`) and a visibility timeout have passed. (The dispatches JetStream
refuses outright, as while a cluster elects a stream leader, are the scheduler's `_unsent`: see
tests/cluster.)"""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from services.tasks.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import in_process, wait_final
from tools.processes import NatsServer
from voka.bus import PUBLISH_ATTEMPTS, PUBLISH_TIMEOUT
from voka.server import start
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

OUTAGE = PUBLISH_ATTEMPTS * PUBLISH_TIMEOUT + 2.0


async def test_a_task_accepted_while_nats_is_down_runs_when_it_returns(
    tokens: TokenFactory, nats_server: NatsServer, tmp_path: Path
) -> None:
    settings = in_process(tokens, nats_server, tmp_path / "data",
                          tasks_embedded_workers=["GENERAL_PURPOSE"])  # fmt: skip
    running = await start(SPEC, settings)
    me = tokens.metadata(subject="users/outage")
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = tasks_pb2_grpc.TasksServiceStub(channel)
            await asyncio.to_thread(nats_server.stop)  # off the loop, so the client sees it go
            submitted = await stub.SubmitTask(
                tasks_pb2.SubmitTaskRequest(function_name="demo.noop"), metadata=me
            )
            # Longer than a publish's attempts (voka.bus: 3 x 2 s): the dispatch fails.
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(nats_server.start)
            task = await wait_final(stub, submitted.name, me, within=20.0)
    finally:
        await running.stop()
    assert task.state == tasks_pb2.TASK_STATE_SUCCEEDED
    assert task.attempts == 1  # a publish retried is no new attempt
