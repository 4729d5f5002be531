"""A real OTLP/gRPC receiver for tests: the collector's `TraceService/Export`, built from
`opentelemetry-proto`, keeping every span it is sent.

It serves from grpc's own threads, not from an asyncio loop: the processes that export to it
(the mesh's services, Envoy, the kit's batch processor) send whenever they like, also while a
synchronous test holds the loop still."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1 import common_pb2
from opentelemetry.proto.trace.v1 import trace_pb2


@dataclass(frozen=True)
class ReceivedSpan:
    """A span as exported: ids in hex (`parent_id` empty for a root), its process's
    `service.name`, and its attributes as plain values."""

    service: str
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    kind: str
    attributes: dict[str, Any]


def _value(value: common_pb2.AnyValue) -> Any:
    field = value.WhichOneof("value")
    return getattr(value, field) if field else None


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


class Receiver(trace_service_pb2_grpc.TraceServiceServicer):
    """Keeps what it receives; `wait_for` blocks until the spans a test expects are in."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._arrived = threading.Condition()
        self.port = 0

    @property
    def endpoint(self) -> str:
        """For OTEL_EXPORTER_OTLP_ENDPOINT (plain text: `http://`)."""
        return f"http://127.0.0.1:{self.port}"

    def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        received = []
        for resource_spans in request.resource_spans:
            service = str(_attributes(resource_spans.resource.attributes).get("service.name"))
            for scope_spans in resource_spans.scope_spans:
                received.extend(_received(service, span) for span in scope_spans.spans)
        with self._arrived:
            self._spans.extend(received)
            self._arrived.notify_all()
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[ReceivedSpan]:
        with self._arrived:
            return list(self._spans)

    def clear(self) -> None:
        with self._arrived:
            self._spans.clear()

    def wait_for(
        self, found: Callable[[list[ReceivedSpan]], bool], timeout: float = 30.0
    ) -> list[ReceivedSpan]:
        """Every span received, once `found(spans)` holds; AssertionError after `timeout`."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while not found(list(self._spans)):
                left = deadline - time.monotonic()
                if left <= 0:
                    names = sorted({(s.service, s.name) for s in self._spans})
                    raise AssertionError(f"spans still missing after {timeout}s; got {names}")
                self._arrived.wait(left)
            return list(self._spans)


def _received(service: str, span: trace_pb2.Span) -> ReceivedSpan:
    return ReceivedSpan(
        service=service,
        name=span.name,
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_id=span.parent_span_id.hex(),
        kind=trace_pb2.Span.SpanKind.Name(span.kind),
        attributes=_attributes(span.attributes),
    )


@contextmanager
def otlp_receiver() -> Iterator[Receiver]:
    """A Receiver listening on a free port of 127.0.0.1 until the block ends."""
    receiver = Receiver()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    receiver.port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield receiver
    finally:
        server.stop(grace=None)
