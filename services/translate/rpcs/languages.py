"""The catalogue: languages, language pairs and how each is served, and detection.

Pairs are an in-memory list (every ordered pair of the catalogue), so their pages are offset
pages; the token is bound to the filters it was made for.
"""

from __future__ import annotations

from services.translate import convert, validation
from services.translate.catalogue import LANGUAGES, PIVOT
from services.translate.rpcs.base import Context, TranslateRpcs
from voka import pagination
from voka.translate.v1 import translate_pb2


class LanguageRpcs(TranslateRpcs):
    """DetectLanguage, ListLanguages, ListLanguagePairs."""

    async def DetectLanguage(
        self, request: translate_pb2.DetectLanguageRequest, context: Context
    ) -> translate_pb2.DetectLanguageResponse:
        validation.check(validation.text(request.text, "text"))
        found = await self._translator.detect(request.text)
        return translate_pb2.DetectLanguageResponse(languages=[convert.detected(d) for d in found])

    async def ListLanguages(
        self, request: translate_pb2.ListLanguagesRequest, context: Context
    ) -> translate_pb2.ListLanguagesResponse:
        routes = [r for r in self._translator.catalogue.routes() if r.installed]
        sources = {r.source for r in routes}
        targets = {r.target for r in routes}
        languages = [
            translate_pb2.Language(
                name=f"languages/{code}",
                language_code=code,
                display_name=english,
                native_name=native,
                installed_as_source=code in sources,
                installed_as_target=code in targets,
                detectable=True,
            )
            for code, (english, native) in sorted(LANGUAGES.items())
            if not request.installed_only or code in sources | targets
        ]
        # The preferred pivot: a pair's own route may pivot through another language.
        return translate_pb2.ListLanguagesResponse(languages=languages, pivot_language_code=PIVOT)

    async def ListLanguagePairs(
        self, request: translate_pb2.ListLanguagePairsRequest, context: Context
    ) -> translate_pb2.ListLanguagePairsResponse:
        size, bad_size = pagination.page_size(request.page_size)
        query = pagination.fingerprint(
            request.source_language_code,
            request.target_language_code,
            request.installed_only,
            request.engine,
            request.route_type,
        )
        offset, bad_token = pagination.offset_of(request.page_token, query)
        validation.check(bad_size, bad_token, validation.pair_filter(request))
        pairs = [
            convert.pair(route)
            for route in self._translator.catalogue.routes()
            if _languages_match(request, route.source, route.target)
        ]
        pairs = [p for p in pairs if _kind_matches(request, p)]
        page = pairs[offset : offset + size]
        for pair in page:
            for leg in pair.legs:
                leg.loaded = leg.installed and self._loaded(
                    leg.engine, leg.source_language_code, leg.target_language_code
                )
        more = offset + size < len(pairs)
        return translate_pb2.ListLanguagePairsResponse(
            language_pairs=page,
            next_page_token=pagination.offset_token(query, offset + size) if more else "",
            total_size=len(pairs),
        )


def _languages_match(
    request: translate_pb2.ListLanguagePairsRequest, source: str, target: str
) -> bool:
    return (not request.source_language_code or request.source_language_code == source) and (
        not request.target_language_code or request.target_language_code == target
    )


def _kind_matches(
    request: translate_pb2.ListLanguagePairsRequest, pair: translate_pb2.LanguagePair
) -> bool:
    return (
        (not request.installed_only or pair.installed)
        and (not request.engine or pair.engine == request.engine)
        and (not request.route_type or pair.route_type == request.route_type)
    )
