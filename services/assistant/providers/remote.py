"""What the HTTP providers share: one client, retries with backoff, the breaker, SSE parsing.

Retries happen only before the first token: once a reply streams, a failure ends it with
ProviderUnavailable rather than repeating text the caller has already shown.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from services.assistant.providers.base import (
    ModelInfo,
    ProviderHealth,
    ProviderRejected,
    ProviderUnavailable,
)
from services.assistant.settings import ProviderEntry
from voka.breaker import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)

# Answers worth trying again: the provider is overloaded or broken for now, not refusing us.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


@dataclass(frozen=True)
class SseEvent:
    """One Server-Sent Event: its `event:` name (may be empty) and its parsed JSON `data:`."""

    name: str
    data: Any


def approx_tokens(text: str) -> int:
    """About four characters a token: good enough for a remote model's context budget."""
    return (len(text) + 3) // 4


class RemoteEndpoint:
    """One provider's HTTP client, guarded by its breaker and retried with backoff."""

    def __init__(self, entry: ProviderEntry, base_url: str, headers: dict[str, str]) -> None:
        self.entry = entry
        self.breaker = CircuitBreaker(
            failures=entry.breaker_failures, reset_seconds=entry.breaker_reset_seconds
        )
        self.last_error = ""
        timeout = httpx.Timeout(entry.read_timeout, connect=entry.connect_timeout)
        self._client = httpx.AsyncClient(base_url=base_url, headers=headers, timeout=timeout)

    def models(self) -> list[ModelInfo]:
        return [m.info(self.entry.name, supports_tools=m.supports_tools) for m in self.entry.models]

    def health(self) -> ProviderHealth:
        """From recent calls, not a probe: a status page must not wait on a dead provider."""
        state = self.breaker.state
        detail = self.last_error or "ok"
        if state is BreakerState.OPEN:
            detail = f"circuit open for {self.breaker.retry_after:.1f} s; last error: {detail}"
        return ProviderHealth(self.entry.name, state is not BreakerState.OPEN, state, detail)

    async def aclose(self) -> None:
        await self._client.aclose()

    @asynccontextmanager
    async def events(
        self, path: str, body: dict[str, Any]
    ) -> AsyncIterator[AsyncIterator[SseEvent]]:
        """POST `body` and stream the answer's SSE events; mid-stream failures are unavailable."""
        async with self._open(path, body) as response:
            try:
                yield _sse(response)
            except (httpx.TransportError, json.JSONDecodeError) as exc:
                self._fail(f"stream broke: {_describe(exc)}")
                raise self.unavailable(f"stream broke: {_describe(exc)}") from exc

    def unavailable(self, detail: str) -> ProviderUnavailable:
        return ProviderUnavailable(self.entry.name, detail)

    @asynccontextmanager
    async def _open(self, path: str, body: dict[str, Any]) -> AsyncIterator[httpx.Response]:
        """The first attempt that answers 200, within the retry budget and the breaker."""
        if not self.breaker.allow():
            raise self.unavailable(f"circuit open, retry in {self.breaker.retry_after:.1f} s")
        response = await self._with_retries(path, body)
        self.breaker.succeeded()
        self.last_error = ""
        try:
            yield response
        finally:
            await response.aclose()

    async def _with_retries(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """Attempts with exponential backoff between them; all failed: one breaker failure."""
        problem = ""
        for attempt in range(self.entry.retries + 1):
            if attempt:
                await self._pause(attempt - 1, problem)
            outcome = await self._attempt(path, body)
            if isinstance(outcome, httpx.Response):
                return outcome
            problem = outcome
        self._fail(problem)
        raise self.unavailable(f"{problem} after {self.entry.retries + 1} attempts")

    async def _attempt(self, path: str, body: dict[str, Any]) -> httpx.Response | str:
        """One POST: its response when 200 (body still streaming), else what went wrong.

        A refusal (4xx other than rate limits) is raised at once: retrying cannot help, and it
        shows the provider is up, so it closes the breaker rather than counting against it.
        """
        request = self._client.build_request("POST", path, json=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            return _describe(exc)
        if response.status_code == 200:
            return response
        problem = await _problem(response)
        if response.status_code not in RETRYABLE_STATUS:
            self.breaker.succeeded()
            raise ProviderRejected(self.entry.name, problem)
        return problem

    async def _pause(self, attempt: int, problem: str) -> None:
        delay = self.entry.backoff_seconds * 2**attempt
        log.info("provider %s: %s; retrying in %.2f s", self.entry.name, problem, delay)
        await asyncio.sleep(delay)

    def _fail(self, problem: str) -> None:
        self.last_error = problem
        self.breaker.failed()


async def _problem(response: httpx.Response) -> str:
    """`HTTP 503: <start of the body>`, and the response closed."""
    try:
        body = (await response.aread()).decode(errors="replace").strip()
    finally:
        await response.aclose()
    return f"HTTP {response.status_code}: {body[:300]}" if body else f"HTTP {response.status_code}"


def _describe(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def _sse(response: httpx.Response) -> AsyncIterator[SseEvent]:
    """Server-Sent Events as they arrive; `data: [DONE]` (OpenAI's end marker) ends them."""
    name, data = "", []
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            data.append(line[5:].strip())
        elif not line and data:
            payload = "\n".join(data)
            if payload == "[DONE]":
                return
            yield SseEvent(name, json.loads(payload))
            name, data = "", []


def parse_arguments(raw: str) -> dict[str, Any]:
    """A tool call's JSON arguments; malformed ones are kept as `_raw` for the tool to refuse."""
    try:
        parsed = json.loads(raw or "{}")
    except json.JSONDecodeError:
        return {"_raw": raw}
    return parsed if isinstance(parsed, dict) else {"_raw": raw}
