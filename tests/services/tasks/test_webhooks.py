"""Webhooks through gRPC in process: CRUD and access, validation, and events published on a
real NATS server delivered by the embedded NETWORK_INTENSIVE worker to a real HTTP receiver on
127.0.0.1 (allowed by configuration), signed, once, with retries and dead letters."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import field_mask_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from services.tasks.service import SPEC
from services.tasks.settings import TasksSettings
from services.tasks.webhooks import signing, targets
from services.tasks.webhooks.targets import Allowed, TargetRefused
from tests.fixtures.tokens import TokenFactory
from tests.services.tasks.receiver import Receiver
from tools.processes import NatsServer
from voka import bus as kit_bus
from voka.bus import Bus
from voka.meetings.v1 import events_pb2 as meetings_events
from voka.server import Running, start
from voka.tasks.v1 import tasks_pb2, tasks_pb2_grpc

pytestmark = pytest.mark.integration
WAIT = 15.0
SUBJECT = "voka.meetings.client.created"


@pytest.fixture(scope="module")
async def hooks(
    tokens: TokenFactory, nats: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Running]:
    settings = TasksSettings(
        service="tasks", port=0, data_dir=tmp_path_factory.mktemp("data"),
        jwks_file=tokens.jwks_file, nats_url=nats.url, tasks_shards=2,
        tasks_retry_base_seconds=0.05, tasks_retry_max_seconds=0.1, tasks_tick_seconds=0.05,
        tasks_embedded_workers=["NETWORK_INTENSIVE"], rate_limit_per_second=0,
        tasks_webhook_allowed_hosts=["127.0.0.1/32"], tasks_webhooks_per_owner=5,
        tasks_webhook_max_failures=2,
    )  # fmt: skip
    running = await start(SPEC, settings)
    yield running
    await running.stop()


@pytest.fixture(scope="module")
async def stub(hooks: Running) -> AsyncIterator[tasks_pb2_grpc.TasksServiceStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{hooks.port}") as channel:
        yield tasks_pb2_grpc.TasksServiceStub(channel)


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
async def publisher(nats: NatsServer) -> AsyncIterator[Bus]:
    bus = await Bus.connect(nats.url, name="voka-tests-meetings")
    yield bus
    await bus.close()


def admin(tokens: TokenFactory, who: str = "users/root") -> tuple[tuple[str, str]]:
    return tokens.metadata(subject=who, roles=("user", "admin"))


def violations(err: grpc.aio.AioRpcError) -> dict[str, str]:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(err).details[0].Unpack(bad)
    return {v.field: v.description for v in bad.field_violations}


async def create(
    stub: tasks_pb2_grpc.TasksServiceStub, me: tuple[tuple[str, str]], uri: str, **extra: object
) -> tasks_pb2.Webhook:
    webhook = tasks_pb2.Webhook(target_uri=uri, event_subjects=[SUBJECT], **extra)  # type: ignore[arg-type]
    reply = await stub.CreateWebhook(tasks_pb2.CreateWebhookRequest(webhook=webhook), metadata=me)
    return reply.webhook


async def eventually(check: object, within: float = WAIT) -> None:
    """Wait until `check()` (sync or async) is true."""
    async with asyncio.timeout(within):
        while True:
            value = check()  # type: ignore[operator]
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return
            await asyncio.sleep(0.05)


async def deliveries(
    stub: tasks_pb2_grpc.TasksServiceStub, me: tuple[tuple[str, str]], webhook: str
) -> list[tasks_pb2.WebhookDelivery]:
    request = tasks_pb2.ListWebhookDeliveriesRequest(parent=webhook)
    return list((await stub.ListWebhookDeliveries(request, metadata=me)).deliveries)


async def final_deliveries(
    stub: tasks_pb2_grpc.TasksServiceStub, me: tuple[tuple[str, str]], webhook: str, count: int
) -> list[tasks_pb2.WebhookDelivery]:
    done = {tasks_pb2.WEBHOOK_DELIVERY_STATE_SUCCEEDED, tasks_pb2.WEBHOOK_DELIVERY_STATE_FAILED}
    found: list[tasks_pb2.WebhookDelivery] = []

    async def settled() -> bool:
        nonlocal found
        found = await deliveries(stub, me, webhook)
        return len(found) == count and all(d.state in done for d in found)

    await eventually(settled)
    return found


async def test_crud_rotate_and_access(stub, tokens: TokenFactory, receiver: Receiver):
    me = admin(tokens)
    made = await create(stub, me, receiver.url("/crud"), description="first")
    assert made.secret.startswith("whsec_")
    assert made.owner == "users/root"
    assert made.active
    assert made.max_attempts == 8
    got = (await stub.GetWebhook(tasks_pb2.GetWebhookRequest(name=made.name), metadata=me)).webhook
    assert got.secret == ""  # never shown again
    assert got.target_uri == made.target_uri
    listed = await stub.ListWebhooks(
        tasks_pb2.ListWebhooksRequest(event_subject=SUBJECT), metadata=me
    )
    assert made.name in [w.name for w in listed.webhooks]
    assert all(w.secret == "" for w in listed.webhooks)
    other = await stub.ListWebhooks(
        tasks_pb2.ListWebhooksRequest(event_subject="voka.auth.user.deleted"), metadata=me
    )
    assert made.name not in [w.name for w in other.webhooks]

    change = tasks_pb2.Webhook(name=made.name, description="second", active=False)
    mask = field_mask_pb2.FieldMask(paths=["description", "active"])
    updated = await stub.UpdateWebhook(
        tasks_pb2.UpdateWebhookRequest(webhook=change, update_mask=mask), metadata=me
    )
    assert (updated.webhook.description, updated.webhook.active) == ("second", False)
    assert updated.webhook.event_subjects == [SUBJECT]  # outside the mask: kept

    rotated = await stub.RotateWebhookSecret(
        tasks_pb2.RotateWebhookSecretRequest(name=made.name), metadata=me
    )
    assert rotated.webhook.secret.startswith("whsec_")
    assert rotated.webhook.secret != made.secret

    user = tokens.metadata(subject="users/mallory")  # no admin role: the contract's rule
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetWebhook(tasks_pb2.GetWebhookRequest(name=made.name), metadata=user)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=made.name), metadata=user)
    assert err.value.code() == grpc.StatusCode.PERMISSION_DENIED

    await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=made.name), metadata=me)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetWebhook(tasks_pb2.GetWebhookRequest(name=made.name), metadata=me)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_list_pages_oldest_first_and_the_owner_limit_holds(stub, tokens: TokenFactory):
    me = admin(tokens, "users/pager")
    made = [await create(stub, me, f"https://hooks.example.com/{i}") for i in range(5)]
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await create(stub, me, "https://hooks.example.com/one-too-many")
    assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    names, token = [], ""
    while True:
        page = await stub.ListWebhooks(
            tasks_pb2.ListWebhooksRequest(page_size=2, page_token=token), metadata=me
        )
        names += [w.name for w in page.webhooks if w.owner == "users/pager"]
        token = page.next_page_token
        if not token:
            break
    assert names == [w.name for w in made]
    for webhook in made:
        await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=webhook.name), metadata=me)


@pytest.mark.parametrize(
    ("webhook", "field", "says"),
    [
        (tasks_pb2.Webhook(target_uri="http://hooks.example.com/x", event_subjects=[SUBJECT]),
         "webhook.target_uri", "https"),
        (tasks_pb2.Webhook(target_uri="https://10.1.2.3/x", event_subjects=[SUBJECT]),
         "webhook.target_uri", "private"),
        (tasks_pb2.Webhook(target_uri="https://localhost/x", event_subjects=[SUBJECT]),
         "webhook.target_uri", "loopback"),
        (tasks_pb2.Webhook(target_uri="https://u:p@hooks.example.com/", event_subjects=[SUBJECT]),
         "webhook.target_uri", "credentials"),
        (tasks_pb2.Webhook(target_uri="https://hooks.example.com/",
                   event_subjects=[SUBJECT, "voka.nope.>"]),
         "webhook.event_subjects[1]", "matches no event"),
        (tasks_pb2.Webhook(target_uri="https://hooks.example.com/",
                   event_subjects=["voka.tasks.task.dispatched"]),
         "webhook.event_subjects[0]", "matches no event"),
        (tasks_pb2.Webhook(target_uri="https://hooks.example.com/", event_subjects=[]),
         "webhook.event_subjects", "1 to 20"),
        (tasks_pb2.Webhook(target_uri="https://hooks.example.com/", event_subjects=[SUBJECT],
                   max_attempts=50),
         "webhook.max_attempts", "1 to 20"),
    ],
)  # fmt: skip
async def test_invalid_webhooks_name_the_field(stub, tokens: TokenFactory, webhook, field, says):
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.CreateWebhook(
            tasks_pb2.CreateWebhookRequest(webhook=webhook), metadata=admin(tokens)
        )
    found = violations(err.value)
    assert field in found, found
    assert says in found[field]


async def test_patterns_are_accepted(stub, tokens: TokenFactory):
    me = admin(tokens, "users/patterns")
    subjects = ["voka.>", "voka.tasks.task.*", "voka.meetings.>"]
    webhook = tasks_pb2.Webhook(target_uri="https://hooks.example.com/", event_subjects=subjects)
    made = (
        await stub.CreateWebhook(tasks_pb2.CreateWebhookRequest(webhook=webhook), metadata=me)
    ).webhook
    await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=made.name), metadata=me)


async def publish(bus: Bus, event_id: str, client: str) -> None:
    await bus.publish(
        meetings_events.ClientCreatedEvent(client=client, display_name="Acme", owner="users/x"),
        event_id=event_id,
    )


async def republish(bus: Bus, event_id: str, client: str) -> None:
    """The same event (same id) stored again under another message id, as a producer retrying
    after JetStream's duplicate window would: the dispatcher sees it twice."""
    message = meetings_events.ClientCreatedEvent(client=client, display_name="Acme")
    await bus.js.publish(SUBJECT, message.SerializeToString(), headers={
        kit_bus.EVENT_ID: event_id,
        kit_bus.EVENT_TYPE: message.DESCRIPTOR.full_name,
        kit_bus.MSG_ID: uuid.uuid4().hex,
    })  # fmt: skip


