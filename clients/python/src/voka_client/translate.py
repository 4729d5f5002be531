"""Translation: one text, language detection, the catalogue, the caller's history."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from voka.translate.v1 import translate_pb2, translate_pb2_grpc
from voka_client.pagination import PAGE_SIZE, iter_pages


class Translate:
    """`voka.translate.v1.TranslateService`, through the client's channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = translate_pb2_grpc.TranslateServiceStub(channel)

    def text(
        self, text: str, target: str, source: str = "", *, keep_history: bool = True
    ) -> translate_pb2.TranslateTextResponse:
        """Translates `text` into `target`; an empty `source` (or `auto`) is detected."""
        request = translate_pb2.TranslateTextRequest(
            text=text,
            source_language_code=source,
            target_language_code=target,
            skip_history=not keep_history,
        )
        return self.stub.TranslateText(request)

    def detect(self, text: str) -> translate_pb2.DetectLanguageResponse:
        return self.stub.DetectLanguage(translate_pb2.DetectLanguageRequest(text=text))

    def languages(self) -> list[translate_pb2.Language]:
        return list(self.stub.ListLanguages(translate_pb2.ListLanguagesRequest()).languages)

    def iter_translations(self) -> Iterator[translate_pb2.Translation]:
        """The caller's translation history, newest first."""

        def page(token: str) -> tuple[list[translate_pb2.Translation], str]:
            request = translate_pb2.ListTranslationsRequest(page_size=PAGE_SIZE, page_token=token)
            reply = self.stub.ListTranslations(request)
            return list(reply.translations), reply.next_page_token

        return iter_pages(page)
