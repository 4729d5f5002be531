"""The seal of a delivery's signing secret covers what the delivery sends and where: a
`webhooks.deliver` whose target or body differs from what the dispatcher sealed it for (a
forged dispatch, an edited row, the at-rest seal copied out of a task) sends nothing, signed
or not. Each case runs the delivery function itself against a real HTTP receiver."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from services.tasks.functions import webhooks as delivery
from services.tasks.settings import TasksSettings
from services.tasks.webhooks import dispatcher, signing
from services.tasks.webhooks.records import WebhookRecord
from services.tasks.webhooks.secrets import Sealer
from tests.services.tasks.receiver import Receiver

SECRET = "whsec_test"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    server = Receiver()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def sealer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Sealer:
    settings = TasksSettings(service="tasks", data_dir=tmp_path,
                             tasks_webhook_allowed_hosts=["127.0.0.1/32"])  # fmt: skip
    monkeypatch.setattr(delivery, "_config", delivery.DeliveryConfig.of(settings))
    return Sealer.from_config("", tmp_path)


def hook(sealer: Sealer, target: str) -> WebhookRecord:
    webhook_id, at = uuid.uuid4().hex, datetime.now(UTC)
    return WebhookRecord(
        id=webhook_id, owner="users/a", description="", target_uri=target,
        event_subjects=["voka.meetings.>"], active=True, max_attempts=3, create_time=at,
        update_time=at, sealed_secret=sealer.seal(SECRET, f"webhooks/{webhook_id}"),
    )  # fmt: skip


def args_of(sealer: Sealer, webhook: WebhookRecord, body: str) -> dict[str, Any]:
    request = dispatcher.delivery_request(sealer, webhook, uuid.uuid4().hex, body)
    return {key: value for key, value in request.args.items()}


async def test_a_sealed_delivery_goes_out_signed(sealer: Sealer, receiver: Receiver):
    webhook = hook(sealer, receiver.url("/mine"))
    result = await delivery.deliver(**args_of(sealer, webhook, '{"n":1}'))
    assert result["response_code"] == 200
    [request] = receiver.at("/mine")
    assert signing.verify(request.headers[signing.HEADER.lower()], request.body, SECRET)


@pytest.mark.parametrize(
    ("field", "value"), [("target_uri", "/elsewhere"), ("body", '{"n":2}')]
)  # fmt: skip
async def test_a_delivery_changed_after_sealing_sends_nothing(
    sealer: Sealer, receiver: Receiver, field: str, value: str
):
    webhook = hook(sealer, receiver.url("/mine"))
    args = args_of(sealer, webhook, '{"n":1}')
    args[field] = receiver.url(value) if field == "target_uri" else value
    with pytest.raises(delivery.DeliveryRefused, match="does not open"):
        await delivery.deliver(**args)
    assert receiver.received == []


async def test_the_webhooks_own_seal_does_not_open_for_a_delivery(
    sealer: Sealer, receiver: Receiver
):
    """The webhook row's seal (its name as context) is not a delivery's: copied out of a task
    into a delivery of one's own choosing, it does not open."""
    webhook = hook(sealer, receiver.url("/mine"))
    forged = {"webhook": webhook.name, "delivery": f"{webhook.name}/deliveries/x",
              "target_uri": receiver.url("/elsewhere"), "sealed_secret": webhook.sealed_secret,
              "body": '{"forged":true}'}  # fmt: skip
    with pytest.raises(delivery.DeliveryRefused, match="does not open"):
        await delivery.deliver(**forged)
    assert receiver.received == []
