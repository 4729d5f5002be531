"""Webhook records → contract messages."""

from __future__ import annotations

from google.protobuf import json_format

from services.tasks.functions.webhooks import outcome
from services.tasks.records import AttemptError
from services.tasks.webhooks.records import DeliveryRecord, WebhookRecord
from voka.tasks.v1 import tasks_pb2
from voka.wellknown import duration, timestamp

FINAL = frozenset({
    tasks_pb2.WEBHOOK_DELIVERY_STATE_SUCCEEDED, tasks_pb2.WEBHOOK_DELIVERY_STATE_FAILED,
    tasks_pb2.WEBHOOK_DELIVERY_STATE_CANCELLED,
})  # fmt: skip


def webhook(record: WebhookRecord, secret: str = "") -> tasks_pb2.Webhook:
    """The resource; `secret` only in the answers of create and rotate."""
    message = tasks_pb2.Webhook(
        name=record.name, description=record.description, target_uri=record.target_uri,
        event_subjects=record.event_subjects, active=record.active, secret=secret,
        max_attempts=record.max_attempts, owner=record.owner,
        consecutive_failures=record.consecutive_failures,
        create_time=timestamp(record.create_time), update_time=timestamp(record.update_time),
    )  # fmt: skip
    if record.last_delivery_time is not None:
        message.last_delivery_time.CopyFrom(timestamp(record.last_delivery_time))
    return message


def delivery(record: DeliveryRecord) -> tasks_pb2.WebhookDelivery:
    error = AttemptError.from_json(record.last_error)
    failed = record.state != tasks_pb2.WEBHOOK_DELIVERY_STATE_SUCCEEDED and error is not None
    message_text = error.message if failed and error is not None else ""
    code, latency = outcome(record.result, message_text)
    message = tasks_pb2.WebhookDelivery(
        name=record.name, event_subject=record.event_subject, event_id=record.event_id,
        task=f"tasks/{record.task_id}", state=record.state, attempts=record.attempts,
        response_code=code, last_error=message_text,
        create_time=timestamp(record.create_time),
    )  # fmt: skip
    json_format.ParseDict(record.payload, message.payload)
    if latency is not None:
        message.latency.CopyFrom(duration(latency))
    if record.state in FINAL and record.end_time is not None:
        message.complete_time.CopyFrom(timestamp(record.end_time))
    return message
