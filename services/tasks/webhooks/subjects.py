"""The events a webhook may follow: every event type the contracts declare with a
`(voka.api.v1.subject)`, less the tasks service's internal protocol (dispatches, attempt
reports, worker status, cancellation hints), and how NATS subject patterns match them.

The catalogue is read from the generated modules, so a new event in a contract is deliverable
without a list to keep here."""

from __future__ import annotations

import importlib
import re
from functools import cache

from google.protobuf.message import Message

from voka import registry
from voka.bus import subject_of

INTERNAL = frozenset({
    "voka.tasks.task.dispatched",
    "voka.tasks.attempt.reported",
    "voka.tasks.worker.status_reported",
    "voka.tasks.task.cancellation_requested",
})  # fmt: skip
_TOKEN = re.compile(r"^([a-z0-9_-]+|\*|>)$")


@cache
def public_events() -> dict[str, type[Message]]:
    """Subject → event type, for every deliverable event of every domain (and ops)."""
    found: dict[str, type[Message]] = {}
    for domain in (*registry.names(), "ops"):
        module = importlib.import_module(f"voka.{domain}.v1.events_pb2")
        for name in module.DESCRIPTOR.message_types_by_name:
            kind: type[Message] = getattr(module, name)
            try:
                subject = subject_of(kind)
            except ValueError:  # a message that is part of an event, not an event
                continue
            if subject not in INTERNAL:
                found[subject] = kind
    return found


def matches(pattern: str, subject: str) -> bool:
    """NATS matching: `*` is one token, a final `>` one or more."""
    wanted, tokens = pattern.split("."), subject.split(".")
    for index, part in enumerate(wanted):
        if part == ">":
            return len(tokens) > index
        if index >= len(tokens) or part not in ("*", tokens[index]):
            return False
    return len(wanted) == len(tokens)


def pattern_problem(pattern: str) -> str | None:
    """Why `pattern` cannot be a webhook's subject, or None: it must be a well-formed subject
    or NATS pattern under `voka.` that matches at least one deliverable event."""
    tokens = pattern.split(".")
    if tokens[0] != "voka" or not all(_TOKEN.match(t) for t in tokens):
        return "must be an event subject or pattern, e.g. voka.meetings.summary.completed"
    if ">" in tokens[:-1]:
        return "may use > only as its last token"
    if not any(matches(pattern, s) for s in public_events()):
        return "matches no event (see the contracts' events.proto files)"
    return None


def followed(patterns: list[str]) -> dict[str, type[Message]]:
    """The deliverable events these patterns receive."""
    return {s: t for s, t in public_events().items() if any(matches(p, s) for p in patterns)}
