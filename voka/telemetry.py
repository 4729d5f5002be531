"""Structured logs and OpenTelemetry tracing, with trace context carried over gRPC and NATS.

The W3C `traceparent` header is the one carrier everywhere: gRPC metadata on calls, NATS message
headers on events, and Envoy starts it at the edge. Every call and delivery has a span with
valid ids (they appear in every log line and travel to peers); spans are recorded and leave the
process only where a collector is named with the standard variables
(`OTEL_EXPORTER_OTLP_ENDPOINT` or `..._TRACES_ENDPOINT`), so one machine exports nothing and
pays next to nothing for it (`span`), and a cluster sends every process's spans to its
OpenTelemetry Collector (docs/operations.md, "Traces").
"""

from __future__ import annotations

import functools
import json
import logging
import os
import random
import sys
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.propagators.textmap import TextMapPropagator
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, NonRecordingSpan, SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

_TRACER_NAME = "voka"
# Health probes (kubelet, Envoy's active checks, peers) call every few seconds: spans of probes
# that start a trace are not sampled, so they never crowd the collector. A probe inside a traced
# request keeps its span.
_PROBE_SPANS = "grpc.health.v1.Health/"


def setup_logging(service: str, level: str = "INFO", json_lines: bool = True) -> None:
    """Configure the root logger once per process: one JSON object per line, with trace ids."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter(service)
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


class JsonFormatter(logging.Formatter):
    """Log records as JSON, so log pipelines parse them without regexes."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self._service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self._service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def setup_tracing(service: str, version: str) -> TracerProvider:
    """Install the process's tracer provider (`tracer_provider`), so spans carry real trace
    ids across services and, where a collector is configured, reach it."""
    provider = tracer_provider(service, version)
    trace.set_tracer_provider(provider)
    return provider


