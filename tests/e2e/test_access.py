"""Every protected RPC of every service refuses an anonymous caller, over direct gRPC (the path
internal callers take, without Envoy). The access rules come from the contracts. And every
service limits each caller's rate (the mesh gives kinect a tight limit for this)."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pool
from google.protobuf.descriptor import MethodDescriptor
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.e2e.conftest import RATE_LIMIT_BURST, RATE_LIMITED, sign_in
from tools.mesh import Mesh
from voka import registry
from voka.api.v1 import options_pb2
from voka.kinect.v1 import kinect_pb2, kinect_pb2_grpc

pytestmark = pytest.mark.integration


def _methods() -> Iterator[tuple[str, MethodDescriptor]]:
    """Every RPC of every service a domain serves: its main contract's and the others beside
    it (meetings' ContactService, assistant's OpenAI-shaped API, ...)."""
    pool = descriptor_pool.Default()
    for domain in registry.names():
        package = importlib.import_module(f"voka.{domain}.v1")
        for module in pkgutil.iter_modules(package.__path__):
            if module.name.endswith("_pb2"):
                importlib.import_module(f"{package.__name__}.{module.name}")
                contract = pool.FindFileByName(f"voka/{domain}/v1/{module.name[:-4]}.proto")
                for service in contract.services_by_name.values():
                    yield from ((domain, m) for m in service.methods)


def _access(method: MethodDescriptor) -> int:
    return int(method.GetOptions().Extensions[options_pb2.access])


PROTECTED = [(d, m) for d, m in _methods() if _access(m) != options_pb2.ACCESS_PUBLIC]


def test_every_service_has_protected_rpcs():
    assert {d for d, _ in PROTECTED} == set(registry.names())


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


@pytest.mark.parametrize("domain", registry.names())
def test_anonymous_call_to_every_protected_rpc_is_unauthenticated(mesh: Mesh, domain: str):
    methods = [m for d, m in PROTECTED if d == domain]
    with grpc.insecure_channel(mesh.service_address(domain)) as channel:
        for method in methods:
            with pytest.raises(grpc.RpcError) as err:
                _call(channel, method)
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED, method.full_name


# --- per-caller rate limits --------------------------------------------------------------------

STATUS = "/api/v1/kinect/status"


def test_a_users_calls_beyond_its_burst_are_429_with_retry_info(rest: httpx.Client):
    headers = sign_in(rest)
    codes = [rest.get(STATUS, headers=headers).status_code for _ in range(RATE_LIMIT_BURST)]
    assert 429 not in codes, codes
    refused = rest.get(STATUS, headers=headers)
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == 8  # RESOURCE_EXHAUSTED, from the service, not the edge
    retry = [d for d in refused.json()["details"] if d["@type"].endswith("RetryInfo")]
    assert retry[0]["retryDelay"].endswith("s")
    other = sign_in(rest)  # a bucket per user: another one is not affected
    assert rest.get(STATUS, headers=other).status_code != 429


def test_an_api_key_draws_from_its_owners_bucket(rest: httpx.Client):
    owner = sign_in(rest)
    created = rest.post("/api/v1/users/me/api-keys", json={"displayName": "x"}, headers=owner)
    as_key = {"x-api-key": created.json()["secret"]}
    for _ in range(RATE_LIMIT_BURST):
        rest.get(STATUS, headers=owner)
    assert rest.get(STATUS, headers=as_key).status_code == 429


def test_direct_grpc_callers_are_limited_too(rest: httpx.Client, mesh: Mesh):
    metadata = tuple(sign_in(rest).items())
    with grpc.insecure_channel(mesh.service_address(RATE_LIMITED)) as channel:
        stub = kinect_pb2_grpc.KinectServiceStub(channel)
        for _ in range(RATE_LIMIT_BURST):
            stub.GetStatus(kinect_pb2.GetStatusRequest(), metadata=metadata, timeout=10)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetStatus(kinect_pb2.GetStatusRequest(), metadata=metadata, timeout=10)
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(err.value)  # type: ignore[arg-type]
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert status.details[0].Unpack(retry)
    assert retry.retry_delay.seconds + retry.retry_delay.nanos > 0
