"""Contact messages: the public contact form and the admins' inbox (ContactService), served in
process over gRPC on an SQLite file and on a fresh PostgreSQL database (every test using
`settings` runs on both); the store's pages; the event, published through the outbox on a real
NATS server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.meetings.contact.limits import REFUSED
from services.meetings.contact.records import ContactMessageRecord
from services.meetings.contact.store import ContactQuery
from services.meetings.database import Database
from services.meetings.service import SPEC
from services.meetings.settings import MeetingsSettings
from tests.fixtures.events import published
from tests.fixtures.tokens import TokenFactory
from tests.services.meetings.conftest import (
    User,
    bad_fields,
    failure,
    mask,
    start_meetings,
)
from tools.processes import NatsServer
from voka.addresses import EXTERNAL_ADDRESS, GATEWAY_HEADER
from voka.bus import subject_of
from voka.config import Settings
from voka.meetings.v1 import (
    contact_pb2,
    contact_pb2_grpc,
    events_pb2,
    meetings_pb2,
    meetings_pb2_grpc,
)
from voka.pagination import Cursor, Page
from voka.server import Running, start

GATEWAY_SECRET = "gateway-proof"
Received = events_pb2.ContactMessageReceivedEvent


def contact_settings(settings: Settings, **contact: Any) -> MeetingsSettings:
    """The test's settings as the meetings service's own, the contact form's bounds set."""
    bounds = {"meetings_contact_burst": 100, "meetings_contact_max_body_chars": 1000} | contact
    return MeetingsSettings(**settings.model_dump() | {"gateway_secret": GATEWAY_SECRET} | bounds)


class Inbox:
    """The contact service as an anonymous sender, an admin, a plain user and meetings' own
    stub for the admin (to see the clients a conversion made)."""

    def __init__(self, channel: grpc.aio.Channel, tokens: TokenFactory) -> None:
        stub = contact_pb2_grpc.ContactServiceStub(channel)
        meetings = meetings_pb2_grpc.MeetingsServiceStub(channel)
        admin = tokens.metadata(subject="users/root", roles=("user", "admin"))
        alice = tokens.metadata(subject="users/alice")
        self.anonymous = User(stub, ())
        self.admin, self.admin_meetings = User(stub, admin), User(meetings, admin)
        self.alice, self.alice_meetings = User(stub, alice), User(meetings, alice)

    async def send(self, **fields: Any) -> contact_pb2.SendContactMessageResponse:
        return await self.anonymous.SendContactMessage(request(**fields))

    async def get(self, name: str) -> contact_pb2.ContactMessage:
        reply = await self.admin.GetContactMessage(contact_pb2.GetContactMessageRequest(name=name))
        return reply.contact_message

    async def names(self, **query: Any) -> list[str]:
        reply = await self.admin.ListContactMessages(
            contact_pb2.ListContactMessagesRequest(**query)
        )
        return [message.name for message in reply.contact_messages]


def request(**fields: Any) -> contact_pb2.SendContactMessageRequest:
    sent = {"sender_name": "Ana", "email": "ana@example.com", "body": "Hello!"} | fields
    return contact_pb2.SendContactMessageRequest(contact_message=contact_pb2.ContactMessage(**sent))


def from_address(address: str, proof: str = GATEWAY_SECRET) -> tuple[tuple[str, str], ...]:
    """What Envoy adds to a call it forwards: the client's address and its proof."""
    return ((EXTERNAL_ADDRESS, address), (GATEWAY_HEADER, proof))


@pytest.fixture
async def serving(settings: Settings) -> AsyncIterator[Running]:
    running = await start_meetings(contact_settings(settings))
    yield running
    await running.stop()


@pytest.fixture
async def inbox(serving: Running, tokens: TokenFactory) -> AsyncIterator[Inbox]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{serving.port}") as channel:
        yield Inbox(channel, tokens)


async def test_anyone_sends_and_an_admin_reads_it(inbox: Inbox):
    before = datetime.now(UTC)
    reply = await inbox.send(
        name="contact-messages/mine", sender_name="  Ana Pérez ", email=" ana@example.com ",
        subject="Quote", body="  A quote, please.\n", read=True, client="clients/x",
    )  # fmt: skip
    assert reply == contact_pb2.SendContactMessageResponse()  # names nothing
    [name] = await inbox.names()
    assert name != "contact-messages/mine"
    got = (
        await inbox.admin.GetContactMessage(contact_pb2.GetContactMessageRequest(name=name))
    ).contact_message
    assert (got.sender_name, got.email, got.subject, got.body) == (
        "Ana Pérez", "ana@example.com", "Quote", "  A quote, please.\n",
    )  # fmt: skip
    assert not got.read
    assert got.client == ""
    assert got.website == ""
    assert got.create_time.ToDatetime(UTC) >= before.replace(microsecond=0)
    assert got.update_time == got.create_time