async def test_an_event_is_delivered_signed_and_once(
    stub, tokens: TokenFactory, receiver: Receiver, publisher: Bus
):
    me = admin(tokens)
    made = await create(stub, me, receiver.url("/once"))
    event_id = uuid.uuid4().hex
    await publish(publisher, event_id, "clients/one")
    await eventually(lambda: receiver.at("/once"))
    await republish(publisher, event_id, "clients/one")
    [delivery] = await final_deliveries(stub, me, made.name, 1)
    await asyncio.sleep(1.0)  # room for a second delivery, if one were coming
    [request] = receiver.at("/once")
    assert request.method == "POST"
    assert request.headers["content-type"] == "application/json"
    signature = request.headers[signing.HEADER.lower()]
    assert signing.verify(signature, request.body, made.secret)
    assert not signing.verify(signature, request.body + b" ", made.secret)
    body = json.loads(request.body)
    assert body["id"] == event_id
    assert body["subject"] == SUBJECT
    assert body["type"] == "voka.meetings.v1.ClientCreatedEvent"
    assert body["data"] == {"client": "clients/one", "displayName": "Acme", "owner": "users/x"}
    assert request.headers["x-voka-delivery"] == delivery.name
    assert delivery.state == tasks_pb2.WEBHOOK_DELIVERY_STATE_SUCCEEDED
    assert (delivery.event_id, delivery.response_code, delivery.attempts) == (event_id, 200, 1)
    assert delivery.payload["id"] == event_id
    assert delivery.HasField("complete_time")
    await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=made.name), metadata=me)


