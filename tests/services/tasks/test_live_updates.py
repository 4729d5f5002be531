"""StreamTaskUpdates through gRPC in process on a real NATS and SQLite: the caller's tasks and
the figures as Server-Sent Events frames (one HttpBody each), keepalives through quiet spells,
the idle end, the cap per caller, and what is refused."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.tasks.service import SPEC
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.conftest import WAIT, in_process
from tools.processes import NatsServer
from voka.server import Running, start
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

HEARTBEAT = 0.3
IDLE = 2.0
PER_CALLER = 2


@pytest.fixture(scope="module")
async def live_stub(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    """The service with short heartbeat and idle times and two streams per caller; figures at
    most every 5 s, so a quiet stream has nothing to send but keepalives."""
    data: Path = tmp_path_factory.mktemp("live")
    settings = in_process(
        tokens, nats, data, tasks_embedded_workers=["GENERAL_PURPOSE"],
        tasks_live_heartbeat_seconds=HEARTBEAT, tasks_live_idle_seconds=IDLE,
        tasks_live_metrics_seconds=5.0, tasks_live_streams_per_caller=PER_CALLER,
    )  # fmt: skip
    running: Running = await start(SPEC, settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)
    await running.stop()


def parsed(data: bytes) -> tuple[str, Any]:
    """One frame: ("comment", text), ("retry", ms) or (event name, JSON data)."""
    text = data.decode()
    assert text.endswith("\n\n"), text  # one whole frame per HttpBody
    lines = text.removesuffix("\n\n").split("\n")
    if lines[0].startswith(":"):
        return "comment", lines[0][1:].strip()
    fields = dict(line.split(": ", 1) for line in lines)
    if "retry" in fields:
        return "retry", int(fields["retry"])
    return fields.get("event", "message"), json.loads(fields["data"])


async def next_frame(stream: Any) -> tuple[str, Any]:
    body = await asyncio.wait_for(stream.read(), WAIT)
    assert body is not grpc.aio.EOF
    assert body.content_type == "text/event-stream"
    return parsed(body.data)


async def next_event(stream: Any, name: str) -> Any:
    """The data of the next `name` event, skipping others."""
    while True:
        kind, data = await next_frame(stream)
        if kind == name:
            return data


def submit(function: str, **args: object) -> tasks_pb2.SubmitTaskRequest:
    request = tasks_pb2.SubmitTaskRequest(function_name=function)
    request.args.update(args)
    return request


async def test_the_callers_tasks_and_the_figures_arrive_as_they_change(
    live_stub: tasks_pb2_grpc.TasksServiceStub, tokens: TokenFactory
):
    me, other = (tokens.metadata(subject=f"users/{u}") for u in ("lena", "omar"))
    stream = live_stub.StreamTaskUpdates(tasks_pb2.StreamTaskUpdatesRequest(), metadata=me)
    assert await next_frame(stream) == ("retry", 3000)
    assert await next_event(stream, "tasks") == {"tasks": []}
    figures = json_format.ParseDict(await next_event(stream, "metrics"), tasks_pb2.TaskMetrics())
    assert figures.window.seconds == 60

    theirs = await live_stub.SubmitTask(submit("demo.noop"), metadata=other)
    mine = await live_stub.SubmitTask(submit("math.add", a=2, b=3), metadata=me)
    states: list[str] = []
    while "TASK_STATE_SUCCEEDED" not in states:
        page = (await next_event(stream, "tasks"))["tasks"]
        assert [t["name"] for t in page] == [mine.name]  # never the other caller's
        states.append(page[0]["state"])
    assert theirs.name not in json.dumps(page)
    order = [tasks_pb2.TaskState.Value(state) for state in states]
    assert order == sorted(order)  # QUEUED → RUNNING → SUCCEEDED, as they happened
    stream.cancel()


async def test_a_quiet_stream_sends_keepalives_then_ends_when_idle(
    live_stub: tasks_pb2_grpc.TasksServiceStub, tokens: TokenFactory
):
    me = tokens.metadata(subject="users/quinn")
    began = time.monotonic()
    frames = [
        parsed(body.data)
        async for body in live_stub.StreamTaskUpdates(
            tasks_pb2.StreamTaskUpdatesRequest(page_size=5), metadata=me, timeout=WAIT
        )
    ]
    took = time.monotonic() - began
    kinds = [kind for kind, _ in frames]
    assert kinds[:3] == ["retry", "tasks", "metrics"]
    assert frames[-1] == ("end", {"reason": "idle"})
    keepalives = kinds.count("comment")
    assert keepalives >= int(IDLE / HEARTBEAT) - 2, kinds
    assert set(kinds[3:-1]) == {"comment"}
    assert IDLE <= took < IDLE + HEARTBEAT + 2.0


async def test_a_caller_holds_at_most_the_cap_of_streams(
    live_stub: tasks_pb2_grpc.TasksServiceStub, tokens: TokenFactory
):
    me = tokens.metadata(subject="users/rita")
    request = tasks_pb2.StreamTaskUpdatesRequest()
    held = [live_stub.StreamTaskUpdates(request, metadata=me) for _ in range(PER_CALLER)]
    for stream in held:
        assert (await next_frame(stream))[0] == "retry"
    refused = live_stub.StreamTaskUpdates(request, metadata=me)
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await refused.read()
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "most per caller" in (caught.value.details() or "")
    # Someone else is not held back by rita's streams.
    others = live_stub.StreamTaskUpdates(request, metadata=tokens.metadata(subject="users/sam"))
    assert (await next_frame(others))[0] == "retry"
    others.cancel()
    # Closing one frees its place (once the service has seen the cancellation).
    held[0].cancel()
    codes: list[grpc.StatusCode] = []
    async with asyncio.timeout(WAIT):
        while True:
            again = live_stub.StreamTaskUpdates(request, metadata=me)
            try:
                first = await next_frame(again)
                break
            except grpc.aio.AioRpcError as exc:
                codes.append(exc.code())
                await asyncio.sleep(0.05)
    assert first[0] == "retry"
    assert set(codes) <= {grpc.StatusCode.RESOURCE_EXHAUSTED}
    again.cancel()
    held[1].cancel()


async def test_bad_filters_are_invalid_naming_the_field(
    live_stub: tasks_pb2_grpc.TasksServiceStub, tokens: TokenFactory
):
    request = tasks_pb2.StreamTaskUpdatesRequest(page_size=101, state=99)  # type: ignore[arg-type]
    stream = live_stub.StreamTaskUpdates(request, metadata=tokens.metadata(subject="users/tia"))
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(caught.value).details[0].Unpack(bad)
    assert {v.field for v in bad.field_violations} == {"page_size", "state"}


async def test_anonymous_callers_are_refused(live_stub: tasks_pb2_grpc.TasksServiceStub):
    stream = live_stub.StreamTaskUpdates(tasks_pb2.StreamTaskUpdatesRequest())
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await stream.read()
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
