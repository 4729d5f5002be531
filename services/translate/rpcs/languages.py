"""The catalogue: languages, language pairs and how each is served, and detection.

Pairs are an in-memory list (every ordered pair of the catalogue), so their pages are offset
pages; the token is bound to the filters it was made for. The languages and pairs are converted
to the contract's messages once per plan of the catalogue (`Catalogue.view`), not per call; a
page is a copy, so filling in which models are loaded never touches the kept messages.
"""

from __future__ import annotations

from collections.abc import Sequence

from services.translate import convert, validation
from services.translate.catalogue import LANGUAGES, PIVOT, Route
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
        languages: Sequence[translate_pb2.Language] = self._translator.catalogue.view(_languages)
        if request.installed_only:
            languages = [x for x in languages if x.installed_as_source or x.installed_as_target]
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
            pair
            for pair in self._translator.catalogue.view(_pairs)
            if _languages_match(request, pair.source_language_code, pair.target_language_code)
            and _kind_matches(request, pair)
        ]
        more = offset + size < len(pairs)
        reply = translate_pb2.ListLanguagePairsResponse(
            language_pairs=pairs[offset : offset + size],  # copies
            next_page_token=pagination.offset_token(query, offset + size) if more else "",
            total_size=len(pairs),
        )
        for pair in reply.language_pairs:
            for leg in pair.legs:
                leg.loaded = leg.installed and self._loaded(
                    leg.engine, leg.source_language_code, leg.target_language_code
                )
        return reply


def _languages(routes: Sequence[Route]) -> tuple[translate_pb2.Language, ...]:
    """Every language of the catalogue, with what its installed routes make of it."""
    installed = [r for r in routes if r.installed]
    sources = {r.source for r in installed}
    targets = {r.target for r in installed}
    return tuple(
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
    )


def _pairs(routes: Sequence[Route]) -> tuple[translate_pb2.LanguagePair, ...]:
    """Every ordered pair as the contract shows it, legs not yet marked loaded."""
    return tuple(convert.pair(route) for route in routes)


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
