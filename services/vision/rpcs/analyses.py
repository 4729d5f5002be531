"""GetAnalysis and ListAnalyses: the caller's history (an admin's: anyone's), through the
kit's tenancy and page tokens."""

from __future__ import annotations

from services.vision import convert, validation
from services.vision.analyses.store import NEWEST_FIRST, AnalysisQuery
from services.vision.rpcs.base import ANALYSIS, Context, RpcBase, check
from voka import tenancy
from voka.pagination import Page, decode_token, next_token, page_size
from voka.vision.v1 import vision_pb2


class AnalysesRpcs(RpcBase):
    async def GetAnalysis(
        self, request: vision_pb2.GetAnalysisRequest, context: Context
    ) -> vision_pb2.GetAnalysisResponse:
        analysis_id, violations = validation.analysis_id(request.name)
        check(violations)
        async with self._analyses() as store:
            record = tenancy.visible(await store.get(analysis_id), ANALYSIS, request.name)
        return vision_pb2.GetAnalysisResponse(analysis=convert.analysis(record))

    async def ListAnalyses(
        self, request: vision_pb2.ListAnalysesRequest, context: Context
    ) -> vision_pb2.ListAnalysesResponse:
        query = AnalysisQuery(kind=request.kind, owner=request.owner)
        size, violations = page_size(request.page_size)
        cursor, bad_token = decode_token(request.page_token, NEWEST_FIRST, query.fingerprint())
        check(violations + validation.list_kind(request.kind) + bad_token)
        owner = tenancy.list_owner(request.owner)
        async with self._analyses() as store:
            listing = await store.listing(owner, query, Page(size, cursor))
        return vision_pb2.ListAnalysesResponse(
            analyses=[convert.analysis(r) for r in listing.items],
            next_page_token=next_token(NEWEST_FIRST, query.fingerprint(), listing),
            total_size=listing.total,
        )
