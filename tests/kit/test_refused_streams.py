"""A client-streaming call refused by a hook or its handler: the client hears the refusal's
status, not a failed write. gRPC's Python client, still writing when the call ends, may report
INTERNAL ("Failed execute_batch"); the kit reads and drops what the client still sends (up to
voka.calls.DRAIN_BYTES or DRAIN_SECONDS) before it answers. A real grpc.aio server and client."""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import AsyncIterator

import grpc
import pytest

from voka import calls, errors, hooks
from voka.calls import Call, HookInterceptor


async def _refuse_uploads(call: Call) -> None:
    if call.name == "RefusedByHook":
        raise errors.permission_denied("no uploads for you")


class Uploads:
    """A real server behind the kit's error hook and a refusing `before` hook: one method the
    hook refuses, one whose handler refuses at the first message, one that reads everything."""

    def __init__(self) -> None:
        stack = [hooks.map_errors, calls.before(_refuse_uploads)]
        self.server = grpc.aio.server(interceptors=[HookInterceptor(stack)])
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.read = 0
        handlers = {
            name: grpc.stream_unary_rpc_method_handler(handler)
            for name, handler in (
                ("RefusedByHook", self._read_all),
                ("RefusedByHandler", self._refuse_at_first),
                ("ReadAll", self._read_all),
            )
        }
        self.server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("t.Uploads", handlers)]
        )

    async def _refuse_at_first(self, requests: AsyncIterator[bytes], context: object) -> bytes:
        async for _ in requests:
            raise errors.invalid_argument([errors.FieldViolation("body", "not audio")])
        return b""

    async def _read_all(self, requests: AsyncIterator[bytes], context: object) -> bytes:
        async for chunk in requests:
            self.read += len(chunk)
        return b"ok"


@pytest.fixture
async def uploads() -> AsyncIterator[Uploads]:
    served = Uploads()
    await served.server.start()
    yield served
    await served.server.stop(None)


async def _chunks(
    count: int, size: int, sent: list[int], pause: float = 0.0
) -> AsyncIterator[bytes]:
    for _ in range(count):
        sent.append(size)
        yield b"x" * size
        if pause:
            await asyncio.sleep(pause)


@pytest.mark.parametrize(
    ("method", "code"),
    [("RefusedByHook", "PERMISSION_DENIED"), ("RefusedByHandler", "INVALID_ARGUMENT")],
)
async def test_a_refused_upload_is_sent_whole_and_hears_the_refusal(
    uploads: Uploads, method: str, code: str
) -> None:
    """Many small uploads at once, each refused at once: every one gets the refusal's status,
    and every client sent all it had (the server drained it) before the answer came."""
    codes: collections.Counter[str] = collections.Counter()
    sent: list[list[int]] = []
    async with grpc.aio.insecure_channel(f"127.0.0.1:{uploads.port}") as channel:
        upload = channel.stream_unary(f"/t.Uploads/{method}")

        async def one() -> None:
            chunks: list[int] = []
            sent.append(chunks)
            try:
                await upload(_chunks(64, 4096, chunks))
            except grpc.aio.AioRpcError as refused:
                codes[refused.code().name] += 1

        for _ in range(5):
            await asyncio.gather(*(one() for _ in range(20)))
    assert codes == {code: 100}
    assert all(len(chunks) == 64 for chunks in sent)


async def test_a_refusal_drains_no_more_than_its_bounds(
    uploads: Uploads, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A stream longer than DRAIN_BYTES, or slower than DRAIN_SECONDS, is not read to its end:
    the refusal goes out while the client is still sending."""
    monkeypatch.setattr(calls, "DRAIN_BYTES", 100_000)
    monkeypatch.setattr(calls, "DRAIN_SECONDS", 0.3)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{uploads.port}") as channel:
        upload = channel.stream_unary("/t.Uploads/RefusedByHandler")
        long: list[int] = []
        with pytest.raises(grpc.aio.AioRpcError):
            await upload(_chunks(10_000, 4096, long))
        assert len(long) < 1000  # 40 MiB offered; a refusal after ~100 KB and a window or two
        slow: list[int] = []
        began = time.monotonic()
        with pytest.raises(grpc.aio.AioRpcError):
            await upload(_chunks(1000, 10, slow, pause=0.05))
        assert time.monotonic() - began < 3
        assert len(slow) < 100


async def test_an_upload_that_is_not_refused_is_read_by_its_handler_alone(
    uploads: Uploads,
) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{uploads.port}") as channel:
        sent: list[int] = []
        assert await channel.stream_unary("/t.Uploads/ReadAll")(_chunks(10, 1000, sent)) == b"ok"
    assert uploads.read == 10_000
