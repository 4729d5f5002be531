"""NATS users and permissions (tools/nats_auth.py) against a real nats-server: each service may
do what the kit does for it, and nothing that would let it speak for another domain.

The forgery that matters most: a `UserDeletedEvent` erases a user's data in every service, so
only auth may publish `voka.auth.>`, neither directly nor through the JetStream API (a stream's
republish, a source with a subject transform); and a service cannot throw auth's events away.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import Awaitable, Callable

import nats
import nats.errors
import nats.js.errors
import pytest
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import api

from tests.fixtures.nats import SecuredNats, SignIn
from tools import nats_auth
from voka import registry
from voka.auth.v1 import events_pb2 as auth_events
from voka.bus import DLQ_STREAM_NAME, ConsumerOptions, Event, stream_name, subject_of
from voka.erasure import erase_deleted_users
from voka.objects import bucket_of, stream_of

WAIT = 10.0
DENIED = 1.0  # seconds to wait for the answer to a JetStream request the server drops


def violations(caplog: pytest.LogCaptureFixture) -> list[str]:
    """What the server refused this test's connections (nats-py hands it to the kit's log)."""
    messages = [r.getMessage() for r in caplog.records]
    return [m for m in messages if "permissions violation" in m.lower()]


def an_event_of(domain: str) -> Message:
    """Some event of `domain`, from its contract (any will do: permissions go by subject)."""
    module = importlib.import_module(f"voka.{domain}.v1.events_pb2")
    for name in module.DESCRIPTOR.message_types_by_name:
        kind = getattr(module, name)
        with contextlib.suppress(ValueError):
            subject_of(kind)
            message: Message = kind()
            return message
    raise AssertionError(f"{domain} declares no event")


async def nothing_to_erase(owner: str) -> int:
    return 0


# --- the permissions, as derived --------------------------------------------------------------


def test_each_service_publishes_only_its_own_domain_and_the_kits() -> None:
    for declaration in registry.declarations().values():
        allowed = nats_auth.permissions(declaration)
        events = [s for s in allowed.publish if s.startswith("voka.")]
        assert events == [f"voka.{declaration.name}.>", "voka.ops.>", "voka.dlq.>"]
        # No JetStream request that changes, empties or removes a stream, nor a wildcard one;
        # the one exception: purging its own object bucket's stream, how an object is deleted
        # or overwritten (voka/objects.py), which holds no events.
        own_objects = stream_of(bucket_of(declaration.name))
        for subject in allowed.publish:
            if subject == f"$JS.API.STREAM.PURGE.{own_objects}":
                continue
            assert not subject.startswith(("$JS.API.STREAM.UPDATE", "$JS.API.STREAM.DELETE",
                                           "$JS.API.STREAM.PURGE", "$JS.API.STREAM.MSG.DELETE",
                                           "$JS.API.STREAM.RESTORE")), subject  # fmt: skip
            assert subject not in ("$JS.API.>", ">", "$JS.>"), subject
        creatable = {s.rsplit(".", 1)[1] for s in allowed.publish if ".STREAM.CREATE." in s}
        assert creatable <= {stream_name(d) for d in nats_auth.domains()} | {
            DLQ_STREAM_NAME, own_objects}  # fmt: skip


def test_consumed_streams_follow_the_declaration() -> None:
    narrow = registry.Declaration("meetings", 1, consumes=("voka.speech.transcription.completed",))
    allowed = nats_auth.permissions(narrow)
    assert "$JS.API.CONSUMER.CREATE.VOKA_SPEECH.>" in allowed.publish
    assert "$JS.API.CONSUMER.CREATE.VOKA_AUTH.>" in allowed.publish  # the kit's erasure
    assert "$JS.API.CONSUMER.CREATE.VOKA_TASKS.>" not in allowed.publish
    assert allowed.subscribe[0] == "_INBOX.meetings.>"
    assert "voka.speech.transcription.completed" in allowed.subscribe
    undeclared = nats_auth.permissions(registry.Declaration("meetings", 1))
    assert "$JS.API.CONSUMER.CREATE.VOKA_TASKS.>" in undeclared.publish  # today's default
    with pytest.raises(ValueError, match="no domain named"):
        nats_auth.permissions(registry.Declaration("meetings", 1, consumes=("voka.nope.>",)))


# --- against the server ------------------------------------------------------------------------


async def test_no_connection_without_a_valid_password(secured_nats: SecuredNats) -> None:
    for options in ({}, {"user": "meetings", "password": "wrong"}):
        with pytest.raises((nats.errors.Error, OSError)):
            await nats.connect(secured_nats.url, allow_reconnect=False, **options)


async def test_each_service_does_its_work_under_its_own_user(
    signed_in: SignIn, secured_nats: SecuredNats, caplog: pytest.LogCaptureFixture
) -> None:
    """What the kit does for every service: its own stream, events and durable consumers
    (with a dead letter), hints, the erasure consumer on auth's stream, the health check."""
    caplog.set_level(logging.WARNING, "voka.bus")
    for domain in registry.names():
        bus = await signed_in(domain)
        assert "jetstream ok" in await bus.check()
        event = an_event_of(domain)
        hints: asyncio.Queue[str] = asyncio.Queue()

        async def on_hint(msg: Msg, hints: asyncio.Queue[str] = hints) -> None:
            hints.put_nowait(msg.subject)

        received: asyncio.Queue[Event[Message]] = asyncio.Queue()

        async def fail(event: Event[Message], received: asyncio.Queue[Event[Message]] = received
                       ) -> None:  # fmt: skip
            received.put_nowait(event)
            raise RuntimeError("to the dead letters")

        async with await bus.listen(subject_of(type(event)), on_hint):
            await bus.subscribe_many([type(event)], f"{domain}-test", fail,
                                     ConsumerOptions(max_deliver=1, backoff=()))  # fmt: skip
            await erase_deleted_users(bus, domain, nothing_to_erase)
            await bus.emit(event)
            await bus.publish(an_event_of("ops"))
            assert await asyncio.wait_for(hints.get(), WAIT) == subject_of(type(event))
            assert (await asyncio.wait_for(received.get(), WAIT)).subject == subject_of(type(event))
        await bus.close(grace=1)
    admin = await signed_in(nats_auth.ADMIN)
    dead = await admin.js.stream_info(DLQ_STREAM_NAME)
    assert dead.state.messages == len(registry.names())
    assert violations(caplog) == []