async def test_bad_fields_are_named_all_at_once(inbox: Inbox):
    bad = request(sender_name=" ", email="not-an-email", subject="s" * 201, body="b" * 1001)
    assert await bad_fields(inbox.anonymous.SendContactMessage(bad)) == {
        "contact_message.sender_name", "contact_message.email",
        "contact_message.subject", "contact_message.body",
    }  # fmt: skip
    missing = await bad_fields(inbox.send(email="", body=""))
    assert missing == {"contact_message.email", "contact_message.body"}
    await inbox.send(body="b" * 1000, subject="s" * 200)  # the bounds themselves are fine
    assert await bad_fields(
        inbox.admin.ListContactMessages(
            contact_pb2.ListContactMessagesRequest(read_filter=7, page_size=-1)
        )
    ) == {"read_filter", "page_size"}
    assert await bad_fields(
        inbox.admin.GetContactMessage(contact_pb2.GetContactMessageRequest(name="clients/x"))
    ) == {"name"}


async def test_the_honeypot_answers_as_accepted_and_stores_nothing(inbox: Inbox):
    caught = REFUSED.labels("honeypot")._value.get()
    bot = await inbox.send(website="https://spam.example", body="cheap pills")
    person = await inbox.send(body="a real question")
    assert bot == person  # nothing tells the bot it was caught
    reply = await inbox.admin.ListContactMessages(contact_pb2.ListContactMessagesRequest())
    assert [m.body for m in reply.contact_messages] == ["a real question"]
    assert reply.total_size == 1
    assert REFUSED.labels("honeypot")._value.get() == caught + 1


async def test_only_admins_reach_the_inbox(inbox: Inbox):
    await inbox.send()
    [name] = await inbox.names()
    calls = {
        "ListContactMessages": contact_pb2.ListContactMessagesRequest(),
        "GetContactMessage": contact_pb2.GetContactMessageRequest(name=name),
        "UpdateContactMessage": contact_pb2.UpdateContactMessageRequest(
            contact_message=contact_pb2.ContactMessage(name=name, read=True)
        ),
        "DeleteContactMessage": contact_pb2.DeleteContactMessageRequest(name=name),
        "ConvertContactMessageToClient": contact_pb2.ConvertContactMessageToClientRequest(
            name=name
        ),
    }
    for rpc, message in calls.items():
        await failure(getattr(inbox.alice, rpc)(message), grpc.StatusCode.PERMISSION_DENIED)
        await failure(getattr(inbox.anonymous, rpc)(message), grpc.StatusCode.UNAUTHENTICATED)
    assert await inbox.names() == [name]  # nothing changed or went


async def test_pages_newest_first_and_the_read_filter(inbox: Inbox):
    for number in range(5):
        await inbox.send(body=f"message {number}")
    newest_first = await inbox.names()
    assert len(newest_first) == 5
    seen, token = [], ""
    while True:
        reply = await inbox.admin.ListContactMessages(
            contact_pb2.ListContactMessagesRequest(page_size=2, page_token=token)
        )
        assert reply.total_size == 5
        seen.append([m.name for m in reply.contact_messages])
        token = reply.next_page_token
        if not token:
            break
    assert [len(page) for page in seen] == [2, 2, 1]
    assert [name for page in seen for name in page] == newest_first
    bodies = [
        (
            await inbox.admin.GetContactMessage(contact_pb2.GetContactMessageRequest(name=n))
        ).contact_message.body
        for n in newest_first
    ]
    assert bodies == [f"message {n}" for n in reversed(range(5))]

    read = contact_pb2.ContactMessage(name=newest_first[1], read=True)
    marked = await inbox.admin.UpdateContactMessage(
        contact_pb2.UpdateContactMessageRequest(contact_message=read)
    )
    assert marked.contact_message.read
    assert (
        marked.contact_message.update_time.ToDatetime()
        >= marked.contact_message.create_time.ToDatetime()
    )
    assert await inbox.names(read_filter=contact_pb2.READ_FILTER_READ) == [newest_first[1]]
    unread = await inbox.names(read_filter=contact_pb2.READ_FILTER_UNREAD)
    assert unread == [n for n in newest_first if n != newest_first[1]]
    unread_page = contact_pb2.ListContactMessagesRequest(
        page_size=1, read_filter=contact_pb2.READ_FILTER_UNREAD
    )
    token = (await inbox.admin.ListContactMessages(unread_page)).next_page_token
    assert await bad_fields(inbox.admin.ListContactMessages(
        contact_pb2.ListContactMessagesRequest(page_token=token)  # a token of another filter
    )) == {"page_token"}  # fmt: skip

    again = contact_pb2.ContactMessage(name=newest_first[1], read=False)
    back = await inbox.admin.UpdateContactMessage(
        contact_pb2.UpdateContactMessageRequest(contact_message=again, update_mask=mask("read"))
    )
    assert not back.contact_message.read
    assert await inbox.names(read_filter=contact_pb2.READ_FILTER_READ) == []


