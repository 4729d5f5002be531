"""Every protected RPC of every service refuses an anonymous caller, over direct gRPC (the path
internal callers take, without Envoy). The access rules come from the contracts."""

from __future__ import annotations

import importlib
from collections.abc import Iterator

import grpc
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor

from tools.mesh import Mesh
from voka.api.v1 import options_pb2
from voka.config import DOMAINS

pytestmark = pytest.mark.integration


def _methods() -> Iterator[tuple[str, MethodDescriptor]]:
    pool = descriptor_pool.Default()
    for domain in DOMAINS:
        importlib.import_module(f"voka.{domain}.v1.{domain}_pb2")
        service = pool.FindFileByName(f"voka/{domain}/v1/{domain}.proto").services_by_name
        for svc in service.values():
            yield from ((domain, m) for m in svc.methods)


def _access(method: MethodDescriptor) -> int:
    return int(method.GetOptions().Extensions[options_pb2.access])


PROTECTED = [(d, m) for d, m in _methods() if _access(m) != options_pb2.ACCESS_PUBLIC]


def test_every_service_has_protected_rpcs():
    assert {d for d, _ in PROTECTED} == set(DOMAINS)


def _call(channel: grpc.Channel, method: MethodDescriptor) -> None:
    path = f"/{method.containing_service.full_name}/{method.name}"
    kind = {
        (False, False): channel.unary_unary,
        (False, True): channel.unary_stream,
        (True, False): channel.stream_unary,
        (True, True): channel.stream_stream,
    }[(method.client_streaming, method.server_streaming)]
    stub = kind(path, request_serializer=None, response_deserializer=None)
    request = iter([b""]) if method.client_streaming else b""
    reply = stub(request, timeout=5)
    if method.server_streaming:
        list(reply)


@pytest.mark.parametrize("domain", DOMAINS)
def test_anonymous_call_to_every_protected_rpc_is_unauthenticated(mesh: Mesh, domain: str):
    methods = [m for d, m in PROTECTED if d == domain]
    with grpc.insecure_channel(mesh.service_address(domain)) as channel:
        for method in methods:
            with pytest.raises(grpc.RpcError) as err:
                _call(channel, method)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.full_name
