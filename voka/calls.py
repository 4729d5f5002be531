"""One server interceptor that runs a stack of hooks around every RPC, of every kind.

The contrib aio instrumentation breaks on stream-stream RPCs, and writing identity, errors,
logging, metrics and tracing as five interceptors would repeat the four-way handler wrapping five
times. Here a hook is an async context manager around one call; the interceptor wraps unary and
streaming handlers once, keeping the hooks entered until a stream's last message.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from dataclasses import dataclass, field
from typing import Any, TypeAlias

import grpc

Hook = Callable[["Call"], AbstractAsyncContextManager[None]]
Handler: TypeAlias = "grpc.RpcMethodHandler[Any, Any]"  # generic only in the type stubs


@dataclass
class Call:
    """What hooks know about the RPC in flight."""

    method: str  # "/voka.ops.v1.OpsService/GetHealth"
    context: grpc.aio.ServicerContext[Any, Any]
    streaming_response: bool
    state: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property  # hooks ask several times per call
    def service(self) -> str:
        return self.method.rsplit("/", 2)[1]

    @functools.cached_property
    def name(self) -> str:
        return self.method.rsplit("/", 1)[1]

    def metadata(self, key: str) -> str | None:
        """First value of an invocation metadata key (keys are lower-case in gRPC)."""
        for name, value in self.context.invocation_metadata() or ():
            if name == key:
                return value.decode() if isinstance(value, bytes) else value
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
    wrapped = (
        _streaming(behavior, method, hooks)
        if handler.response_streaming
        else _unary(behavior, method, hooks)
    )
    return factory(
        wrapped,
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _unary(behavior: Any, method: str, hooks: tuple[Hook, ...]) -> Any:
    async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
        call = Call(method=method, context=context, streaming_response=False)
        async with AsyncExitStack() as stack:
            await _enter_all(stack, hooks, call)
            return await behavior(request, context)

    return run


def _streaming(behavior: Any, method: str, hooks: tuple[Hook, ...]) -> Any:
    async def run(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
        call = Call(method=method, context=context, streaming_response=True)
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