def tracer_provider(service: str, version: str) -> TracerProvider:
    """A tracer provider named `voka-<service>` (`OTEL_SERVICE_NAME` wins where set), sampling
    as `OTEL_TRACES_SAMPLER` says (default: parent-based, always on) but for probes that start
    a trace, exporting in batches (`OTEL_BSP_*`) to the OTLP endpoint when one is configured.
    Its spans still buffered at exit are sent then (the SDK's exit hook).

    With no exporter configured nothing would ever read a span, so none is recorded: every span
    is a non-recording one that still has a valid context (trace ids in log lines, `traceparent`
    to peers, marked unsampled). Recording them cost about 70 µs of CPU per call (bench/kit.py)."""
    attributes = {"service.version": version}
    if not os.environ.get("OTEL_SERVICE_NAME"):
        attributes["service.name"] = f"voka-{service}"
    exporter = span_exporter()
    provider = TracerProvider(resource=Resource.create(attributes))
    if exporter is None:
        provider.sampler = ALWAYS_OFF
        return provider
    provider.sampler = ProbesUnsampled(provider.sampler)  # before any tracer takes it
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def span_exporter() -> SpanExporter | None:
    """The OTLP exporter the standard variables ask for, or None (nothing leaves the process):
    when no endpoint is set, or `OTEL_TRACES_EXPORTER` is `none`. The protocol is gRPC unless
    `OTEL_EXPORTER_OTLP_[TRACES_]PROTOCOL` is `http/protobuf`; the exporter itself reads the
    endpoint, headers, timeout, compression and TLS variables."""
    env = os.environ
    if not any(env.get(f"OTEL_EXPORTER_OTLP{kind}_ENDPOINT") for kind in ("_TRACES", "")):
        return None
    exporters = {e.strip().lower() for e in env.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if "none" in exporters:
        return None
    if "otlp" not in exporters:
        logging.getLogger(__name__).warning(
            "OTEL_TRACES_EXPORTER=%s: only otlp (or none) is installed; no spans exported",
            env["OTEL_TRACES_EXPORTER"],
        )
        return None
    protocol = (
        env.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or env.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "grpc"
    )
    # Imported here: a process that exports nothing never loads the exporters.
    if protocol.strip() == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import trace_exporter as otlp_http  # noqa: PLC0415

        return otlp_http.OTLPSpanExporter()
    from opentelemetry.exporter.otlp.proto.grpc import trace_exporter as otlp_grpc  # noqa: PLC0415

    return otlp_grpc.OTLPSpanExporter()


class ProbesUnsampled(Sampler):
    """`inner`'s decisions, except that a health probe starting a trace is dropped (its span
    context stays valid, so its log line still has ids)."""

    def __init__(self, inner: Sampler) -> None:
        self._inner = inner

    def should_sample(  # noqa: PLR0917 (the SDK's signature)
        self,
        parent_context: otel_context.Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        if name.startswith(_PROBE_SPANS):
            parent = trace.get_current_span(parent_context).get_span_context()
            if not parent.is_valid:
                return SamplingResult(Decision.DROP)
        return self._inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"ProbesUnsampled{{{self._inner.get_description()}}}"


def tracer() -> trace.Tracer:
    """The kit's tracer from the provider installed now (one object per provider: getting a
    tracer builds one, and event consumers ask for it on every delivery)."""
    return _tracer_of(trace.get_tracer_provider())


@functools.lru_cache(maxsize=4)
def _tracer_of(provider: trace.TracerProvider) -> trace.Tracer:
    return provider.get_tracer(_TRACER_NAME)


def span(
    name: str, *, kind: SpanKind, attributes: Attributes = None,
    parent: otel_context.Context | None = None,
) -> AbstractContextManager[trace.Span]:  # fmt: skip
    """A span made current for a `with` block, a child of `parent` (else of the current
    context). Where the installed provider records nothing (`tracer_provider` with no exporter),
    the span is a `NonRecordingSpan` with fresh ids made here, as the SDK would make it, without
    its sampler call, id generator and two generator-based context managers: every RPC and every
    delivery pays for one (bench/kit.py)."""
    if _records(trace.get_tracer_provider()):
        return tracer().start_as_current_span(
            name, context=parent, kind=kind, attributes=attributes
        )
    return _Unrecorded(parent)


@functools.lru_cache(maxsize=4)
def _records(provider: trace.TracerProvider) -> bool:
    return not (isinstance(provider, TracerProvider) and provider.sampler is ALWAYS_OFF)


class _Unrecorded(AbstractContextManager[trace.Span]):
    """An unsampled span: the parent's trace (or a new one) and a new span id."""

    __slots__ = ("_parent", "_token")

    def __init__(self, parent: otel_context.Context | None) -> None:
        self._parent = parent

    def __enter__(self) -> trace.Span:
        parent = otel_context.get_current() if self._parent is None else self._parent
        above = trace.get_current_span(parent).get_span_context()
        made = NonRecordingSpan(
            SpanContext(
                above.trace_id if above.is_valid else random.getrandbits(128),
                random.getrandbits(64), is_remote=False, trace_flags=TraceFlags(TraceFlags.DEFAULT),
                trace_state=above.trace_state,
            )
        )  # fmt: skip
        self._token = otel_context.attach(trace.set_span_in_context(made, parent))
        return made

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        otel_context.detach(self._token)


def inject(
    carrier: dict[str, str] | None = None, context: otel_context.Context | None = None
) -> dict[str, str]:
    """A trace context (the current one unless `context` is given) as headers
    (`traceparent`, `tracestate`)."""
    out: dict[str, str] = {} if carrier is None else carrier
    propagate.inject(out, context=context)
    return out


EXTRACTED_CACHED = 1024  # trace contexts kept by their header values (a few hundred KiB at most)


def extract(headers: Mapping[str, str] | Iterable[tuple[str, str | bytes]]) -> otel_context.Context:
    """Trace context from NATS headers or gRPC metadata pairs. The context made from the same
    header values is kept and handed out again: the tasks of one stream share a `traceparent`,
    and parsing it per task was a tenth of a worker's CPU per no-op task. A context is
    immutable, so sharing one is safe; the key is every header the propagator reads."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    carrier = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in items}
    textmap = propagate.get_global_textmap()
    return _extracted(textmap, tuple(carrier.get(name) for name in _fields(textmap)))


@functools.lru_cache(maxsize=4)
def _fields(textmap: TextMapPropagator) -> tuple[str, ...]:
    """The headers `textmap` reads, in a fixed order (the cache key's)."""
    return tuple(sorted(textmap.fields))


@functools.lru_cache(maxsize=EXTRACTED_CACHED)
def _extracted(textmap: TextMapPropagator, values: tuple[str | None, ...]) -> otel_context.Context:
    named = zip(_fields(textmap), values, strict=True)
    carrier = {name: value for name, value in named if value is not None}
    # From an empty context, not the current one: what comes back depends on the headers alone.
    return textmap.extract(carrier, context=otel_context.Context())
