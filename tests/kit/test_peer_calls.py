"""voka.peer_calls against a real gRPC server: which refusals are final, which are retried."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc
import pytest

from voka import errors, peer_calls

METHOD = "/kit.test.Peer/Answer"
Rpc = Callable[..., Awaitable[bytes]]


@pytest.fixture
async def peer() -> AsyncIterator[Rpc]:
    """A peer that answers each request with the status code the request names."""

    async def answer(request: bytes, context: grpc.aio.ServicerContext[Any, Any]) -> bytes:
        code = grpc.StatusCode[request.decode()]
        if code is grpc.StatusCode.OK:
            return b"fine"
        await context.abort(code, f"the peer says {code.name}")
        raise AssertionError("abort returns no answer")

    server = grpc.aio.server()
    handler = grpc.unary_unary_rpc_method_handler(answer)
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("kit.test.Peer", {"Answer": handler})]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    yield channel.unary_unary(METHOD)
    await channel.close()
    await server.stop(0)


RETRIED = ["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "ABORTED", "INTERNAL",
           "UNKNOWN", "UNAUTHENTICATED"]  # fmt: skip
FINAL = ["INVALID_ARGUMENT", "FAILED_PRECONDITION", "OUT_OF_RANGE", "NOT_FOUND",
         "ALREADY_EXISTS", "PERMISSION_DENIED", "UNIMPLEMENTED"]  # fmt: skip


def test_every_status_code_has_one_verdict() -> None:
    assert {c.name for c in peer_calls.FINAL} == set(FINAL)
    assert not set(RETRIED) & set(FINAL)


async def test_an_answer_passes_through(peer: Rpc) -> None:
    assert await peer_calls.call(peer, b"OK", timeout=5.0) == b"fine"


@pytest.mark.parametrize("code", FINAL)
async def test_a_final_refusal_is_refused_error(peer: Rpc, code: str) -> None:
    with pytest.raises(peer_calls.RefusedError) as refused:
        await peer_calls.call(peer, code.encode(), timeout=5.0)
    assert refused.value.code is grpc.StatusCode[code]
    assert str(refused.value) == f"{code}: the peer says {code}"


@pytest.mark.parametrize("code", RETRIED)
async def test_a_passing_failure_raises_as_it_is_for_a_retry(peer: Rpc, code: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await peer_calls.call(peer, code.encode(), timeout=5.0)
    assert failed.value.code() is grpc.StatusCode[code]


async def test_answering_names_the_peer_for_the_waiting_caller(peer: Rpc) -> None:
    with pytest.raises(errors.VokaError) as refused, peer_calls.answering("speech"):
        await peer_calls.call(peer, b"NOT_FOUND", timeout=5.0)
    assert refused.value.code is grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.message.startswith("the speech service refused: NOT_FOUND")
    with pytest.raises(errors.VokaError) as down, peer_calls.answering("speech"):
        await peer_calls.call(peer, b"UNAVAILABLE", timeout=5.0)
    assert down.value.code is grpc.StatusCode.UNAVAILABLE
    assert "speech service is unavailable" in down.value.message


async def test_a_peers_calls_reach_every_replica() -> None:
    """Two replicas behind one address list: the kit's channel spreads calls over both (in
    Kubernetes `dns:///<peer>:<port>` resolves a headless Service to every pod the same way)."""
    servers, ports = [], []
    for replica in ("a", "b"):

        async def answer(
            request: bytes, context: grpc.aio.ServicerContext[Any, Any], me: str = replica
        ) -> bytes:
            return me.encode()

        server = grpc.aio.server()
        handler = grpc.unary_unary_rpc_method_handler(answer)
        server.add_generic_rpc_handlers(
            [grpc.method_handlers_generic_handler("kit.test.Peer", {"Answer": handler})]
        )
        ports.append(server.add_insecure_port("127.0.0.1:0"))
        await server.start()
        servers.append(server)
    channel = peer_calls.open_channel(f"ipv4:127.0.0.1:{ports[0]},127.0.0.1:{ports[1]}")
    try:
        rpc = channel.unary_unary(METHOD)
        answers = [await peer_calls.call(rpc, b"OK", timeout=5.0) for _ in range(20)]
        assert answers.count(b"a") >= 5
        assert answers.count(b"b") >= 5
    finally:
        await channel.close()
        for server in servers:
            await server.stop(0)