async def test_rotating_the_secret_changes_the_signature(
    stub, tokens: TokenFactory, receiver: Receiver, publisher: Bus
):
    me = admin(tokens)
    made = await create(stub, me, receiver.url("/rotate"))
    rotated = (
        await stub.RotateWebhookSecret(
            tasks_pb2.RotateWebhookSecretRequest(name=made.name), metadata=me
        )
    ).webhook
    await publish(publisher, uuid.uuid4().hex, "clients/two")
    await eventually(lambda: receiver.at("/rotate"))
    [request] = receiver.at("/rotate")
    signature = request.headers[signing.HEADER.lower()]
    assert signing.verify(signature, request.body, rotated.secret)
    assert not signing.verify(signature, request.body, made.secret)
    await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=made.name), metadata=me)


async def test_a_failing_receiver_gets_retries_then_the_delivery_fails(
    stub, tokens: TokenFactory, receiver: Receiver, publisher: Bus
):
    me = admin(tokens)
    receiver.statuses.update({"/down": 503, "/gone": 404})
    down = await create(stub, me, receiver.url("/down"), max_attempts=3)
    gone = await create(stub, me, receiver.url("/gone"), max_attempts=3)
    await publish(publisher, uuid.uuid4().hex, "clients/three")
    [failed] = await final_deliveries(stub, me, down.name, 1)
    assert failed.state == tasks_pb2.WEBHOOK_DELIVERY_STATE_FAILED
    assert (failed.attempts, failed.response_code) == (3, 503)
    assert failed.last_error.startswith("HTTP 503")
    assert len(receiver.at("/down")) == 3
    [refused] = await final_deliveries(stub, me, gone.name, 1)
    assert (refused.state, refused.attempts, refused.response_code) == (
        tasks_pb2.WEBHOOK_DELIVERY_STATE_FAILED, 1, 404)  # fmt: skip
    assert len(receiver.at("/gone")) == 1  # a 404 is not retried
    task = await stub.GetTask(tasks_pb2.GetTaskRequest(name=failed.task), metadata=me)
    assert task.task.state == tasks_pb2.TASK_STATE_DEAD_LETTERED
    listed = (
        await stub.GetWebhook(tasks_pb2.GetWebhookRequest(name=down.name), metadata=me)
    ).webhook
    assert listed.consecutive_failures == 1
    assert listed.HasField("last_delivery_time")
    for webhook in (down, gone):
        await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=webhook.name), metadata=me)


