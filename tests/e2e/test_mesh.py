"""What `make up` must show: every service reachable over REST through Envoy and over gRPC with
reflection, errors mapped to HTTP with JSON bodies, server streams as Server-Sent Events."""

from __future__ import annotations

import time

import grpc
import httpx
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from tests.e2e.conftest import sign_in
from tools.mesh import Mesh
from voka import registry

pytestmark = pytest.mark.integration

SERVICES = {
    "auth": "voka.auth.v1.AuthService",
    "translate": "voka.translate.v1.TranslateService",
    "speech": "voka.speech.v1.SpeechService",
    "assistant": "voka.assistant.v1.AssistantService",
    "tasks": "voka.tasks.v1.TasksService",
    "kinect": "voka.kinect.v1.KinectService",
    "meetings": "voka.meetings.v1.MeetingsService",
}


@pytest.mark.parametrize("domain", registry.names())
def test_rest_call_through_envoy_reaches_each_service(rest: httpx.Client, domain: str):
    reply = rest.get(f"/api/v1/health/{domain}")
    assert reply.status_code == 200
    health = reply.json()["health"]
    assert health["service"] == domain
    assert health["status"] == "SERVING_STATUS_SERVING"


def test_reflection_lists_all_seven_services(mesh: Mesh):
    found: set[str] = set()
    for domain in registry.names():
        with grpc.insecure_channel(mesh.service_address(domain)) as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            request = reflection_pb2.ServerReflectionRequest(list_services="")
            (reply,) = stub.ServerReflectionInfo(iter([request]), timeout=5)
            found |= {s.name for s in reply.list_services_response.service}
    assert set(SERVICES.values()) <= found
    assert {"voka.ops.v1.OpsService", "grpc.health.v1.Health"} <= found


def test_server_stream_arrives_as_sse_events_one_by_one(rest: httpx.Client):
    url = "/api/v1/health/tasks:watch"
    arrivals: list[float] = []
    start = time.monotonic()
    params = {"interval": "0.5s", "max_events": "3"}
    with rest.stream("GET", url, params=params, timeout=10) as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        for line in reply.iter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic() - start)
                assert '"service":"tasks"' in line.replace(" ", "")
    assert len(arrivals) == 3
    # Unbuffered: each event is read as it is sent, about one interval after the previous one.
    assert arrivals[1] - arrivals[0] >= 0.4
    assert arrivals[2] - arrivals[1] >= 0.4


def test_validation_error_is_400_with_the_bad_field_named(rest: httpx.Client):
    reply = rest.get("/api/v1/health/tasks:watch", params={"interval": "0.001s"})
    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == 3  # INVALID_ARGUMENT
    violations = [
        v
        for d in body["details"]
        if d["@type"].endswith("BadRequest")
        for v in d["fieldViolations"]
    ]
    assert [v["field"] for v in violations] == ["interval"]


def test_unknown_api_path_is_404_json(rest: httpx.Client):
    reply = rest.get("/api/v1/no-such-thing")
    assert reply.status_code == 404
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.json() == {"code": 5, "message": "no such API path", "details": []}


def test_unknown_query_parameter_is_400_json(rest: httpx.Client):
    reply = rest.get("/api/v1/health/tasks", params={"colour": "blue"})
    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("application/json")
    body = reply.json()
    assert body["code"] == 3
    assert "colour" in body["message"]


def test_protected_rpc_without_token_is_401(rest: httpx.Client):
    reply = rest.get("/api/v1/kinect/status")
    assert reply.status_code == 401
    assert reply.json()["code"] == 16  # UNAUTHENTICATED


def test_cors_preflight_is_answered(rest: httpx.Client):
    reply = rest.options(
        "/api/v1/health/tasks",
        headers={
            "origin": "http://localhost:3000",
            "access-control-request-method": "GET",
            "access-control-request-headers": "authorization",
        },
    )
    assert reply.status_code == 200
    assert reply.headers["access-control-allow-origin"] in ("*", "http://localhost:3000")


async def test_each_service_published_its_status_on_nats(mesh: Mesh):
    import nats

    from voka.ops.v1 import events_pb2

    nc = await nats.connect(mesh.nats_url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe("voka.ops.service.status_changed", stream="VOKA_OPS")
        messages = await sub.fetch(50, timeout=2)
    finally:
        await nc.close()
    events = [events_pb2.ServiceStatusChangedEvent.FromString(m.data) for m in messages]
    assert {e.service for e in events} >= set(registry.names())
    assert all(m.headers and m.headers.get("Voka-Event-Id") for m in messages)


def test_health_checks_nats_in_every_service(rest: httpx.Client):
    for domain in registry.names():
        health = rest.get(f"/api/v1/health/{domain}").json()["health"]
        checks = {d["name"]: d["ok"] for d in health["dependencies"]}
        assert checks.get("nats") is True, (domain, health)


def test_unknown_resource_is_404_json(rest: httpx.Client):
    headers = sign_in(rest)
    reply = rest.get("/api/v1/projects/0123456789abcdef", headers=headers)
    assert reply.status_code == 404
    body = reply.json()
    assert body["code"] == 5
    assert "projects/0123456789abcdef" in body["message"]


def test_created_resource_is_listed_over_rest(rest: httpx.Client):
    headers = sign_in(rest)
    created = rest.post("/api/v1/clients", json={"displayName": "Acme"}, headers=headers)
    assert created.status_code == 200, created.text
    name = created.json()["client"]["name"]
    listed = rest.get("/api/v1/clients", headers=headers).json()
    assert [c["name"] for c in listed["clients"]] == [name]
    other = rest.get("/api/v1/clients", headers=sign_in(rest)).json()
    assert other.get("clients", []) == []
