"""One tenancy table, run through Envoy against a List and a Get of every service that keeps
user data (voka.tenancy): a record is its owner's and the admins'; a List's `owner` is the
caller's own when empty, everyone's with `-` and a named user's, both for admins only."""

from __future__ import annotations

import io
import math
import struct
import wave
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.conftest import sign_in
from tests.e2e.test_webhooks import admin
from tools.mesh import Mesh

pytestmark = pytest.mark.integration
Headers = dict[str, str]


def tone_wav(seconds: float = 0.5, rate: int = 16_000) -> bytes:
    """A short real WAV (a 440 Hz tone): enough for speech to accept a transcription job."""
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * i / rate)))
        for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()


@dataclass(frozen=True)
class Collection:
    """A service's user data as REST shows it: how to make one record and where to list it."""

    service: str
    make: Callable[[httpx.Client, Headers], str]  # -> the record's resource name
    list_path: str
    items: str  # the list response's field
    get_prefix: str  # GET <prefix><name>
    has_owner_filter: bool = True


def _translation(rest: httpx.Client, headers: Headers) -> str:
    body = {"text": "Good morning.", "sourceLanguageCode": "en", "targetLanguageCode": "es"}
    reply = rest.post("/api/v1/translate", json=body, headers=headers)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["translation"])


def _transcription(rest: httpx.Client, headers: Headers) -> str:
    reply = rest.post("/api/v1/transcriptions", content=tone_wav(),
                      headers={**headers, "content-type": "audio/wav"})  # fmt: skip
    assert reply.status_code == 200, reply.text
    return str(reply.json()["transcription"]["name"])


def _text_entry(rest: httpx.Client, headers: Headers) -> str:
    reply = rest.post(
        "/api/v1/text-entries",
        params={"original_text": "A tone."},
        content=tone_wav(),
        headers={**headers, "content-type": "audio/wav"},
    )
    assert reply.status_code == 200, reply.text
    return str(reply.json()["textEntry"]["name"])


def _conversation(rest: httpx.Client, headers: Headers) -> str:
    reply = rest.post("/api/v1/conversations", json={"displayName": "tenancy"}, headers=headers)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["conversation"]["name"])


def _memory(rest: httpx.Client, headers: Headers) -> str:
    reply = rest.post("/api/v1/memories", json={"content": "I live in Lisbon."}, headers=headers)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["memory"]["name"])


def _task(rest: httpx.Client, headers: Headers) -> str:
    reply = rest.post("/api/v1/tasks", json={"functionName": "demo.noop"}, headers=headers)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["name"])


def _client(rest: httpx.Client, headers: Headers) -> str:
    reply = rest.post("/api/v1/clients", json={"displayName": "Acme"}, headers=headers)
    assert reply.status_code == 200, reply.text
    return str(reply.json()["client"]["name"])


COLLECTIONS = [
    Collection("translate", _translation, "/api/v1/translate/translations", "translations",
               "/api/v1/translate/"),
    Collection("speech", _transcription, "/api/v1/transcriptions", "transcriptions", "/api/v1/"),
    Collection("speech-text-entries", _text_entry, "/api/v1/text-entries", "textEntries",
               "/api/v1/"),
    Collection("assistant", _conversation, "/api/v1/conversations", "conversations", "/api/v1/"),
    Collection("assistant-memories", _memory, "/api/v1/memories", "memories", "/api/v1/"),
    Collection("tasks", _task, "/api/v1/tasks", "tasks", "/api/v1/"),
    # Clients have no `owner` filter: a List is always the caller's own.
    Collection("meetings", _client, "/api/v1/clients", "clients", "/api/v1/",
               has_owner_filter=False),
]  # fmt: skip


@dataclass(frozen=True)
class People:
    alice: Headers
    bob: Headers
    root: Headers
    alice_subject: str


@pytest.fixture(scope="module")
def people(rest: httpx.Client, mesh: Mesh) -> People:
    alice = sign_in(rest)
    me = rest.get("/api/v1/users/me", headers=alice)
    assert me.status_code == 200, me.text
    return People(alice, sign_in(rest), admin(rest, mesh), str(me.json()["user"]["name"]))


def listed(rest: httpx.Client, collection: Collection, headers: Headers, owner: str) -> set[str]:
    params = {"owner": owner, "pageSize": "500"} if owner else {"pageSize": "500"}
    reply = rest.get(collection.list_path, params=params, headers=headers)
    assert reply.status_code == 200, reply.text
    return {str(item["name"]) for item in reply.json().get(collection.items, [])}


@pytest.mark.parametrize("collection", COLLECTIONS, ids=lambda c: c.service)
def test_the_tenancy_table(rest: httpx.Client, people: People, collection: Collection) -> None:
    name = collection.make(rest, people.alice)
    alices = people.alice_subject
    # (caller, owner asked for) -> whether alice's record is in the list
    table: list[tuple[str, Headers, str, bool]] = [
        ("the owner, owner empty", people.alice, "", True),
        ("another user, owner empty", people.bob, "", False),
    ]
    if collection.has_owner_filter:
        table += [
            ("the owner, her own name", people.alice, alices, True),
            ("another user naming the owner", people.bob, alices, False),
            ("another user asking for everyone", people.bob, "-", False),
            ("an admin, owner empty: the admin's own", people.root, "", False),
            ("an admin naming the owner", people.root, alices, True),
            ("an admin asking for everyone", people.root, "-", True),
        ]
    for case, headers, owner, shown in table:
        assert (name in listed(rest, collection, headers, owner)) is shown, case
    get = collection.get_prefix + name
    assert rest.get(get, headers=people.alice).status_code == 200
    assert rest.get(get, headers=people.bob).status_code == 404  # not 403: existence is hidden
    assert rest.get(get, headers=people.root).status_code == 200
