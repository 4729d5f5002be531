"""The tasks service through Envoy's REST mapping, as `make up` runs it: one replica holding
every shard lease, its embedded GENERAL_PURPOSE worker, SQLite."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.integration
WAIT = 30.0


def test_a_task_submitted_on_the_legacy_path_runs_and_its_changes_stream_as_sse(
    rest: httpx.Client,
):
    headers = sign_in(rest)
    submitted = rest.post(
        "/api/v1/high-scale-tasks/submit",
        json={"functionName": "math.add", "args": {"a": 2, "b": 3}, "priority": "PRIORITY_HIGH"},
        headers=headers,
    )
    assert submitted.status_code == 200, submitted.text
    name = submitted.json()["name"]
    with rest.stream("GET", f"/api/v1/{name}:watch", headers=headers, timeout=WAIT) as watch:
        assert watch.headers["content-type"].startswith("text/event-stream")
        states = [
            json.loads(line.removeprefix("data:"))["task"]["state"]
            for line in watch.iter_lines()
            if line.startswith("data:")
        ]
    assert states[-1] == "TASK_STATE_SUCCEEDED"
    task = rest.get(f"/api/v1/{name}", headers=headers).json()["task"]
    assert task["result"] == 5
    assert task["priority"] == "PRIORITY_HIGH"
    other = rest.get(f"/api/v1/{name}", headers=sign_in(rest))
    assert other.status_code == 404  # someone else's task is not revealed


def test_the_live_list_streams_through_envoy_as_server_sent_events(rest: httpx.Client):
    """StreamTaskUpdates' HttpBody frames, written by Envoy as text/event-stream: the page, the
    figures, then the submitted task's changes, each frame whole."""
    headers = sign_in(rest)
    with rest.stream("GET", "/api/v1/tasks:updates?pageSize=5", headers=headers,
                     timeout=WAIT) as live:  # fmt: skip
        assert live.status_code == 200
        assert live.headers["content-type"].startswith("text/event-stream")
        lines = live.iter_lines()
        assert next(lines) == "retry: 3000"
        events: list[tuple[str, Any]] = []
        kind = name = ""
        for line in lines:
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            if not line.startswith("data: "):
                continue
            data = json.loads(line.removeprefix("data: "))
            events.append((kind, data))
            if kind == "metrics" and not name:
                reply = rest.post("/api/v1/tasks", json={"functionName": "demo.noop"},
                                  headers=headers)  # fmt: skip
                name = reply.json()["name"]
            done = [t for t in data.get("tasks", []) if t["state"] == "TASK_STATE_SUCCEEDED"]
            if name in [t["name"] for t in done]:
                break
    assert [kind for kind, _ in events[:2]] == ["tasks", "metrics"]
    assert events[0][1] == {"tasks": []}


def test_a_bad_live_page_size_is_400_naming_the_field(rest: httpx.Client):
    reply = rest.get("/api/v1/tasks:updates?pageSize=500", headers=sign_in(rest))
    assert reply.status_code == 400, reply.text
    violations = reply.json()["details"][0]["fieldViolations"]
    assert [v["field"] for v in violations] == ["page_size"]


def test_unknown_function_is_400_naming_the_field(rest: httpx.Client):
    reply = rest.post(
        "/api/v1/tasks", json={"functionName": "os.system", "args": {}}, headers=sign_in(rest)
    )
    assert reply.status_code == 400, reply.text
    violations = reply.json()["details"][0]["fieldViolations"]
    assert [(v["field"], v["description"]) for v in violations] == [
        ("function_name", "is not a registered task function")
    ]


def test_the_lone_replica_leases_every_shard_and_control_is_for_admins(rest: httpx.Client):
    headers = sign_in(rest)
    status = rest.get("/api/v1/high-scale-tasks/status", headers=headers)
    assert status.status_code == 200, status.text
    body = status.json()["status"]
    owners = {s.get("ownerReplica") for s in body["shards"]}
    assert owners == {body["answeredBy"]}
    assert {s["state"] for s in body["shards"]} == {"SHARD_STATE_ACTIVE"}
    pause = {"pauseShard": {"shard": 0}}
    refused = rest.post("/api/v1/high-scale-tasks/control", json=pause, headers=headers)
    assert refused.status_code == 403
