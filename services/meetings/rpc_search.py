"""Search, mixed into the servicer: candidates found in SQL within what the caller may see
(`search_store`), ranked by the share of the query's words they contain (`passages`), best
first, in offset pages of that ranking (tied to the query by the token)."""

from __future__ import annotations

from typing import Any

from services.meetings import meeting_validation, passages
from services.meetings.deps import Deps
from services.meetings.rpc_common import Context, check, viewer
from services.meetings.search_store import ALL_KINDS, SearchQuery, SearchRepo
from services.meetings.validation import resource_id
from voka.errors import FieldViolation
from voka.meetings.v1 import knowledge_pb2, meetings_pb2
from voka.pagination import offset_of, offset_token, page_size

K = knowledge_pb2
MAX_QUERY = 1000
DEFAULT_PAGE, MAX_PAGE = 10, 100


def _optional_id(name: str, collection: str, path: str) -> tuple[str, list[FieldViolation]]:
    """The id in a filter's resource name; empty: no filter."""
    if not name:
        return "", []
    found, violations = resource_id(name, collection, path)
    return found or "", violations


def _query(request: meetings_pb2.SearchRequest) -> tuple[SearchQuery, list[FieldViolation]]:
    """Every bad field at once."""
    violations: list[FieldViolation] = []
    words = passages.terms(request.query)
    if len(request.query) > MAX_QUERY:
        violations.append(FieldViolation("query", f"must be at most {MAX_QUERY} characters"))
    elif not words:
        violations.append(FieldViolation("query", "must contain a word to look for"))
    project_id, bad_project = _optional_id(request.project, "projects", "project")
    client_id, bad_client = _optional_id(request.client, "clients", "client")
    violations += bad_project + bad_client
    kinds = {k for k in request.kinds if k != K.SOURCE_KIND_UNSPECIFIED}
    violations += [FieldViolation(f"kinds[{i}]", "is not a SourceKind")
                   for i, k in enumerate(request.kinds) if k not in ALL_KINDS | {0}]  # fmt: skip
    times: dict[str, Any] = {}
    for field in ("start_time_from", "start_time_to"):
        value, bad = meeting_validation.instant(field, request, field, field)
        times |= value
        violations += bad
    since, until = times.get("start_time_from"), times.get("start_time_to")
    if since and until and until <= since:
        violations.append(FieldViolation("start_time_to", "must be after start_time_from"))
    if not 0 <= request.min_score <= 1:
        violations.append(FieldViolation("min_score", "must be 0 to 1"))
    query = SearchQuery(
        words, project_id, client_id, frozenset(kinds) or ALL_KINDS,
        since, until, request.min_score,
    )  # fmt: skip
    return query, violations


class SearchRpcs:
    """Mixed into the servicer; `_deps` is set by it."""

    _deps: Deps

    async def Search(
        self, request: meetings_pb2.SearchRequest, context: Context
    ) -> meetings_pb2.SearchResponse:
        query, violations = _query(request)
        size, bad_size = page_size(request.page_size, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        start, bad_token = offset_of(request.page_token, query.fingerprint())
        check(violations + bad_size + bad_token)
        async with self._deps.store.session() as session:
            found = await SearchRepo(session).candidates(viewer(), query)
        ranked = [r for r in passages.rank(found, query.words) if r.score >= query.min_score]
        page = ranked[start : start + size]
        more = start + size < len(ranked)
        return meetings_pb2.SearchResponse(
            results=[K.SearchResult(source=passages.source_ref(r.passage), score=r.score,
                                    snippet=passages.snippet(r.passage.text, query.words))
                     for r in page],
            next_page_token=offset_token(query.fingerprint(), start + size) if more else "",
        )  # fmt: skip
