"""LibreTranslate's API (LibreTranslateService): its bodies in and out, TranslateText's work.

Each text of `q` is one TranslateText call on the same servicer, so it is validated, routed,
batched, cached and recorded in the caller's history and usage exactly as a TranslateText
request is; the texts of an array run concurrently. `format=html` translates each text node of
the markup that way (services.translate.libretranslate.markup), the source detected once for
the whole text. A text of whitespace only comes back as it is, as LibreTranslate returns what
it cannot translate.
"""

from __future__ import annotations

import asyncio

from google.api import httpbody_pb2

from services.translate import validation
from services.translate.catalogue import AUTO, LANGUAGES, PIVOT
from services.translate.libretranslate import access, forms, markup, parsing, shapes
from services.translate.libretranslate.shapes import Detection, LanguageEntry, Result
from services.translate.rpcs import TranslateServicer
from services.translate.rpcs.base import Context
from services.translate.translator import Translator, unsure
from voka.translate.v1 import libretranslate_pb2, libretranslate_pb2_grpc, translate_pb2

# What LibreTranslate answers for `auto` on a text it cannot translate.
UNDETECTED = Detection("en", 0.0)


class LibreTranslateRpcs(libretranslate_pb2_grpc.LibreTranslateServiceServicer):
    """Translate, GetLanguages, Detect, GetFrontendSettings."""

    def __init__(self, translations: TranslateServicer, translator: Translator) -> None:
        self._translations = translations
        self._translator = translator

    async def Translate(
        self, request: libretranslate_pb2.TranslateRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        fields, is_json = forms.fields(request.body)
        await access.authenticate(parsing.api_key(fields))
        ask = parsing.translate_ask(fields, is_json)
        one = self._html if ask.format == parsing.HTML else self._text
        results = await asyncio.gather(
            *(one(text, ask.source, ask.target, context) for text in ask.texts)
        )
        return shapes.translated(ask, results)

    async def GetLanguages(
        self, request: libretranslate_pb2.GetLanguagesRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        return shapes.languages(self._languages())

    async def Detect(
        self, request: libretranslate_pb2.DetectRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        fields, _ = forms.fields(request.body)
        await access.authenticate(parsing.api_key(fields))
        text = parsing.detect_text(fields)
        reply = await self._translations.DetectLanguage(
            translate_pb2.DetectLanguageRequest(text=text), context
        )
        return shapes.detections(
            [Detection(d.language_code, d.confidence) for d in reply.languages]
        )

    async def GetFrontendSettings(
        self, request: libretranslate_pb2.GetFrontendSettingsRequest, context: Context
    ) -> httpbody_pb2.HttpBody:
        """The default target is the first language English translates to (LibreTranslate
        takes its second installed language), else the first installed one."""
        entries = self._languages()
        from_pivot = set(self._translator.catalogue.targets(PIVOT))
        target = next((e for e in entries if e.code in from_pivot), next(iter(entries), None))
        return shapes.frontend_settings(validation.MAX_TEXT_CHARS, target)

    async def _text(self, text: str, source: str, target: str, context: Context) -> Result:
        """One text through TranslateText."""
        if not text.strip():
            return Result(text, UNDETECTED if source == AUTO else None)
        reply = await self._translations.TranslateText(
            translate_pb2.TranslateTextRequest(
                text=text, source_language_code=source, target_language_code=target
            ),
            context,
        )
        found = reply.detected_language if reply.HasField("detected_language") else None
        detected = Detection(found.language_code, found.confidence) if found else None
        return Result(reply.translated_text, detected)

    async def _html(self, html: str, source: str, target: str, context: Context) -> Result:
        """Each text node through TranslateText, the source detected once from all of them."""
        document = markup.parse(html)
        if not document.texts:
            return Result(html, UNDETECTED if source == AUTO else None)
        detected = None
        if source == AUTO:
            found = (await self._translator.detect(" ".join(document.texts)))[0]
            if not found.sure:
                raise unsure(found)
            detected, source = Detection(found.language, found.confidence), found.language
        nodes = await asyncio.gather(
            *(self._text(text, source, target, context) for text in document.texts)
        )
        return Result(document.join([node.text for node in nodes]), detected)

    def _languages(self) -> list[LanguageEntry]:
        """The languages some installed route translates from or to, with their targets."""
        catalogue = self._translator.catalogue
        sources = catalogue.sources()
        codes = set(sources) | {t for s in sources for t in catalogue.targets(s)}
        return [
            LanguageEntry(code, LANGUAGES[code][0], sorted(catalogue.targets(code)))
            for code in sorted(codes)
        ]
