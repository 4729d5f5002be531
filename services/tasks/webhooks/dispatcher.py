"""The webhook dispatcher: turns events on the bus into `webhooks.deliver` tasks.

* One durable JetStream consumer per domain that an active webhook follows
  (`tasks-webhooks-<domain>`, over every deliverable subject of the domain; replicas share it
  and split the events). A consumer made for the first time starts at new events, and an event
  stored before a webhook was created never goes to it, so a new webhook gets no history.
* For each event, every active webhook whose subjects match gets one delivery: a task whose
  idempotency key is derived from (webhook, event id), and a delivery row with the same
  derived id. A redelivered event (a crash before the ack, another replica) finds both already
  there: the same event reaches the same webhook once.
* Lifecycle events of delivery tasks themselves are never delivered (a webhook on
  `voka.tasks.task.*` would otherwise feed itself forever).
* Each delivery carries the webhook's signing secret sealed again for that delivery alone
  (`secrets.delivery_context`: the webhook, the delivery, the target URL and the body), so a
  delivery task changed after it was queued, or made up from a copied seal, sends nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from google.protobuf import json_format, struct_pb2
from google.protobuf.message import Message

from services.tasks.changes import Accepted, NewTask
from services.tasks.functions.webhooks import FUNCTION
from services.tasks.validation import Submits, traceparent
from services.tasks.webhooks.records import WebhookRecord
from services.tasks.webhooks.secrets import Sealer, SealError, delivery_context
from services.tasks.webhooks.store import NewDelivery, WebhookStore
from services.tasks.webhooks.subjects import followed, matches, public_events
from services.tasks.webhooks.validation import DEFAULT_ATTEMPTS
from voka.bus import Bus, ConsumerOptions, Event, Subscription, domain_of
from voka.tasks.v1 import tasks_pb2
from voka.wellknown import utc

log = logging.getLogger("voka.tasks.webhooks")
REFRESH_SECONDS = 5.0
Accept = Callable[[Sequence[NewTask]], Awaitable[list[tuple[Accepted, bool]]]]


def delivery_id(webhook_id: str, event_id: str) -> str:
    """The same (webhook, event) always gives the same delivery, hence the same task key."""
    return hashlib.blake2b(f"{webhook_id}:{event_id}".encode(), digest_size=16).hexdigest()


def body_of(event: Event[Message]) -> dict[str, Any]:
    """What is POSTed: the envelope and the event as protobuf JSON."""
    return {
        "id": event.id,
        "type": event.message.DESCRIPTOR.full_name,
        "subject": event.subject,
        "time": utc(event.time).isoformat().replace("+00:00", "Z"),
        "data": json_format.MessageToDict(event.message),
    }


class Dispatcher:
    """Follows the events active webhooks want and queues their deliveries."""

    def __init__(
        self,
        bus: Bus,
        store: WebhookStore,
        submits: Submits,
        accept: Accept,
        *,
        sealer: Sealer,
        max_failures: int,
    ) -> None:
        self._bus = bus
        self._max_failures = max_failures
        self._store = store
        self._submits = submits
        self._accept = accept
        self._sealer = sealer
        self._active: list[WebhookRecord] = []
        self._consumers: dict[str, Subscription[Message]] = {}
        self._lock = asyncio.Lock()
        self._loop: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._loop = asyncio.create_task(self._refresh_loop(), name="tasks-webhooks")

    async def stop(self) -> None:
        if self._loop is not None:
            self._loop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._loop
        await asyncio.gather(*(c.stop() for c in self._consumers.values()))

    async def refresh(self) -> None:
        """Reload the active webhooks and consume every domain they follow. Called after each
        change made here; other replicas catch up within REFRESH_SECONDS."""
        async with self._lock:
            await self._switch_off_failing()
            self._active = await self._store.active()
            patterns = [p for w in self._active for p in w.event_subjects]
            for domain in sorted({domain_of(s) for s in followed(patterns)}):
                if domain not in self._consumers:
                    self._consumers[domain] = await self._consume(domain)

    async def _switch_off_failing(self) -> None:
        """The contract's promise: a webhook whose receiver keeps failing stops getting
        deliveries (and stops filling the dead letters) until its owner sets it active."""
        if self._max_failures <= 0:
            return
        for name in await self._store.switch_off_failing(self._max_failures, datetime.now(UTC)):
            log.warning("webhooks: %s switched off after %d failed deliveries in a row",
                        name, self._max_failures)  # fmt: skip

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
            except Exception:
                log.exception("webhooks: refresh failed; retrying")

    async def _consume(self, domain: str) -> Subscription[Message]:
        types = [t for s, t in public_events().items() if domain_of(s) == domain]
        return await self._bus.subscribe_many(
            types, f"tasks-webhooks-{domain}", self._on_event,
            ConsumerOptions(new_only=True, concurrency=8, batch=32),
        )  # fmt: skip

    async def _on_event(self, event: Event[Message]) -> None:
        if getattr(event.message, "function_name", "") == FUNCTION:
            return  # a delivery task's own lifecycle
        stored = utc(event.time)
        targets = [w for w in self._active if w.create_time <= stored
                   and any(matches(p, event.subject) for p in w.event_subjects)]  # fmt: skip
        if targets:
            await self._deliver(event, targets)

    async def _deliver(self, event: Event[Message], targets: list[WebhookRecord]) -> None:
        body = body_of(event)
        text = json.dumps(body, separators=(",", ":"))
        now, trace = datetime.now(UTC), traceparent()
        batch: list[tuple[WebhookRecord, str, NewTask]] = []
        for webhook in targets:
            delivery = delivery_id(webhook.id, event.id)
            try:
                request = delivery_request(self._sealer, webhook, delivery, text)
            except SealError as exc:  # the webhook key changed: its secret is lost
                log.error("webhooks: %s not queued for %s: %s", event.id, webhook.name, exc)
                continue
            new, problems = self._submits.check(request, webhook.owner, now, trace=trace)
            if new is None:  # e.g. a body over the argument limit
                log.error("webhooks: %s not queued for %s: %s", event.id, webhook.name, problems)
                continue
            batch.append((webhook, delivery, new))
        records = [record for record, _ in await self._accept([new for _, _, new in batch])]
        await self._store.add_deliveries([
            NewDelivery(id=delivery, webhook_id=webhook.id, event_id=event.id,
                        event_subject=event.subject, task_id=record.id, payload=body,
                        create_time=now)
            for (webhook, delivery, _), record in zip(batch, records, strict=True)
        ])  # fmt: skip


def delivery_request(
    sealer: Sealer, webhook: WebhookRecord, delivery: str, body: str
) -> tasks_pb2.SubmitTaskRequest:
    """The `webhooks.deliver` task of one delivery, its secret sealed for this target and
    this body only (SealError if the webhook's own seal does not open)."""
    name = f"{webhook.name}/deliveries/{delivery}"
    secret = sealer.open(webhook.sealed_secret, webhook.name)
    sealed = sealer.seal(secret, delivery_context(webhook.name, name, webhook.target_uri, body))
    args = struct_pb2.Struct()
    args.update({
        "webhook": webhook.name, "delivery": name, "target_uri": webhook.target_uri,
        "sealed_secret": sealed, "body": body,
    })  # fmt: skip
    return tasks_pb2.SubmitTaskRequest(
        function_name=FUNCTION, args=args, idempotency_key=f"webhook-delivery:{delivery}",
        max_attempts=webhook.max_attempts or DEFAULT_ATTEMPTS,
    )  # fmt: skip
