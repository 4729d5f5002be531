"""Captions from general vision chat models: an OpenAI-compatible chat completions API (an
image as a `data:` URL part) and Anthropic's Messages API (a base64 image block). Both are
asked the same short question and answer one sentence."""

from __future__ import annotations

import base64
from typing import Any

from services.vision.engines.remote.guard import Guard
from services.vision.images.decode import Picture
from services.vision.records import Caption, Detection, Label

PROMPT = "Describe this image in one short sentence."
MAX_TOKENS = 120
ANTHROPIC_VERSION = "2023-06-01"


def _base64(picture: Picture) -> str:
    return base64.b64encode(picture.data).decode("ascii")


class OpenAiCaptioner:
    """`POST {base}/chat/completions`; the reply is `choices[0].message.content`."""

    def __init__(self, base_url: str, api_key: str, model: str, guard: Guard) -> None:
        self.name = f"openai/{model}"
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._model = model
        self.guard = guard

    async def caption(
        self, picture: Picture, objects: list[Detection], labels: list[Label]
    ) -> Caption:
        image = f"data:{picture.content_type};base64,{_base64(picture)}"
        content: list[dict[str, Any]] = [
            {"type": "text", "text": PROMPT},
            {"type": "image_url", "image_url": {"url": image}},
        ]
        body = {"model": self._model, "max_tokens": MAX_TOKENS,
                "messages": [{"role": "user", "content": content}]}  # fmt: skip
        answer = await self.guard.post(self._url, self._headers, json=body)
        try:
            return Caption(str(answer["choices"][0]["message"]["content"]).strip(), self.name)
        except (KeyError, IndexError, TypeError) as exc:
            raise self.guard.malformed("no choices[0].message.content") from exc


class AnthropicCaptioner:
    """`POST {base}/v1/messages`; the reply is the first text block of `content`."""

    def __init__(self, base_url: str, api_key: str, model: str, guard: Guard) -> None:
        self.name = f"anthropic/{model}"
        self._url = base_url.rstrip("/") + "/v1/messages"
        self._headers = {"x-api-key": api_key, "anthropic-version": ANTHROPIC_VERSION}
        self._model = model
        self.guard = guard

    async def caption(
        self, picture: Picture, objects: list[Detection], labels: list[Label]
    ) -> Caption:
        image = {"type": "base64", "media_type": picture.content_type, "data": _base64(picture)}
        content = [{"type": "image", "source": image}, {"type": "text", "text": PROMPT}]
        body = {"model": self._model, "max_tokens": MAX_TOKENS,
                "messages": [{"role": "user", "content": content}]}  # fmt: skip
        answer = await self.guard.post(self._url, self._headers, json=body)
        try:
            text = next(b["text"] for b in answer["content"] if b.get("type") == "text")
        except (KeyError, TypeError, StopIteration) as exc:
            raise self.guard.malformed("no text block in content") from exc
        return Caption(str(text).strip(), self.name)
