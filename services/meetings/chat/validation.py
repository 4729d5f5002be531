"""Field checks of the chat and search requests (see `services.meetings.validation` for the
shared rules: every bad field at once, by its path, with the parsed values beside them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.meetings.chat import passages
from services.meetings.chat.search_store import ALL_KINDS, SearchQuery
from services.meetings.validation import instant, language, reference, resource_id
from voka.errors import FieldViolation
from voka.meetings.v1 import knowledge_pb2, meetings_pb2

MAX_QUESTION = 4000
MAX_MEETINGS = 50
DEFAULT_SOURCES, MAX_SOURCES = 8, 20
MAX_QUERY = 1000
AskRequest = meetings_pb2.AskProjectRequest | meetings_pb2.StreamAskProjectRequest


@dataclass(frozen=True)
class Ask:
    """An ask request, checked."""

    project_id: str
    question: str
    meeting_ids: tuple[str, ...]
    max_sources: int
    language: str
    ephemeral: bool


def ask(request: AskRequest) -> tuple[Ask | None, list[FieldViolation]]:
    """The question asked, or None with every bad field."""
    project_id, violations = resource_id(request.project, "projects", "project")
    question = request.question.strip()
    if not question:
        violations.append(FieldViolation("question", "is required"))
    elif len(question) > MAX_QUESTION:
        violations.append(FieldViolation("question", f"must be at most {MAX_QUESTION} characters"))
    if not 0 <= request.max_sources <= MAX_SOURCES:
        violations.append(FieldViolation("max_sources", f"must be 0 to {MAX_SOURCES}"))
    if len(request.meetings) > MAX_MEETINGS:
        violations.append(FieldViolation("meetings", f"must be at most {MAX_MEETINGS}"))
    ids = []
    for i, name in enumerate(request.meetings):
        meeting_id, bad = resource_id(name, "meetings", f"meetings[{i}]")
        violations += bad
        ids.append(meeting_id or "")
    violations += language(request.language, "language")
    if project_id is None:
        return None, violations
    found = Ask(project_id, question, tuple(ids), request.max_sources or DEFAULT_SOURCES,
                request.language, request.ephemeral)  # fmt: skip
    return found, violations


def search_query(request: meetings_pb2.SearchRequest) -> tuple[SearchQuery, list[FieldViolation]]:
    """Every bad field at once."""
    violations: list[FieldViolation] = []
    words = passages.terms(request.query)
    if len(request.query) > MAX_QUERY:
        violations.append(FieldViolation("query", f"must be at most {MAX_QUERY} characters"))
    elif not words:
        violations.append(FieldViolation("query", "must contain a word to look for"))
    project, bad_project = reference(request.project, "projects", "project_id", "project")
    client, bad_client = reference(request.client, "clients", "client_id", "client")
    violations += bad_project + bad_client
    kinds = {k for k in request.kinds if k != knowledge_pb2.SOURCE_KIND_UNSPECIFIED}
    violations += [FieldViolation(f"kinds[{i}]", "is not a SourceKind")
                   for i, k in enumerate(request.kinds) if k not in ALL_KINDS | {0}]  # fmt: skip
    times: dict[str, Any] = {}
    for field in ("start_time_from", "start_time_to"):
        value, bad = instant(field, request, field, field)
        times |= value
        violations += bad
    since, until = times.get("start_time_from"), times.get("start_time_to")
    if since and until and until <= since:
        violations.append(FieldViolation("start_time_to", "must be after start_time_from"))
    if not 0 <= request.min_score <= 1:
        violations.append(FieldViolation("min_score", "must be 0 to 1"))
    query = SearchQuery(
        words, project.get("project_id") or "", client.get("client_id") or "",
        frozenset(kinds) or ALL_KINDS, since, until, request.min_score, request.query.strip(),
    )  # fmt: skip
    return query, violations
