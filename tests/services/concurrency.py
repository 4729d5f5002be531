"""Helpers of the services' concurrent-writes tests (issue 15, item 2): a service started on
the test's database, and many calls at once with what each failing one answered."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import TypeVar

import grpc

from voka.config import Settings
from voka.server import ServiceSpec, start

StubT = TypeVar("StubT")


@contextlib.asynccontextmanager
async def serving(
    spec: ServiceSpec, settings: Settings, stub: Callable[[grpc.aio.Channel], StubT]
) -> AsyncIterator[StubT]:
    """The service started in process, and a stub on it; stopped afterwards."""
    running = await start(spec, settings)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield stub(channel)
    finally:
        await running.stop()


async def failures(calls: Iterable[Awaitable[object]]) -> list[str]:
    """Run the calls all at once; the answer of each one that failed (empty: none did)."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    return [
        f"{o.code().name}: {o.details()}" if isinstance(o, grpc.aio.AioRpcError) else repr(o)
        for o in outcomes
        if isinstance(o, BaseException)
    ]
