"""The webhook RPCs: create, read, list, update, delete, rotate the secret, list deliveries.

The contract makes them admin-only; tenancy is still checked on every call, as for tasks
(`voka.tenancy`). The signing secret is answered only by CreateWebhook and RotateWebhookSecret.
Each change refreshes this replica's dispatcher at once (the others within its refresh round).
"""

from __future__ import annotations

import uuid
from typing import Any

from services.tasks.rpcs.base import BaseRpcs, Context, now
from services.tasks.webhooks import convert
from services.tasks.webhooks.records import WebhookRecord
from services.tasks.webhooks.secrets import new_secret
from services.tasks.webhooks.store import DELIVERY_ORDER, ORDER
from services.tasks.webhooks.validation import (
    DEFAULT_ATTEMPTS,
    EDITABLE,
    NAME_PREFIX,
    problems,
    update_problems,
    webhook_id,
)
from voka import authn, errors, pagination, tenancy
from voka.errors import FieldViolation
from voka.pagination import Listing, Page
from voka.tasks.v1 import tasks_pb2


class WebhooksRpcs(BaseRpcs):
    """CreateWebhook ... ListWebhookDeliveries."""

    async def CreateWebhook(
        self, request: tasks_pb2.CreateWebhookRequest, context: Context
    ) -> tasks_pb2.CreateWebhookResponse:
        hooks, given = self._webhooks, request.webhook
        if bad := problems(given, EDITABLE, hooks.allowed):
            raise errors.invalid_argument(bad)
        new_id, secret, at = uuid.uuid4().hex, new_secret(), now()
        record = WebhookRecord(
            id=new_id, owner=authn.caller().subject, description=given.description,
            target_uri=given.target_uri, event_subjects=list(given.event_subjects),
            active=given.active if given.HasField("active") else True,
            sealed_secret=hooks.sealer.seal(secret, NAME_PREFIX + new_id),
            max_attempts=given.max_attempts or DEFAULT_ATTEMPTS, create_time=at, update_time=at,
        )  # fmt: skip
        if not await hooks.store.create(record, hooks.per_owner):
            raise errors.quota_exceeded(
                f"at most {hooks.per_owner} webhooks per owner", record.owner, "webhooks"
            )
        await hooks.dispatcher.refresh()
        return tasks_pb2.CreateWebhookResponse(webhook=convert.webhook(record, secret))

    async def GetWebhook(
        self, request: tasks_pb2.GetWebhookRequest, context: Context
    ) -> tasks_pb2.GetWebhookResponse:
        record = await self._webhook(request.name)
        return tasks_pb2.GetWebhookResponse(webhook=convert.webhook(record))

    async def ListWebhooks(
        self, request: tasks_pb2.ListWebhooksRequest, context: Context
    ) -> tasks_pb2.ListWebhooksResponse:
        # The request has no owner filter: admins see every owner's, others their own.
        owner = tenancy.list_owner(tenancy.EVERYONE)
        query = pagination.fingerprint("webhooks", owner, request.event_subject)
        page = _page(request.page_size, request.page_token, ORDER, query)
        listing = await self._webhooks.store.page(owner, request.event_subject, page)
        return tasks_pb2.ListWebhooksResponse(
            webhooks=[convert.webhook(r) for r in listing.items],
            next_page_token=pagination.next_token(ORDER, query, listing),
            total_size=listing.total,
        )

    async def UpdateWebhook(
        self, request: tasks_pb2.UpdateWebhookRequest, context: Context
    ) -> tasks_pb2.UpdateWebhookResponse:
        given = request.webhook
        record = await self._webhook(given.name, "webhook.name")
        fields, bad = update_problems(request, self._webhooks.allowed)
        if bad:
            raise errors.invalid_argument(bad)
        values: dict[str, Any] = {f: getattr(given, f) for f in fields}
        if "event_subjects" in values:
            values["event_subjects"] = list(given.event_subjects)
        if "active" in values:
            values["active"] = given.active if given.HasField("active") else True
        if "max_attempts" in values:
            values["max_attempts"] = given.max_attempts or DEFAULT_ATTEMPTS
        updated = await self._webhooks.store.update(record.id, now(), **values)
        await self._webhooks.dispatcher.refresh()
        return tasks_pb2.UpdateWebhookResponse(webhook=convert.webhook(updated or record))

    async def DeleteWebhook(
        self, request: tasks_pb2.DeleteWebhookRequest, context: Context
    ) -> tasks_pb2.DeleteWebhookResponse:
        record = await self._webhook(request.name)
        pending = await self._webhooks.store.delete(record.id)
        await self._webhooks.dispatcher.refresh()
        for task_id in pending:  # a running attempt finishes; waiting ones never start
            if await self._store.cancel(task_id, "webhook deleted", now()):
                self._scheduler.forget(task_id)
        return tasks_pb2.DeleteWebhookResponse()

    async def RotateWebhookSecret(
        self, request: tasks_pb2.RotateWebhookSecretRequest, context: Context
    ) -> tasks_pb2.RotateWebhookSecretResponse:
        record = await self._webhook(request.name)
        secret = new_secret()
        sealed = self._webhooks.sealer.seal(secret, record.name)
        updated = await self._webhooks.store.update(record.id, now(), sealed_secret=sealed)
        await self._webhooks.dispatcher.refresh()
        return tasks_pb2.RotateWebhookSecretResponse(
            webhook=convert.webhook(updated or record, secret)
        )

    async def ListWebhookDeliveries(
        self, request: tasks_pb2.ListWebhookDeliveriesRequest, context: Context
    ) -> tasks_pb2.ListWebhookDeliveriesResponse:
        record = await self._webhook(request.parent, "parent")
        if request.state not in tasks_pb2.WebhookDeliveryState.values():
            raise errors.invalid_argument([FieldViolation("state", "is not a delivery state")])
        query = pagination.fingerprint("deliveries", record.id, request.state)
        page = _page(request.page_size, request.page_token, DELIVERY_ORDER, query)
        found, more = await self._webhooks.store.deliveries(record.id, request.state, page)
        return tasks_pb2.ListWebhookDeliveriesResponse(
            deliveries=[convert.delivery(d) for d in found],
            next_page_token=pagination.next_token(DELIVERY_ORDER, query,
                                                  Listing(found, more, 0)),
        )  # fmt: skip

    async def _webhook(self, name: str, path: str = "name") -> WebhookRecord:
        """The webhook if the caller may see it; NOT_FOUND otherwise."""
        record = await self._webhooks.store.get(webhook_id(name, path))
        tenancy.require_visible(record.owner if record else None, "Webhook", name)
        assert record is not None  # a missing webhook was refused just above
        return record


def _page(size: int, token: str, order: pagination.Order[Any], query: str) -> Page:
    page_size, bad = pagination.page_size(size)
    cursor, wrong = pagination.decode_token(token, order, query)
    if bad + wrong:
        raise errors.invalid_argument(bad + wrong)
    return Page(page_size, cursor)