async def test_a_receiver_that_keeps_failing_gets_its_webhook_switched_off(
    stub, tokens: TokenFactory, receiver: Receiver, publisher: Bus
):
    me = admin(tokens)
    receiver.statuses["/broken"] = 503
    broken = await create(stub, me, receiver.url("/broken"), max_attempts=1)
    fine = await create(stub, me, receiver.url("/fine"))
    for client in ("clients/f1", "clients/f2"):
        await publish(publisher, uuid.uuid4().hex, client)
    await final_deliveries(stub, me, broken.name, 2)

    async def switched_off() -> bool:
        got = await stub.GetWebhook(tasks_pb2.GetWebhookRequest(name=broken.name), metadata=me)
        return not got.webhook.active

    await eventually(switched_off)  # within the dispatcher's refresh
    await publish(publisher, uuid.uuid4().hex, "clients/f3")
    await eventually(lambda: len(receiver.at("/fine")) == 3)  # the event was dispatched
    assert len(await deliveries(stub, me, broken.name)) == 2  # and not to the switched-off one
    for webhook in (broken, fine):
        await stub.DeleteWebhook(tasks_pb2.DeleteWebhookRequest(name=webhook.name), metadata=me)


async def test_addresses_inside_are_refused_unless_allowed():
    with pytest.raises(TargetRefused, match="not public"):
        await targets.resolve("localhost", 443, Allowed())
    with pytest.raises(TargetRefused, match="not public"):
        await targets.resolve("169.254.169.254", 80, Allowed())
    allowed = Allowed.parse(["127.0.0.1/32"])
    assert str(await targets.resolve("127.0.0.1", 80, allowed)) == "127.0.0.1"
    with pytest.raises(TargetRefused, match="https"):
        targets.parse("http://hooks.example.com/", Allowed())


def test_signatures_expire():
    header = signing.sign("whsec_x", b"{}", at=1_000)
    assert signing.verify(header, b"{}", "whsec_x", now=1_100)
    assert not signing.verify(header, b"{}", "whsec_x", now=1_000 + 301)
    assert not signing.verify(header, b"{}", "whsec_y", now=1_100)
