"""Contact messages through Envoy, as `make up` runs them: sent without a token, the honeypot
answered like an accepted message and stored nowhere, the per-address limit (keyed by the
address Envoy saw, whatever `x-forwarded-for` claims) answering 429, and an admin listing,
marking, converting and deleting over REST while a plain user gets 403.

The only test of the mesh that sends contact messages: it spends the loopback address's burst
(VOKA_MEETINGS_CONTACT_BURST, 5 by default)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.e2e.conftest import sign_in
from tests.e2e.test_webhooks import admin
from tools.mesh import Mesh

pytestmark = pytest.mark.integration
PATH = "/api/v1/contact-messages"
BURST = 5


def message(subject: str, **fields: str) -> dict[str, str]:
    return {"senderName": "Ana", "email": f"{uuid.uuid4().hex[:8]}@example.com",
            "subject": subject, "body": "Hello from the site."} | fields  # fmt: skip


def test_contact_messages_end_to_end(rest: httpx.Client, mesh: Mesh):
    subject = f"quote {uuid.uuid4().hex[:6]}"
    sent = rest.post(PATH, json=message(subject))  # no token
    assert sent.status_code == 200, sent.text
    assert sent.json() == {}
    bot = rest.post(PATH, json=message("bot", website="https://spam.example"))
    assert (bot.status_code, bot.json()) == (200, {})  # the same answer: nothing to learn
    bad = rest.post(PATH, json=message("x", email="nope"))
    assert bad.status_code == 400, bad.text
    fields = [v["field"] for v in bad.json()["details"][0]["fieldViolations"]]
    assert fields == ["contact_message.email"]

    # Three attempts spent; the rest of the burst, then 429, whatever x-forwarded-for says.
    codes = [
        rest.post(
            PATH, json=message(f"more {n}"), headers={"x-forwarded-for": f"198.51.100.{n}"}
        ).status_code
        for n in range(BURST - 2)
    ]
    assert codes == [200] * (BURST - 3) + [429], codes
    limited = rest.post(PATH, json=message("again"))
    assert limited.status_code == 429
    assert "address" in limited.json()["message"]

    headers, user = admin(rest, mesh), sign_in(rest)
    assert rest.get(PATH, headers=user).status_code == 403
    assert rest.get(PATH).status_code == 401
    listed = rest.get(PATH, params={"readFilter": "READ_FILTER_UNREAD"}, headers=headers)
    assert listed.status_code == 200, listed.text
    subjects = [m["subject"] for m in listed.json()["contactMessages"]]
    assert subject in subjects
    assert "bot" not in subjects
    assert len(subjects) == BURST - 3 + 1  # the first, and the burst's accepted ones
    [mine] = [m for m in listed.json()["contactMessages"] if m["subject"] == subject]
    name = mine["name"]

    marked = rest.patch(f"/api/v1/{name}", json={"read": True},
                        params={"updateMask": "read"}, headers=headers)  # fmt: skip
    assert marked.status_code == 200, marked.text
    assert marked.json()["contactMessage"]["read"] is True
    read = rest.get(PATH, params={"readFilter": "READ_FILTER_READ"}, headers=headers)
    assert [m["name"] for m in read.json()["contactMessages"]] == [name]

    converted = rest.post(f"/api/v1/{name}:convert", json={}, headers=headers)
    assert converted.status_code == 200, converted.text
    client = converted.json()["client"]
    assert client["displayName"] == "Ana"
    assert converted.json()["contactMessage"]["client"] == client["name"]
    assert rest.get(f"/api/v1/{client['name']}", headers=headers).status_code == 200
    twice = rest.post(f"/api/v1/{name}:convert", json={}, headers=headers)
    assert twice.status_code == 400, twice.text  # FAILED_PRECONDITION

    assert rest.delete(f"/api/v1/{name}", headers=user).status_code == 403
    assert rest.delete(f"/api/v1/{name}", headers=headers).status_code == 200
    assert rest.get(f"/api/v1/{name}", headers=headers).status_code == 404
