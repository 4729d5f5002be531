"""The kit's standard call hooks: observe (trace, log, metrics) and map errors to statuses."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import cast

import grpc
from grpc_status import rpc_status
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from voka import authn, metrics, telemetry
from voka.calls import Call, Hook
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

    @asynccontextmanager
    async def hook(call: Call) -> AsyncIterator[None]:
        parent = telemetry.extract(tuple(call.context.invocation_metadata() or ()))
        token = otel_context.attach(parent)
        start = time.perf_counter()
        metrics.RPC_STARTED.labels(call.service, call.name).inc()
        in_flight = metrics.RPC_IN_FLIGHT.labels(call.service)
        in_flight.inc()
        with telemetry.tracer().start_as_current_span(
            call.method.lstrip("/"), kind=SpanKind.SERVER, attributes=_span_attributes(call)
        ) as span:
            code = grpc.StatusCode.OK
            try:
                yield
                code = _code(call) or grpc.StatusCode.OK
            except grpc.aio.AbortError:
                code = _code(call) or grpc.StatusCode.UNKNOWN
                raise
            except (asyncio.CancelledError, GeneratorExit):
                code = grpc.StatusCode.CANCELLED
                raise
            finally:
                in_flight.dec()
                seconds = time.perf_counter() - start
                _record(call, span, code, seconds)
                if not call.streaming_response and call.service not in _KIT_SERVICES:
                    latencies.record(call.method, seconds, code == grpc.StatusCode.OK)
                otel_context.detach(token)

    return hook


def _code(call: Call) -> grpc.StatusCode | None:
    """The status the handler set; grpc answers None while none was set (its stubs say
    otherwise)."""
    return cast(grpc.StatusCode | None, call.context.code())


def _span_attributes(call: Call) -> dict[str, str]:
    return {"rpc.system": "grpc", "rpc.service": call.service, "rpc.method": call.name}


def _record(call: Call, span: trace.Span, code: grpc.StatusCode, seconds: float) -> None:
    metrics.RPC_HANDLED.labels(call.service, call.name, code.name).inc()
    metrics.RPC_SECONDS.labels(call.service, call.name).observe(seconds)
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


@asynccontextmanager
async def map_errors(call: Call) -> AsyncIterator[None]:
    """VokaError → its status with details; an unbuilt RPC → UNIMPLEMENTED; any other
    exception → INTERNAL, logged, with nothing internal in the answer."""
    try:
        yield
    except grpc.aio.AbortError:
        raise  # the handler aborted on purpose; its status stands
    except VokaError as exc:
        await call.context.abort_with_status(rpc_status.to_status(exc.to_status()))
    except NotImplementedError:  # what generated servicer bases raise for unbuilt RPCs
        await call.context.abort(grpc.StatusCode.UNIMPLEMENTED, f"{call.method} is not built yet")
    except Exception:
        log.exception("unhandled error in %s", call.method)
        await call.context.abort(grpc.StatusCode.INTERNAL, "internal error")
