"""The webhook RPCs of TasksService (mixed into its servicer).

The contract makes them admin-only; tenancy is still checked on every call, as for tasks: the
owner sees its own, admins everyone's, and anyone else's webhook is NOT_FOUND (its existence is
not revealed). The signing secret is answered only by CreateWebhook and RotateWebhookSecret."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc

from services.tasks import webhook_convert
from services.tasks.scheduler import Scheduler
from services.tasks.settings import TasksSettings
from services.tasks.store import Store
from services.tasks.webhook_dispatcher import Dispatcher
from services.tasks.webhook_records import WebhookRecord
from services.tasks.webhook_secrets import Sealer, new_secret
from services.tasks.webhook_store import DELIVERY_ORDER, ORDER, WebhookStore
from services.tasks.webhook_targets import Allowed
from services.tasks.webhook_validation import DEFAULT_ATTEMPTS, EDITABLE, problems
from voka import authn, errors, pagination
from voka.errors import FieldViolation
from voka.pagination import Listing, Page
from voka.tasks.v1 import tasks_pb2

T = tasks_pb2
Context = grpc.aio.ServicerContext[Any, Any]
PREFIX = "webhooks/"


@dataclass(frozen=True)
class Webhooks:
    """What the webhook RPCs work with."""

    store: WebhookStore
    tasks: Store
    scheduler: Scheduler
    dispatcher: Dispatcher
    sealer: Sealer
    allowed: Allowed
    per_owner: int

    @classmethod
    def build(
        cls, store: Store, scheduler: Scheduler, dispatcher: Dispatcher, settings: TasksSettings
    ) -> Webhooks:
        return cls(
            store=WebhookStore(store.transactions), tasks=store, scheduler=scheduler,
            dispatcher=dispatcher,
            sealer=Sealer.from_config(settings.tasks_webhook_key, settings.data_dir),
            allowed=Allowed.parse(settings.tasks_webhook_allowed_hosts),
            per_owner=settings.tasks_webhooks_per_owner,
        )  # fmt: skip


def _now() -> datetime:
    return datetime.now(UTC)


class WebhookRpcs:
    """CreateWebhook ... ListWebhookDeliveries; the servicer sets `webhooks`."""

    webhooks: Webhooks

    async def CreateWebhook(
        self, request: T.CreateWebhookRequest, context: Context
    ) -> T.CreateWebhookResponse:
        hooks, given = self.webhooks, request.webhook
        bad = problems(given, EDITABLE, hooks.allowed)
        if bad:
            raise errors.invalid_argument(bad)
        webhook_id, secret, now = uuid.uuid4().hex, new_secret(), _now()
        record = WebhookRecord(
            id=webhook_id, owner=authn.caller().subject, description=given.description,
            target_uri=given.target_uri, event_subjects=list(given.event_subjects),
            active=given.active if given.HasField("active") else True,
            sealed_secret=hooks.sealer.seal(secret, PREFIX + webhook_id),
            max_attempts=given.max_attempts or DEFAULT_ATTEMPTS, create_time=now,
            update_time=now,
        )  # fmt: skip
        if not await hooks.store.create(record, hooks.per_owner):
            raise errors.quota_exceeded(
                f"at most {hooks.per_owner} webhooks per owner", record.owner, "webhooks"
            )
        await hooks.dispatcher.refresh()
        return T.CreateWebhookResponse(webhook=webhook_convert.webhook(record, secret))

    async def GetWebhook(
        self, request: T.GetWebhookRequest, context: Context
    ) -> T.GetWebhookResponse:
        record = await self._webhook(request.name)
        return T.GetWebhookResponse(webhook=webhook_convert.webhook(record))

    async def ListWebhooks(
        self, request: T.ListWebhooksRequest, context: Context
    ) -> T.ListWebhooksResponse:
        identity = authn.caller()
        owner = None if identity.is_admin else identity.subject
        query = pagination.fingerprint("webhooks", owner, request.event_subject)
        page = _page(request.page_size, request.page_token, ORDER, query)
        listing = await self.webhooks.store.page(owner, request.event_subject, page)
        return T.ListWebhooksResponse(
            webhooks=[webhook_convert.webhook(r) for r in listing.items],
            next_page_token=pagination.next_token(ORDER, query, listing),
            total_size=listing.total,
        )

    async def UpdateWebhook(
        self, request: T.UpdateWebhookRequest, context: Context
    ) -> T.UpdateWebhookResponse:
        given = request.webhook
        record = await self._webhook(given.name, "webhook.name")
        fields = list(request.update_mask.paths) or list(EDITABLE)
        bad = [FieldViolation(f"update_mask.paths[{i}]", f"must be one of {', '.join(EDITABLE)}")
               for i, f in enumerate(fields) if f not in EDITABLE]  # fmt: skip
        bad += problems(given, [f for f in fields if f in EDITABLE], self.webhooks.allowed)
        if bad:
            raise errors.invalid_argument(bad)
        values: dict[str, Any] = {f: getattr(given, f) for f in fields}
        if "event_subjects" in values:
            values["event_subjects"] = list(given.event_subjects)
        if "active" in values:
            values["active"] = given.active if given.HasField("active") else True
        if "max_attempts" in values:
            values["max_attempts"] = given.max_attempts or DEFAULT_ATTEMPTS
        updated = await self.webhooks.store.update(record.id, _now(), **values)
        await self.webhooks.dispatcher.refresh()
        return T.UpdateWebhookResponse(webhook=webhook_convert.webhook(updated or record))

    async def DeleteWebhook(
        self, request: T.DeleteWebhookRequest, context: Context
    ) -> T.DeleteWebhookResponse:
        record = await self._webhook(request.name)
        pending = await self.webhooks.store.delete(record.id)
        await self.webhooks.dispatcher.refresh()
        for task_id in pending:  # a running attempt finishes; waiting ones never start
            if await self.webhooks.tasks.cancel(task_id, "webhook deleted", _now()):
                self.webhooks.scheduler.forget(task_id)
        return T.DeleteWebhookResponse()

    async def RotateWebhookSecret(
        self, request: T.RotateWebhookSecretRequest, context: Context
    ) -> T.RotateWebhookSecretResponse:
        record = await self._webhook(request.name)
        secret = new_secret()
        sealed = self.webhooks.sealer.seal(secret, record.name)
        updated = await self.webhooks.store.update(record.id, _now(), sealed_secret=sealed)
        await self.webhooks.dispatcher.refresh()
        return T.RotateWebhookSecretResponse(
            webhook=webhook_convert.webhook(updated or record, secret)
        )

    async def ListWebhookDeliveries(
        self, request: T.ListWebhookDeliveriesRequest, context: Context
    ) -> T.ListWebhookDeliveriesResponse:
        record = await self._webhook(request.parent, "parent")
        if request.state not in T.WebhookDeliveryState.values():
            raise errors.invalid_argument([FieldViolation("state", "is not a delivery state")])
        query = pagination.fingerprint("deliveries", record.id, request.state)
        page = _page(request.page_size, request.page_token, DELIVERY_ORDER, query)
        found, more = await self.webhooks.store.deliveries(record.id, request.state, page)
        return T.ListWebhookDeliveriesResponse(
            deliveries=[webhook_convert.delivery(d) for d in found],
            next_page_token=pagination.next_token(DELIVERY_ORDER, query,
                                                  Listing(found, more, 0)),
        )  # fmt: skip

    async def _webhook(self, name: str, path: str = "name") -> WebhookRecord:
        webhook_id = name.removeprefix(PREFIX)
        if not name.startswith(PREFIX) or not webhook_id or "/" in webhook_id:
            raise errors.invalid_argument([FieldViolation(path, "must be webhooks/{webhook}")])
        record = await self.webhooks.store.get(webhook_id)
        identity = authn.caller()
        if record is None or not (identity.is_admin or record.owner == identity.subject):
            raise errors.not_found("Webhook", name)
        return record


def _page(size: int, token: str, order: pagination.Order[Any], query: str) -> Page:
    page_size, bad = pagination.page_size(size)
    cursor, wrong = pagination.decode_token(token, order, query)
    if bad + wrong:
        raise errors.invalid_argument(bad + wrong)
    return Page(page_size, cursor)