async def test_only_auth_can_announce_a_deleted_user(
    signed_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    """A service without auth's credentials cannot publish `voka.auth.user.deleted`: the server
    refuses it (permission violation), and the erasure consumer never sees it."""
    caplog.set_level(logging.WARNING, "voka.bus")
    erased: asyncio.Queue[str] = asyncio.Queue()

    async def erase(owner: str) -> int:
        erased.put_nowait(owner)
        return 1

    meetings = await signed_in("meetings")
    await erase_deleted_users(meetings, "meetings", erase)
    forger = await signed_in("translate")
    forged = auth_events.UserDeletedEvent(user="users/victim", actor="users/victim")
    with pytest.raises(TimeoutError):  # no ack: the server drops a publish it does not allow
        async with asyncio.timeout(WAIT):
            await forger.publish(forged)
    await forger.nc.publish(subject_of(auth_events.UserDeletedEvent), forged.SerializeToString())
    await forger.nc.flush()
    assert any('"voka.auth.user.deleted"' in v for v in violations(caplog))
    # The real thing arrives, after the forgeries: they were never stored.
    auth = await signed_in("auth")
    await auth.publish(auth_events.UserDeletedEvent(user="users/gone", actor="users/admin"))
    assert await asyncio.wait_for(erased.get(), WAIT) == "users/gone"
    await asyncio.sleep(0.5)
    assert erased.empty()


async def test_the_jetstream_api_cannot_put_words_in_auths_mouth(
    signed_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    """With `$JS.API.>` a service could copy its own events into auth's subjects (republish,
    a source with a transform, a push consumer delivering there) or empty auth's stream: each
    is refused here; auth's stream keeps its configuration and events, and no one listening
    to auth's subjects hears the copies."""
    caplog.set_level(logging.WARNING, "voka.bus")
    auth = await signed_in("auth")
    await auth.publish(auth_events.UserDeletedEvent(user="users/kept", actor="users/admin"))
    heard: list[str] = []

    async def hear(msg: Msg) -> None:
        heard.append(msg.subject)

    await auth.listen("voka.auth.>", hear)
    forger = await signed_in("translate")
    manager = forger.nc.jetstream(timeout=DENIED)
    event = an_event_of("translate")
    forge = subject_of(type(event))
    attacks: list[Callable[[], Awaitable[object]]] = [
        lambda: manager.add_stream(api.StreamConfig(  # a new stream of its own
            name="FORGE", subjects=["voka.forge.>"],
            republish=api.RePublish(src=forge, dest="voka.auth.user.deleted"))),
        lambda: manager.update_stream(api.StreamConfig(  # its own stream, republishing
            name=stream_name("translate"), subjects=["voka.translate.>"],
            republish=api.RePublish(src=forge, dest="voka.auth.user.deleted"))),
        lambda: manager.update_stream(api.StreamConfig(  # auth's stream, sourcing from its own
            name=stream_name("auth"), subjects=["voka.auth.>"],
            sources=[api.StreamSource(name=stream_name("translate"), subject_transforms=[
                api.SubjectTransform(src=forge, dest="voka.auth.user.deleted")])])),
        lambda: manager.purge_stream(stream_name("auth")),
        lambda: manager.delete_msg(stream_name("auth"), 1),
        lambda: manager.delete_stream(stream_name("auth")),
    ]  # fmt: skip
    for attack in attacks:
        with pytest.raises((TimeoutError, nats.js.errors.APIError)):
            await attack()
    # A push consumer on a stream it reads, delivering to auth's subject: the server may take
    # the consumer, but delivers nothing where the service may not publish.
    with contextlib.suppress(TimeoutError, nats.js.errors.APIError):
        await manager.add_consumer(stream_name("translate"), api.ConsumerConfig(
            durable_name="forge", deliver_subject="voka.auth.user.deleted", filter_subject=forge,
            ack_policy=api.AckPolicy.NONE))  # fmt: skip
    await forger.publish(event)
    await asyncio.sleep(1.0)
    info = await auth.js.stream_info(stream_name("auth"), subjects_filter=">")
    assert info.state.subjects == {"voka.auth.user.deleted": 1}
    assert not info.config.sources
    assert info.config.republish is None
    assert heard == []
    assert len(violations(caplog)) >= len(attacks)


async def test_a_service_cannot_read_another_services_replies(
    signed_in: SignIn, caplog: pytest.LogCaptureFixture
) -> None:
    """Pull deliveries and JetStream answers go to the consumer's own inbox prefix: another
    service's subscription to every inbox is refused, so it sees none of them."""
    caplog.set_level(logging.WARNING, "voka.bus")
    snooper = await signed_in("kinect")
    seen: list[str] = []

    async def snoop(msg: Msg) -> None:
        seen.append(msg.subject)

    await snooper.nc.subscribe("_INBOX.>", cb=snoop)
    await snooper.nc.subscribe("_INBOX.meetings.>", cb=snoop)
    await snooper.nc.flush()
    erased: asyncio.Queue[str] = asyncio.Queue()

    async def erase(owner: str) -> int:
        erased.put_nowait(owner)
        return 1

    await erase_deleted_users(await signed_in("meetings"), "meetings", erase)
    auth = await signed_in("auth")
    await auth.publish(auth_events.UserDeletedEvent(user="users/gone", actor="users/admin"))
    assert await asyncio.wait_for(erased.get(), WAIT) == "users/gone"
    assert seen == []
    assert sum("subscription to" in v for v in violations(caplog)) == 2
