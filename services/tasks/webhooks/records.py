"""Webhook tables and their rows as plain records.

A delivery row only says which event went to which webhook through which task: where the
delivery stands (attempts, outcome, times) is read from that task's row, the one truth the
scheduler keeps, so the two can never disagree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import sqlalchemy as sa

from services.tasks.records import metadata
from voka.tasks.v1 import tasks_pb2
from voka.wellknown import utc

DeliveryState: TypeAlias = tasks_pb2.WebhookDeliveryState.ValueType

webhooks = sa.Table(
    "tasks_webhooks",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("owner", sa.String(200), nullable=False),
    sa.Column("description", sa.Text(), nullable=False),
    sa.Column("target_uri", sa.Text(), nullable=False),
    sa.Column("event_subjects", sa.Text(), nullable=False),  # JSON list
    sa.Column("active", sa.Boolean(), nullable=False),
    sa.Column("sealed_secret", sa.Text(), nullable=False),
    sa.Column("max_attempts", sa.Integer(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
    sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
)

deliveries = sa.Table(
    "tasks_webhook_deliveries",
    metadata,
    sa.Column("id", sa.String(32), primary_key=True),  # derived from (webhook, event id)
    sa.Column("webhook_id", sa.String(32), nullable=False),
    sa.Column("event_id", sa.String(64), nullable=False),
    sa.Column("event_subject", sa.String(200), nullable=False),
    sa.Column("task_id", sa.String(32), nullable=False),
    sa.Column("payload", sa.Text(), nullable=False),
    sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
)


@dataclass(frozen=True)
class WebhookRecord:
    """One row of `tasks_webhooks`, with the figures read from its deliveries' tasks."""

    id: str
    owner: str
    description: str
    target_uri: str
    event_subjects: list[str]
    active: bool
    sealed_secret: str
    max_attempts: int
    create_time: datetime
    update_time: datetime
    consecutive_failures: int = 0
    last_delivery_time: datetime | None = None

    @property
    def name(self) -> str:
        return f"webhooks/{self.id}"

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> WebhookRecord:
        values = dict(row._mapping)
        values["event_subjects"] = json.loads(values["event_subjects"])
        for key in ("create_time", "update_time", "last_delivery_time"):
            if values.get(key) is not None:
                values[key] = utc(values[key])
        return cls(**values)


@dataclass(frozen=True)
class DeliveryRecord:
    """One delivery with its task's progress."""

    id: str
    webhook_id: str
    event_id: str
    event_subject: str
    task_id: str
    payload: dict[str, Any]
    create_time: datetime
    state: DeliveryState
    attempts: int
    result: Any
    last_error: str | None  # the task's last error (JSON), if any
    end_time: datetime | None

    @property
    def name(self) -> str:
        return f"webhooks/{self.webhook_id}/deliveries/{self.id}"

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> DeliveryRecord:
        values = dict(row._mapping)
        values["payload"] = json.loads(values["payload"])
        values["result"] = None if values["result"] is None else json.loads(values["result"])
        values["create_time"] = utc(values["create_time"])
        values["end_time"] = values["end_time"] and utc(values["end_time"])
        return cls(**values)
