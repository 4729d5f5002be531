"""Usage figures: every text translated or attempted counts, whether its history was kept,
deleted or skipped."""

from __future__ import annotations

from services.translate import convert
from services.translate.rpcs.base import Context, TranslateRpcs
from services.translate.store import Filter
from voka import tenancy
from voka.translate.v1 import translate_pb2


class UsageRpcs(TranslateRpcs):
    """GetTranslationStats."""

    async def GetTranslationStats(
        self, request: translate_pb2.GetTranslationStatsRequest, context: Context
    ) -> translate_pb2.GetTranslationStatsResponse:
        owner = tenancy.list_owner(request.owner)
        where = Filter(
            owner,
            start=convert.time_field(request, "start_time"),
            end=convert.time_field(request, "end_time"),
        )
        total, groups = await self._store.stats(where)
        stats = convert.stats(owner or tenancy.EVERYONE, where.start, where.end, total, groups)
        return translate_pb2.GetTranslationStatsResponse(stats=stats)
