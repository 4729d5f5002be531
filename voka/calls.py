"""One server interceptor that runs a stack of hooks around every RPC, of every kind.

The contrib aio instrumentation breaks on stream-stream RPCs, and writing identity, errors,
logging, metrics and tracing as five interceptors would repeat the four-way handler wrapping five
times. Here a hook is an async context manager around one call; the interceptor wraps unary and
streaming handlers once, keeping the hooks entered until a stream's last message.

A call whose client streams its requests (an upload) is refused only once what the client is
still sending has been read and dropped, up to DRAIN_BYTES or DRAIN_SECONDS (`drain`, from
`map_errors`): gRPC's Python client, still writing when the call ends, may report its failed
write (INTERNAL, "Failed execute_batch") instead of the refusal's status. Past the bounds the
refusal goes out at once, so a large stream is not read to its end for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import grpc

Hook = Callable[["Call"], AbstractAsyncContextManager[None]]
Check = Callable[["Call"], Awaitable[None]]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic only in the type stubs

DRAIN_BYTES = 1 << 20  # of a refused call's request stream, read and dropped at most
DRAIN_SECONDS = 1.0


@dataclass
class Call:
    """What hooks know about the RPC in flight. `service` and `name` are split from `method`
    when not given (the interceptor splits each method's once)."""

    method: str  # "/voka.ops.v1.OpsService/GetHealth"
    context: grpc.aio.ServicerContext[Any, Any]
    streaming_response: bool
    state: dict[str, Any] = field(default_factory=dict)
    service: str = ""  # "voka.ops.v1.OpsService"
    name: str = ""  # "GetHealth"
    requests: AsyncIterator[Any] | None = None  # a client-streaming call's request stream

    def __post_init__(self) -> None:
        if not self.service:
            self.service, self.name = _parts(self.method)

    def metadata(self, key: str) -> str | None:
        """First value of an invocation metadata key (keys are lower-case in gRPC)."""
        for name, value in self.context.invocation_metadata() or ():
            if name == key:
                return value.decode() if isinstance(value, bytes) else value
        return None


def before(check: Check) -> Hook:
    """A hook that only acts on the way in (identity, rate limit): `check` raises to refuse
    the call. Its manager is a plain object, not a generator-based `asynccontextmanager`, whose
    generator and wrapping cost more than such a check itself, on every call (bench/kit.py)."""

    def hook(call: Call) -> _Before:
        return _Before(check, call)

    return hook


class _Before:
    __slots__ = ("_call", "_check")

    def __init__(self, check: Check, call: Call) -> None:
        self._check = check
        self._call = call

    async def __aenter__(self) -> None:
        await self._check(self._call)

    async def __aexit__(self, *exc_info: object) -> None:
        return None


class HookInterceptor(grpc.aio.ServerInterceptor):
    """Runs `hooks` (outermost first) around each call's handler."""

    def __init__(self, hooks: Sequence[Hook]) -> None:
        self._hooks = tuple(hooks)
        # Each method's handler as served, and its wrapped twin: gRPC hands the same handler
        # for a method every call, so it is wrapped once. One entry per method the server
        # serves (an unknown method has no handler).
        self._wrapped: dict[str, tuple[Handler, Handler]] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler | None]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Handler | None:
        handler = await continuation(handler_call_details)
        if handler is None:  # unknown method: gRPC answers UNIMPLEMENTED itself
            return None
        method = handler_call_details.method
        known = self._wrapped.get(method)
        if known is None or known[0] is not handler:
            known = self._wrapped[method] = (handler, _wrap(handler, method, self._hooks))
        return known[1]


_KINDS = {  # (request streaming, response streaming) -> the handler's behaviour and factory
    (False, False): ("unary_unary", grpc.unary_unary_rpc_method_handler),
    (False, True): ("unary_stream", grpc.unary_stream_rpc_method_handler),
    (True, False): ("stream_unary", grpc.stream_unary_rpc_method_handler),
    (True, True): ("stream_stream", grpc.stream_stream_rpc_method_handler),
}


def _wrap(handler: Handler, method: str, hooks: tuple[Hook, ...]) -> Handler:
    attr, factory = _KINDS[(handler.request_streaming, handler.response_streaming)]
    behavior = getattr(handler, attr)
    streamed = handler.request_streaming
    wrapped = (
        _streaming(behavior, method, hooks, streamed)
        if handler.response_streaming
        else _unary(behavior, method, hooks, streamed)
    )
    return factory(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _unary(behavior: Any, method: str, hooks: tuple[Hook, ...], streamed: bool) -> Any:
    """The handler inside the hooks, nested as plain `async with` blocks built once per
    method: an `AsyncExitStack` per call cost more than two of the hooks (bench/kit.py)."""
    service, name = _parts(method)

    def handler(request: Any, context: Any, _: Call) -> Any:
        return behavior(request, context)  # its own coroutine: no frame of ours around it

    inner: Callable[[Any, Any, Call], Awaitable[Any]] = handler
    for hook in reversed(hooks):
        inner = _within(hook, inner)

    async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        call = Call(method, context, False, {}, service, name, request if streamed else None)
        return await inner(request, context, call)

    return run


def _within(
    hook: Hook, inner: Callable[[Any, Any, Call], Awaitable[Any]]
) -> Callable[[Any, Any, Call], Awaitable[Any]]:
    """`inner` inside `hook`: entered after the hooks outside it, so a refusal by one is
    answered by those around it (the error hook)."""

    async def run(request: Any, context: Any, call: Call) -> Any:
        async with hook(call):
            return await inner(request, context, call)

    return run


def _streaming(behavior: Any, method: str, hooks: tuple[Hook, ...], streamed: bool) -> Any:
    service, name = _parts(method)

    async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        call = Call(method, context, True, {}, service, name, request if streamed else None)
        async with AsyncExitStack() as stack:
            await _enter_all(stack, hooks, call)
            result = behavior(request, context)
            if inspect.isasyncgen(result):
                async for response in result:
                    yield response
            else:  # a handler that writes with context.write() and returns
                await result

    return run


async def _enter_all(stack: AsyncExitStack, hooks: tuple[Hook, ...], call: Call) -> None:
    """Enter hooks in order inside the caller's stack: if one fails, the stack unwinds the ones
    already entered with that exception, so the error hook still answers for it."""
    for hook in hooks:
        await stack.enter_async_context(hook(call))


def _parts(method: str) -> tuple[str, str]:
    """("voka.ops.v1.OpsService", "GetHealth") from "/voka.ops.v1.OpsService/GetHealth"."""
    _, service, name = method.rsplit("/", 2)
    return service, name


async def drain(call: Call) -> None:
    """Read and drop what the client of a refused call still streams, within the bounds (see
    the module's docstring); a call without a request stream has nothing to drain. A stream
    that breaks, or that the handler is still reading elsewhere, ends it."""
    if call.requests is None:
        return
    drained = 0
    with contextlib.suppress(Exception):  # TimeoutError among them
        async with asyncio.timeout(DRAIN_SECONDS):
            async for message in call.requests:
                drained += len(message) if isinstance(message, bytes) else message.ByteSize()
                if drained > DRAIN_BYTES:
                    return
