"""The kit's own tracing hook on all four RPC kinds (the contrib aio instrumentation breaks on
stream-stream): the server span joins the caller's trace from `traceparent`, is named after the
method and records the final status code. And the export: nothing leaves a process unless an
OTLP endpoint is configured; then its spans reach a real OTLP receiver, probes that start a
trace left out."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as otlp_grpc
from opentelemetry.exporter.otlp.proto.http import trace_exporter as otlp_http
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from tests.fixtures.tokens import TokenFactory
from tests.traces.otlp import otlp_receiver
from voka import telemetry
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


# --- export ----------------------------------------------------------------------------------


@pytest.fixture
def otel_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """No OTEL_* variable from the environment the tests run in."""
    for name in [n for n in os.environ if n.startswith("OTEL_")]:
        monkeypatch.delenv(name)
    return monkeypatch


def test_nothing_is_exported_without_an_endpoint(otel_env: pytest.MonkeyPatch):
    assert telemetry.span_exporter() is None
    otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    otel_env.setenv("OTEL_TRACES_EXPORTER", "none")
    assert telemetry.span_exporter() is None


@pytest.mark.parametrize(
    ("variables", "exporter"),
    [
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317"}, otlp_grpc.OTLPSpanExporter),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4317"}, otlp_grpc.OTLPSpanExporter),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318",
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
            },
            otlp_http.OTLPSpanExporter,
        ),
    ],
)
def test_an_endpoint_picks_the_otlp_exporter_of_its_protocol(
    otel_env: pytest.MonkeyPatch, variables: dict[str, str], exporter: type
):
    for name, value in variables.items():
        otel_env.setenv(name, value)
    chosen = telemetry.span_exporter()
    assert isinstance(chosen, exporter)
    chosen.shutdown()


def test_the_service_is_named_after_voka_unless_otel_service_name_says(
    otel_env: pytest.MonkeyPatch,
):
    resource = telemetry.tracer_provider("tasks", "1.2.3").resource.attributes
    assert (resource["service.name"], resource["service.version"]) == ("voka-tasks", "1.2.3")
    otel_env.setenv("OTEL_SERVICE_NAME", "tasks-eu")
    assert telemetry.tracer_provider("tasks", "1").resource.attributes["service.name"] == "tasks-eu"


def test_spans_reach_an_otlp_receiver_and_probes_that_start_a_trace_do_not(
    otel_env: pytest.MonkeyPatch,
):
    with otlp_receiver() as receiver:
        otel_env.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint)
        provider = telemetry.tracer_provider("unit", "1.2.3")
        tracer = provider.get_tracer("test")
        with tracer.start_as_current_span("grpc.health.v1.Health/Check") as probe:
            pass
        with (
            tracer.start_as_current_span("outer") as outer,
            tracer.start_as_current_span("grpc.health.v1.Health/Check"),
        ):
            pass
        assert provider.force_flush(10_000)
        spans = receiver.wait_for(lambda got: len(got) >= 2)
        provider.shutdown()
    assert probe.get_span_context().is_valid  # its log line still has ids
    assert not probe.get_span_context().trace_flags.sampled
    trace_id = format(outer.get_span_context().trace_id, "032x")
    assert sorted((s.name, s.service, s.trace_id) for s in spans) == [
        ("grpc.health.v1.Health/Check", "voka-unit", trace_id),
        ("outer", "voka-unit", trace_id),
    ]
    inner = next(s for s in spans if s.name != "outer")
    assert inner.parent_id == format(outer.get_span_context().span_id, "016x")


def test_with_nothing_exported_a_span_is_unsampled_with_valid_ids_in_the_callers_trace(
    otel_env: pytest.MonkeyPatch,
):
    """The kit's own non-recording span (no exporter): what the SDK would make, made cheaper."""
    silent = telemetry.tracer_provider("unit", "1")  # no endpoint: records nothing
    otel_env.setattr(trace, "get_tracer_provider", lambda: silent)
    before = trace.get_current_span()
    caller = telemetry.extract({"traceparent": TRACEPARENT, "tracestate": "vendor=kept"})
    with telemetry.span("joined", kind=trace.SpanKind.SERVER, parent=caller) as joined:
        assert trace.get_current_span() is joined
        with telemetry.span("child", kind=trace.SpanKind.INTERNAL) as child:
            assert trace.get_current_span() is child
        assert trace.get_current_span() is joined
    assert trace.get_current_span() is before
    with telemetry.span("new", kind=trace.SpanKind.SERVER) as fresh:
        pass
    ids = [s.get_span_context() for s in (joined, child, fresh)]
    assert not any(s.is_recording() for s in (joined, child, fresh))
    assert all(i.is_valid and not i.trace_flags.sampled for i in ids)
    assert [format(i.trace_id, "032x") for i in ids[:2]] == [TRACE_ID, TRACE_ID]
    assert format(ids[2].trace_id, "032x") != TRACE_ID  # no parent: a trace of its own
    assert len({i.span_id for i in ids} | {0x00F067AA0BA902B7}) == 4
    assert ids[0].trace_state.get("vendor") == "kept"


def test_extracting_the_same_headers_again_gives_the_same_context_whatever_is_current():
    """The tasks of one stream share their `traceparent`: it is parsed once, and the context it
    gives depends on the headers alone (not on the span current where it is asked again)."""
    headers = {"traceparent": TRACEPARENT, "tracestate": "vendor=kept"}
    first = telemetry.extract(headers)
    with telemetry.span("elsewhere", kind=trace.SpanKind.INTERNAL):
        again = telemetry.extract([(k.title(), v.encode()) for k, v in headers.items()])
    assert again is first
    parent = trace.get_current_span(first).get_span_context()
    assert (format(parent.trace_id, "032x"), parent.span_id) == (TRACE_ID, 0x00F067AA0BA902B7)
    other = telemetry.extract({"traceparent": f"00-{TRACE_ID}-00f067aa0ba902b8-01"})
    assert trace.get_current_span(other).get_span_context().span_id == 0x00F067AA0BA902B8
    assert not trace.get_current_span(telemetry.extract({})).get_span_context().is_valid
