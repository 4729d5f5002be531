"""Meetings through Envoy's REST mapping, as `make up` runs them: a client, a project and a
meeting made over REST, read back, listed with a filter, a 400 naming the field, another
user's meeting answering 404, and joining giving the Jitsi room URL."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import sign_in

pytestmark = pytest.mark.integration
START = "2030-01-15T10:00:00Z"


def made(reply: httpx.Response, field: str) -> dict[str, object]:
    assert reply.status_code == 200, reply.text
    body: dict[str, object] = reply.json()[field]
    return body


def test_meetings_over_rest(rest: httpx.Client):
    ada, eve = sign_in(rest), sign_in(rest)
    client = made(rest.post("/api/v1/clients", json={"displayName": "Acme"}, headers=ada),
                  "client")  # fmt: skip
    project = made(rest.post("/api/v1/projects", json={"title": "Site", "client": client["name"]},
                             headers=ada), "project")  # fmt: skip
    meeting = made(rest.post(f"/api/v1/{project['name']}/meetings",
                             json={"title": "Kick-off", "startTime": START}, headers=ada),
                   "meeting")  # fmt: skip
    assert meeting["project"] == project["name"]
    assert meeting["state"] == "MEETING_STATE_SCHEDULED"
    name = meeting["name"]

    got = made(rest.get(f"/api/v1/{name}", headers=ada), "meeting")
    assert got["title"] == "Kick-off"
    assert got["startTime"] == START
    listed = rest.get("/api/v1/meetings", params={"project": project["name"]}, headers=ada)
    assert [m["name"] for m in listed.json()["meetings"]] == [name]
    assert listed.json()["totalSize"] == 1
    other = rest.get("/api/v1/meetings", params={"state": "MEETING_STATE_ENDED"}, headers=ada)
    assert other.json().get("meetings", []) == []

    bad = rest.post("/api/v1/meetings", json={"title": "No time"}, headers=ada)
    assert bad.status_code == 400, bad.text
    fields = [v["field"] for v in bad.json()["details"][0]["fieldViolations"]]
    assert fields == ["meeting.start_time"]

    assert rest.get(f"/api/v1/{name}", headers=eve).status_code == 404
    assert rest.post(f"/api/v1/{name}:join", json={}, headers=eve).status_code == 404

    joined = rest.post(f"/api/v1/{name}:join", json={"displayName": "Ada"}, headers=ada)
    assert joined.status_code == 200, joined.text
    room = joined.json()
    assert room["roomUrl"] == f"{room['jitsiDomain']}/{room['roomName']}"
    assert room["roomName"].startswith("voka-")
    assert room["participant"]["presence"] == "PARTICIPANT_PRESENCE_JOINED"
