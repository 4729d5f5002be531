"""Search by words and by meaning, within what the caller may see (`chat.search_store`; the
meetings `meetings.access` lets them see, the projects, clients and chat they own): the
passages holding the query's words and the passages whose vectors are nearest the query's,
fused by reciprocal rank (`chat.hybrid`), best first, in offset pages of that ranking (tied to
the query by the token).

The query is embedded by the assistant's EmbeddingService on the caller's behalf; when it is
away or slower than `meetings_search_embed_timeout`, Search answers by words alone rather than
fail."""

from __future__ import annotations

from typing import TypedDict

from services.meetings.chat import convert, hybrid, validation
from services.meetings.chat.passages import Passage
from services.meetings.chat.search_store import SearchQuery, SearchStore, by_refs
from services.meetings.chat.vectors import Ref
from services.meetings.meetings import access
from services.meetings.rpcs.base import Context, RpcBase, check
from voka import tenancy
from voka.assistant.v1 import embeddings_pb2
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
        embedded = await self._embedded(query.text)
        async with self._database.transaction() as stores:
            reach = _reach()
            found = await stores.search.candidates(query, **reach)
            similar = {} if embedded is None else await self._nearest(
                stores.search, query, embedded, found, reach)  # fmt: skip
        ranked = [r for r in hybrid.rank(found, query.words, similar) if r.score >= query.min_score]
        page = ranked[start : start + size]
        more = start + size < len(ranked)
        return meetings_pb2.SearchResponse(
            results=[convert.search_result(r, query.words) for r in page],
            next_page_token=offset_token(query.fingerprint(), start + size) if more else "",
        )

    async def _nearest(
        self, search: SearchStore, query: SearchQuery,
        embedded: embeddings_pb2.EmbedTextsResponse, found: dict[Ref, Passage], reach: Reach,
    ) -> dict[Ref, float]:  # fmt: skip
        """The passages in reach nearest the query, their similarity; those not among the word
        matches are read into `found`."""
        similar = await hybrid.nearest(
            search, self._vector_cache, query, embedded, limit=hybrid.NEAREST,
            floor=self._settings.meetings_search_min_similarity, **reach,
        )  # fmt: skip
        unread = [ref for ref in similar if ref not in found]
        if unread:
            found |= await search.passages(query, by_refs(unread), **reach)
        return similar


class Reach(TypedDict):
    meetings_of: str | None
    owner: str | None


def _reach() -> Reach:
    """The meetings the caller may see and the owner whose projects, clients and chat they
    search (their own: Search has no owner filter)."""
    return Reach(meetings_of=access.seen_by(), owner=tenancy.list_owner(""))
