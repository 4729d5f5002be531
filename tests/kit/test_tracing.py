"""The kit's own tracing hook on all four RPC kinds (the contrib aio instrumentation breaks on
stream-stream): the server span joins the caller's trace from `traceparent`, is named after the
method and records the final status code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.fixtures.tokens import TokenFactory
from voka.config import Settings
from voka.server import Running, ServiceSpec, single, start
from voka.tasks.v1 import tasks_pb2_grpc

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return exporter


@pytest.fixture
async def tasks(tokens: TokenFactory, tmp_path: Path) -> AsyncIterator[Running]:
    settings = Settings(service="tasks", port=0, data_dir=tmp_path, jwks_file=tokens.jwks_file)
    spec = ServiceSpec(
        name="tasks",
        build=single(lambda _: tasks_pb2_grpc.TasksServiceServicer()),
        bus=False,
    )
    running = await start(spec, settings)
    yield running
    await running.stop()


KINDS: dict[str, tuple[str, Callable[[grpc.aio.Channel, str], Any]]] = {
    "unary-unary": ("GetTask", lambda ch, p: ch.unary_unary(p)(b"", metadata=_md())),
    "unary-stream": ("WatchTask", lambda ch, p: _drain(ch.unary_stream(p)(b"", metadata=_md()))),
    "stream-unary": (
        "StreamSubmitTasks",
        lambda ch, p: ch.stream_unary(p)(iter([b""]), metadata=_md()),
    ),
}


def _md() -> tuple[tuple[str, str], ...]:
    return (("traceparent", TRACEPARENT),)


async def _drain(call: Any) -> None:
    async for _ in call:
        pass


@pytest.mark.parametrize("kind", sorted(KINDS))
async def test_span_joins_the_callers_trace(
    kind: str, tasks: Running, spans: InMemorySpanExporter, tokens: TokenFactory
):
    method, invoke = KINDS[kind]
    path = f"/voka.tasks.v1.TasksService/{method}"
    spans.clear()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tasks.port}") as channel:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await invoke(channel, path)
    assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED  # no token: refused, traced
    (span,) = [s for s in spans.get_finished_spans() if s.name == path.lstrip("/")]
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.kind == trace.SpanKind.SERVER
    assert span.attributes is not None
    assert span.attributes["rpc.method"] == method
    assert span.attributes["rpc.grpc.status_code"] == grpc.StatusCode.UNAUTHENTICATED.value[0]


async def test_stream_stream_span(tasks: Running, spans: InMemorySpanExporter):
    path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"
    spans.clear()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{tasks.port}") as channel:
        call = channel.stream_stream(path)(iter([b"\x3a\x00"]), metadata=_md())  # list_services
        replies = [r async for r in call]
    assert len(replies) == 1
    (span,) = [s for s in spans.get_finished_spans() if s.name == path.lstrip("/")]
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert span.attributes is not None
    assert span.attributes["rpc.grpc.status_code"] == 0
