"""Search: candidates found in SQL within what the caller may see (`chat.search_store`; the
meetings `meetings.access` lets them see, the projects, clients and chat they own), ranked by
the share of the query's words they contain (`chat.passages`), best first, in offset pages of
that ranking (tied to the query by the token)."""

from __future__ import annotations

from services.meetings.chat import convert, passages, validation
from services.meetings.meetings import access
from services.meetings.rpcs.base import Context, RpcBase, check
from voka import tenancy
from voka.meetings.v1 import meetings_pb2
from voka.pagination import offset_of, offset_token, page_size

DEFAULT_PAGE, MAX_PAGE = 10, 100


class SearchRpcs(RpcBase):
    async def Search(
        self, request: meetings_pb2.SearchRequest, context: Context
    ) -> meetings_pb2.SearchResponse:
        query, violations = validation.search_query(request)
        size, bad_size = page_size(request.page_size, default=DEFAULT_PAGE, maximum=MAX_PAGE)
        start, bad_token = offset_of(request.page_token, query.fingerprint())
        check(violations + bad_size + bad_token)
        owner = tenancy.list_owner("")  # the caller's own: Search has no owner filter
        async with self._database.transaction() as stores:
            found = await stores.search.candidates(query, meetings_of=access.seen_by(), owner=owner)
        ranked = [r for r in passages.rank(found, query.words) if r.score >= query.min_score]
        page = ranked[start : start + size]
        more = start + size < len(ranked)
        return meetings_pb2.SearchResponse(
            results=[convert.search_result(r, query.words) for r in page],
            next_page_token=offset_token(query.fingerprint(), start + size) if more else "",
        )