async def test_update_changes_only_the_read_state(inbox: Inbox):
    await inbox.send()
    [name] = await inbox.names()
    changed = contact_pb2.ContactMessage(name=name, read=True, body="rewritten")
    update = contact_pb2.UpdateContactMessageRequest(
        contact_message=changed, update_mask=mask("body", "client")
    )
    assert await bad_fields(inbox.admin.UpdateContactMessage(update)) == {"update_mask.paths"}
    missing = contact_pb2.ContactMessage(name="contact-messages/nope", read=True)
    await failure(
        inbox.admin.UpdateContactMessage(
            contact_pb2.UpdateContactMessageRequest(contact_message=missing)
        ),
        grpc.StatusCode.NOT_FOUND,
    )
    got = (
        await inbox.admin.GetContactMessage(contact_pb2.GetContactMessageRequest(name=name))
    ).contact_message
    assert (got.body, got.read) == ("Hello!", False)


async def test_delete(inbox: Inbox):
    await inbox.send()
    [name] = await inbox.names()
    await inbox.admin.DeleteContactMessage(contact_pb2.DeleteContactMessageRequest(name=name))
    assert await inbox.names() == []
    for call in (
        inbox.admin.GetContactMessage(contact_pb2.GetContactMessageRequest(name=name)),
        inbox.admin.DeleteContactMessage(contact_pb2.DeleteContactMessageRequest(name=name)),
    ):
        await failure(call, grpc.StatusCode.NOT_FOUND)


async def test_convert_makes_a_client_of_the_admin_who_converts(inbox: Inbox):
    await inbox.send(sender_name="Bea", email="bea@corp.example", subject="Website", body="Budget?")
    [name] = await inbox.names()
    convert = contact_pb2.ConvertContactMessageToClientRequest(name=name)
    reply = await inbox.admin.ConvertContactMessageToClient(convert)
    client = reply.client
    assert (client.display_name, client.contact_email, client.notes, client.owner) == (
        "Bea", "bea@corp.example", "Website\n\nBudget?", "users/root",
    )  # fmt: skip
    assert reply.contact_message.client == client.name
    assert reply.contact_message.read  # someone acted on it
    got = await inbox.admin_meetings.GetClient(meetings_pb2.GetClientRequest(name=client.name))
    assert got.client == client
    # The client is the converting admin's, like any client they create: not alice's.
    await failure(
        inbox.alice_meetings.GetClient(meetings_pb2.GetClientRequest(name=client.name)),
        grpc.StatusCode.NOT_FOUND,
    )
    error = await failure(
        inbox.admin.ConvertContactMessageToClient(convert), grpc.StatusCode.FAILED_PRECONDITION
    )
    assert "converted already" in (error.details() or "")
    # The client can go; the message stays, its link cleared.
    await inbox.admin_meetings.DeleteClient(meetings_pb2.DeleteClientRequest(name=client.name))
    kept = (
        await inbox.admin.GetContactMessage(contact_pb2.GetContactMessageRequest(name=name))
    ).contact_message
    assert kept.client == ""
    assert kept.read
    await failure(
        inbox.admin.ConvertContactMessageToClient(
            contact_pb2.ConvertContactMessageToClientRequest(name="contact-messages/nope")
        ),
        grpc.StatusCode.NOT_FOUND,
    )


