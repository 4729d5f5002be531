"""Field checks of the memory, profile and feedback requests, every bad field at once with its
path in the request."""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.assistant.memory.extraction import FACT, MAX_CHARS
from services.assistant.validation import Violations, resource_id, text
from voka.assistant.v1 import assistant_pb2
from voka.errors import FieldViolation

MAX_REASON = 500
MEMORY_FIELDS = ("content", "kind")
PROFILE_FIELDS = ("tone", "language", "verbosity", "memory_enabled")
_PROFILE = re.compile(r"^(users/[^/]{1,186})/profile$")  # the owner fits its 200 characters
_MESSAGE = re.compile(r"^conversations/([0-9a-f]{32})/messages/([0-9a-f]{32})$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$")  # BCP 47, loosely


def _enum(value: int, known: Iterable[int], path: str) -> Violations:
    return [] if value in known else [FieldViolation(path, "unknown value")]


def memory(given: assistant_pb2.Memory, fields: Iterable[str], path: str = "memory") -> Violations:
    """A memory's content (1 to 500 characters) and kind, where they are set."""
    problems: Violations = []
    if "content" in fields:
        problems += text(given.content, f"{path}.content", MAX_CHARS, required=True)
    if "kind" in fields:
        problems += _enum(given.kind, assistant_pb2.MemoryKind.values(), f"{path}.kind")
    return problems


def kind_of(given: assistant_pb2.Memory) -> assistant_pb2.MemoryKind.ValueType:
    return given.kind or FACT


def memory_update(
    request: assistant_pb2.UpdateMemoryRequest,
) -> tuple[str, set[str], Violations]:
    """UpdateMemory's memory id, its fields (empty mask: `content`), what is wrong."""
    memory_id, problems = resource_id(request.memory.name, "memories", "memory.name")
    fields = set(request.update_mask.paths) or {"content"}
    problems += [FieldViolation("update_mask", f"cannot update {p!r}")
                 for p in sorted(fields - set(MEMORY_FIELDS))]  # fmt: skip
    problems += memory(request.memory, fields)
    return memory_id, fields, problems


def profile_owner(name: str, caller: str, path: str = "name") -> tuple[str, Violations]:
    """The user a profile name names (`users/{user}/profile`), the caller's when empty."""
    if not name:
        return caller, []
    found = _PROFILE.match(name)
    if found is not None:
        return found.group(1), []
    return "", [FieldViolation(path, "must be users/{user}/profile, or empty for your own")]


def profile_fields(request: assistant_pb2.UpdateProfileRequest) -> tuple[set[str], Violations]:
    """UpdateProfile's fields to change and what is wrong with them. An empty mask means the
    fields the request sets (proto3 cannot tell `false` from unset, so turning memory off
    names `memory_enabled` in the mask)."""
    populated = {field.name for field, _ in request.profile.ListFields()}
    fields = set(request.update_mask.paths) or populated & set(PROFILE_FIELDS)
    problems = [FieldViolation("update_mask", f"cannot update {p!r}")
                for p in sorted(fields - set(PROFILE_FIELDS))]  # fmt: skip
    if not fields:
        problems.append(FieldViolation("update_mask", "names no field to change"))
    given = request.profile
    if "tone" in fields:
        problems += _enum(given.tone, assistant_pb2.Tone.values(), "profile.tone")
    if "verbosity" in fields:
        problems += _enum(given.verbosity, assistant_pb2.Verbosity.values(), "profile.verbosity")
    if "language" in fields and given.language and not _LANGUAGE.match(given.language):
        problems.append(FieldViolation("profile.language", "must be a BCP 47 tag such as es"))
    problems += text(given.language, "profile.language", 35)
    return fields, problems


def feedback(request: assistant_pb2.SubmitFeedbackRequest) -> tuple[str, str, Violations]:
    """SubmitFeedback's conversation and message ids, and what is wrong with the request."""
    problems: Violations = []
    found = _MESSAGE.match(request.message)
    if found is None:
        problems.append(FieldViolation("message", "must be conversations/{id}/messages/{id}"))
    if request.rating == assistant_pb2.FEEDBACK_RATING_UNSPECIFIED:
        problems.append(FieldViolation("rating", "is required"))
    else:
        problems += _enum(request.rating, assistant_pb2.FeedbackRating.values(), "rating")
    problems += text(request.reason, "reason", MAX_REASON)
    ids = found.groups() if found else ("", "")
    return ids[0], ids[1], problems
