"""Checks of a Webhook sent to CreateWebhook or UpdateWebhook: every bad field at once, named
by its path in the request (`webhook.event_subjects[1]`); and of webhook names."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator

from services.tasks.webhooks import targets
from services.tasks.webhooks.subjects import pattern_problem
from services.tasks.webhooks.targets import Allowed, TargetRefused
from voka import errors
from voka.errors import FieldViolation
from voka.tasks.v1 import tasks_pb2

EDITABLE = ("description", "target_uri", "event_subjects", "active", "max_attempts")
MAX_SUBJECTS = 20
MAX_DESCRIPTION = 1000
MAX_ATTEMPTS = 20
DEFAULT_ATTEMPTS = 8
FIELD_PREFIX = "webhook."
NAME_PREFIX = "webhooks/"

Check = Callable[[tasks_pb2.Webhook, Allowed], Iterator[FieldViolation]]


def problems(
    webhook: tasks_pb2.Webhook, fields: Collection[str], allowed: Allowed
) -> list[FieldViolation]:
    """Violations of the `fields` being set (all of EDITABLE on create)."""
    return [v for name in fields for v in _CHECKS[name](webhook, allowed)]


def webhook_id(name: str, path: str = "name") -> str:
    """The id in a `webhooks/{webhook}` name; INVALID_ARGUMENT naming `path` otherwise."""
    found = name.removeprefix(NAME_PREFIX)
    if not name.startswith(NAME_PREFIX) or not found or "/" in found:
        raise errors.invalid_argument([FieldViolation(path, "must be webhooks/{webhook}")])
    return found


def update_problems(
    request: tasks_pb2.UpdateWebhookRequest, allowed: Allowed
) -> tuple[list[str], list[FieldViolation]]:
    """The fields an update sets (the mask's paths; none: every editable one) and every
    violation: a path that is not editable, or a bad value of one that is."""
    fields = list(request.update_mask.paths) or list(EDITABLE)
    bad = [FieldViolation(f"update_mask.paths[{i}]", f"must be one of {', '.join(EDITABLE)}")
           for i, f in enumerate(fields) if f not in EDITABLE]  # fmt: skip
    bad += problems(request.webhook, [f for f in fields if f in EDITABLE], allowed)
    return fields, bad


def _target(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    path = FIELD_PREFIX + "target_uri"
    if not webhook.target_uri:
        yield FieldViolation(path, "is required")
        return
    try:
        url = targets.parse(webhook.target_uri, allowed)
    except TargetRefused as exc:
        yield FieldViolation(path, str(exc))
        return
    refused = targets.refused_address(url.hostname or "", allowed)
    if refused:
        yield FieldViolation(path, refused)


def _subjects(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    path = FIELD_PREFIX + "event_subjects"
    if not 1 <= len(webhook.event_subjects) <= MAX_SUBJECTS:
        yield FieldViolation(path, f"1 to {MAX_SUBJECTS} subjects")
    for index, subject in enumerate(webhook.event_subjects):
        problem = pattern_problem(subject)
        if problem:
            yield FieldViolation(f"{path}[{index}]", problem)


def _description(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    if len(webhook.description) > MAX_DESCRIPTION:
        yield FieldViolation(FIELD_PREFIX + "description", f"at most {MAX_DESCRIPTION} characters")


def _attempts(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    if not 0 <= webhook.max_attempts <= MAX_ATTEMPTS:
        yield FieldViolation(FIELD_PREFIX + "max_attempts", f"must be 1 to {MAX_ATTEMPTS} (0: 8)")


def _nothing(webhook: tasks_pb2.Webhook, allowed: Allowed) -> Iterator[FieldViolation]:
    yield from ()


_CHECKS: dict[str, Check] = {
    "description": _description,
    "target_uri": _target,
    "event_subjects": _subjects,
    "active": _nothing,
    "max_attempts": _attempts,
}