def retry_after(error: grpc.aio.AioRpcError) -> float:
    status = rpc_status.from_call(error)
    info = error_details_pb2.RetryInfo()
    assert status is not None
    assert status.details[0].Unpack(info)
    return info.retry_delay.ToTimedelta().total_seconds()


async def test_each_address_and_each_sender_is_limited(settings: Settings, tokens: TokenFactory):
    """Every attempt from one address counts, valid or not; one e-mail cannot send more by
    changing addresses. Envoy's word for the address counts only with its proof."""
    running = await start_meetings(contact_settings(settings, meetings_contact_burst=2))
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = contact_pb2_grpc.ContactServiceStub(channel)
            one = from_address("203.0.113.1")
            await stub.SendContactMessage(request(email="a@example.com"), metadata=one)
            await bad_fields(stub.SendContactMessage(request(email="bad"), metadata=one))
            error = await failure(
                stub.SendContactMessage(request(email="b@example.com"), metadata=one),
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
            assert "address" in (error.details() or "")
            assert 0 < retry_after(error) <= 3600 / 10
            # Another address is not limited by the first one's bucket ...
            two = from_address("203.0.113.2")
            await stub.SendContactMessage(request(email="b@example.com"), metadata=two)
            # ... but one e-mail is limited across addresses (case does not matter).
            await stub.SendContactMessage(
                request(email="B@example.com"), metadata=from_address("203.0.113.3")
            )
            error = await failure(
                stub.SendContactMessage(
                    request(email="b@EXAMPLE.com"), metadata=from_address("203.0.113.4")
                ),
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
            assert "email" in (error.details() or "")
            # Without the proof, the claimed address is ignored: the peer (loopback) is the key.
            for number in range(2):
                await stub.SendContactMessage(
                    request(email=f"c{number}@example.com"),
                    metadata=from_address(f"198.51.100.{number}", proof="forged"),
                )
            await failure(
                stub.SendContactMessage(
                    request(email="c9@example.com"), metadata=from_address("198.51.100.9", "forged")
                ),
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )
    finally:
        await running.stop()


async def test_a_message_is_announced_through_the_outbox_and_a_bots_is_not(
    settings: Settings, nats_server: NatsServer, tokens: TokenFactory
):
    with_nats = contact_settings(settings).model_copy(update={"nats_url": nats_server.url})
    async with published(nats_server.url, Received) as seen:
        running = await start(SPEC, with_nats)
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                stub = contact_pb2_grpc.ContactServiceStub(channel)
                await stub.SendContactMessage(request(subject="bot", website="x"))
                await stub.SendContactMessage(request(subject="Hi", email="cy@example.com"))
                await seen.until(bool, seconds=30)
                admin = tokens.metadata(subject="users/root", roles=("user", "admin"))
                listed = await stub.ListContactMessages(
                    contact_pb2.ListContactMessagesRequest(), metadata=admin
                )
        finally:
            await running.stop()
    [event] = seen.events
    [message] = listed.contact_messages
    assert (event.contact_message, event.sender_name, event.email, event.subject) == (
        message.name, "Ana", "cy@example.com", "Hi",
    )  # fmt: skip
    assert event.create_time == message.create_time
    # Webhooks may follow it: their catalogue is every event of the domains' events.proto.
    assert subject_of(Received) == "voka.meetings.contact_message.received"


async def test_the_store_pages_rows_of_one_instant_without_gaps(serving: Running):
    """Messages that arrive in the same instant are told apart by id across pages."""
    assert serving.resources.sessions is not None
    database = Database(serving.resources.sessions)
    at = datetime(2030, 1, 1, tzinfo=UTC)
    async with database.transaction() as stores:
        for number in range(5):
            await stores.contact.add(ContactMessageRecord(
                id=f"m{number}", sender_name="Ana", email="ana@example.com", subject="",
                body=str(number), read=number % 2 == 0, client_id=None,
                create_time=at, update_time=at,
            ))  # fmt: skip
    async with database.transaction() as stores:
        first = await stores.contact.listing(ContactQuery(), Page(3))
        assert [r.id for r in first.items] == ["m4", "m3", "m2"]
        assert first.more
        assert first.total == 5
        rest = await stores.contact.listing(ContactQuery(), Page(3, Cursor(at, "m2")))
        assert [r.id for r in rest.items] == ["m1", "m0"]
        assert not rest.more
        read = await stores.contact.listing(ContactQuery(read=True), Page(10))
        assert [r.id for r in read.items] == ["m4", "m2", "m0"]
        assert read.total == 3
