"""The kit's standard call hooks: observe (trace, log, metrics) and map errors to statuses."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from dataclasses import dataclass, field
from types import TracebackType
from typing import cast

import grpc
from grpc_status import rpc_status
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Gauge, Histogram

from voka import authn, metrics, telemetry
from voka.calls import Call, Hook, drain
from voka.errors import VokaError
from voka.latency import LatencyWindow

log = logging.getLogger("voka.rpc")


# Probes and health views every service answers: frequent and fast, they would hide a slow API.
_KIT_SERVICES = frozenset({
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "voka.ops.v1.OpsService",
})  # fmt: skip


def observe(latencies: LatencyWindow) -> Hook:
    """One span, one log line (with the caller and its actor; successful calls at DEBUG) and the
    RPC metrics per call, with the final status code; the latency of each unary call of the
    service's own API also goes to `latencies` (the health's p95 and its alert; streams last as
    long as their callers want)."""

    def hook(call: Call) -> _Observed:
        return _Observed(call, latencies)

    return hook


class _Observed:
    """`observe` around one call. A plain async context manager, and each method's labelled
    metrics looked up once: the generator-based manager and four `labels()` lookups (each
    validates the labels under a lock) were a third of the hook's CPU per call (bench/kit.py)."""

    __slots__ = ("_call", "_latencies", "_metrics", "_span", "_span_scope", "_start")

    def __init__(self, call: Call, latencies: LatencyWindow) -> None:
        self._call = call
        self._latencies = latencies

    async def __aenter__(self) -> None:
        call = self._call
        parent = telemetry.extract(tuple(call.context.invocation_metadata() or ()))
        self._start = time.perf_counter()
        self._metrics = _metrics_of(call.service, call.name)
        self._metrics.started.inc()
        self._metrics.in_flight.inc()
        self._span_scope = telemetry.span(
            call.method.lstrip("/"), kind=SpanKind.SERVER, attributes=_span_attributes(call),
            parent=parent,
        )  # fmt: skip
        self._span = self._span_scope.__enter__()

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        call = self._call
        try:
            self._metrics.in_flight.dec()
            seconds = time.perf_counter() - self._start
            code = _final_code(call, kind)
            _record(call, self._metrics, self._span, code, seconds)
            if not call.streaming_response and call.service not in _KIT_SERVICES:
                self._latencies.record(call.method, seconds, code == grpc.StatusCode.OK)
        finally:
            self._span_scope.__exit__(kind, error, traceback)


def _final_code(call: Call, kind: type[BaseException] | None) -> grpc.StatusCode:
    """The status the call ended with: the handler's (OK when it set none); an abort's (UNKNOWN
    when it set none); CANCELLED when the caller went away. Any other exception counts as OK
    here: `map_errors`, inside this hook, turns every one into an abort."""
    if kind is None:
        return _code(call) or grpc.StatusCode.OK
    if issubclass(kind, grpc.aio.AbortError):
        return _code(call) or grpc.StatusCode.UNKNOWN
    if issubclass(kind, (asyncio.CancelledError, GeneratorExit)):
        return grpc.StatusCode.CANCELLED
    return grpc.StatusCode.OK


@dataclass(frozen=True)
class _MethodMetrics:
    """One method's labelled RPC metrics; `handled` by status code, filled as codes occur."""

    started: Counter
    in_flight: Gauge
    seconds: Histogram
    handled: dict[grpc.StatusCode, Counter] = field(default_factory=dict)

    def handled_with(self, service: str, name: str, code: grpc.StatusCode) -> Counter:
        counter = self.handled.get(code)
        if counter is None:
            counter = self.handled[code] = metrics.RPC_HANDLED.labels(service, name, code.name)
        return counter


@functools.cache  # one entry per method a server serves (unknown methods never reach hooks)
def _metrics_of(service: str, name: str) -> _MethodMetrics:
    return _MethodMetrics(
        started=metrics.RPC_STARTED.labels(service, name),
        in_flight=metrics.RPC_IN_FLIGHT.labels(service),
        seconds=metrics.RPC_SECONDS.labels(service, name),
    )


def _code(call: Call) -> grpc.StatusCode | None:
    """The status the handler set; grpc answers None while none was set (its stubs say
    otherwise)."""
    return cast(grpc.StatusCode | None, call.context.code())


def _span_attributes(call: Call) -> dict[str, str]:
    return {"rpc.system": "grpc", "rpc.service": call.service, "rpc.method": call.name}


def _record(
    call: Call, kept: _MethodMetrics, span: trace.Span, code: grpc.StatusCode, seconds: float
) -> None:
    kept.handled_with(call.service, call.name, code).inc()
    kept.seconds.observe(seconds)
    span.set_attribute("rpc.grpc.status_code", code.value[0])
    if code is not grpc.StatusCode.OK:
        span.set_status(Status(StatusCode.ERROR, code.name))
    level = _log_level(code)
    if not log.isEnabledFor(level):
        return
    fields = {"rpc": call.method, "code": code.name, "ms": round(seconds * 1000, 2)}
    log.log(
        level,
        "%s %s %.1fms",
        call.method,
        code.name,
        seconds * 1000,
        extra={"fields": fields | _caller_fields()},
    )


def _caller_fields() -> dict[str, str]:
    """Who called, once the identity hook knew: the caller the call counted as and, for a
    service acting for a user, that service (the actor)."""
    identity = authn.optional_caller()
    if identity is None:
        return {}
    return {"caller": identity.subject} | ({"actor": identity.actor} if identity.actor else {})


_SERVER_FAULTS = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


def _log_level(code: grpc.StatusCode) -> int:
    """A call's log line: server faults are errors, refusals INFO, and a successful call an
    access-log line at DEBUG (`VOKA_LOG_LEVEL=DEBUG`): writing one JSON line per successful call
    cost more CPU than the rest of the kit's work on it (bench/kit.py), and the metrics and
    traces already count every call."""
    if code in _SERVER_FAULTS:
        return logging.ERROR
    return logging.DEBUG if code is grpc.StatusCode.OK else logging.INFO


def map_errors(call: Call) -> _MappedErrors:
    """VokaError → its status with details; an unbuilt RPC → UNIMPLEMENTED; any other
    exception → INTERNAL, logged, with nothing internal in the answer."""
    return _MappedErrors(call)


class _MappedErrors:
    """`map_errors` around one call, a plain manager (cheaper than a generator-based one)."""

    __slots__ = ("_call",)

    def __init__(self, call: Call) -> None:
        self._call = call

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if error is None or not isinstance(error, Exception):
            return  # done, or cancelled: nothing to answer
        if isinstance(error, grpc.aio.AbortError):
            return  # the handler aborted on purpose; its status stands
        call = self._call
        await drain(call)  # a client still streaming requests then hears the refusal
        if isinstance(error, VokaError):
            await call.context.abort_with_status(rpc_status.to_status(error.to_status()))
        elif isinstance(error, NotImplementedError):  # generated servicer bases' unbuilt RPCs
            await call.context.abort(
                grpc.StatusCode.UNIMPLEMENTED, f"{call.method} is not built yet"
            )
        else:
            log.error("unhandled error in %s", call.method, exc_info=error)
            await call.context.abort(grpc.StatusCode.INTERNAL, "internal error")
