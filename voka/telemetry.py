"""Structured logs and OpenTelemetry tracing, with trace context carried over gRPC and NATS.

The W3C `traceparent` header is the one carrier everywhere: gRPC metadata on calls, NATS message
headers on events. Spans are recorded (their trace ids appear in every log line) but not yet
exported: no exporter is installed, which needs a collector to send to.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

_TRACER_NAME = "voka"


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


def setup_tracing(service: str, version: str) -> None:
    """Install the SDK tracer provider, so spans carry real trace ids across services. An
    exporter (OTLP to a collector) is the missing piece for seeing whole traces."""
    provider = TracerProvider(
        resource=Resource.create({"service.name": f"voka-{service}", "service.version": version})
    )
    trace.set_tracer_provider(provider)


def tracer() -> trace.Tracer:
    """The kit's tracer from the provider installed now (one object per provider: getting a
    tracer builds one, and event consumers ask for it on every delivery)."""
    return _tracer_of(trace.get_tracer_provider())


@functools.lru_cache(maxsize=4)
def _tracer_of(provider: trace.TracerProvider) -> trace.Tracer:
    return provider.get_tracer(_TRACER_NAME)


def inject(carrier: dict[str, str] | None = None) -> dict[str, str]:
    """Current trace context as headers (`traceparent`, `tracestate`)."""
    out: dict[str, str] = {} if carrier is None else carrier
    propagate.inject(out)
    return out


def extract(headers: Mapping[str, str] | Iterable[tuple[str, str | bytes]]) -> otel_context.Context:
    """Trace context from NATS headers or gRPC metadata pairs."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    carrier = {k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in items}
    return propagate.extract(carrier)
