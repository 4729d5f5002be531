"""Checks of a Webhook sent to CreateWebhook or UpdateWebhook: every bad field at once, named
by its path in the request (`webhook.event_subjects[1]`)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from services.tasks import webhook_targets
from services.tasks.webhook_subjects import pattern_problem
from services.tasks.webhook_targets import Allowed, TargetRefused
from voka.errors import FieldViolation
from voka.tasks.v1 import tasks_pb2

EDITABLE = ("description", "target_uri", "event_subjects", "active", "max_attempts")
MAX_SUBJECTS = 20
MAX_DESCRIPTION = 1000
MAX_ATTEMPTS = 20
DEFAULT_ATTEMPTS = 8
PREFIX = "webhook."

Check = Callable[[tasks_pb2.Webhook, Allowed], Iterator[FieldViolation]]


def problems(
    webhook: tasks_pb2.Webhook, fields: Collection[str], allowed: Allowed
) -> list[FieldViolation]:
    """Violations of the `fields` being set (all of EDITABLE on create)."""
    return [v for name in fields for v in _CHECKS[name](webhook, allowed)]


def _target(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    path = PREFIX + "target_uri"
    if not webhook.target_uri:
        yield FieldViolation(path, "is required")
        return
    try:
        url = webhook_targets.parse(webhook.target_uri, allowed)
    except TargetRefused as exc:
        yield FieldViolation(path, str(exc))
        return
    refused = webhook_targets.refused_address(url.hostname or "", allowed)
    if refused:
        yield FieldViolation(path, refused)


def _subjects(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    path = PREFIX + "event_subjects"
    if not 1 <= len(webhook.event_subjects) <= MAX_SUBJECTS:
        yield FieldViolation(path, f"1 to {MAX_SUBJECTS} subjects")
    for index, subject in enumerate(webhook.event_subjects):
        problem = pattern_problem(subject)
        if problem:
            yield FieldViolation(f"{path}[{index}]", problem)


def _description(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    if len(webhook.description) > MAX_DESCRIPTION:
        yield FieldViolation(PREFIX + "description", f"at most {MAX_DESCRIPTION} characters")


def _attempts(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    if not 0 <= webhook.max_attempts <= MAX_ATTEMPTS:
        yield FieldViolation(PREFIX + "max_attempts", f"must be 1 to {MAX_ATTEMPTS} (0: 8)")


def _nothing(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    yield from ()


_CHECKS: dict[str, Check] = {
    "description": _description,
    "target_uri": _target,
    "event_subjects": _subjects,
    "active": _nothing,
    "max_attempts": _attempts,
}
