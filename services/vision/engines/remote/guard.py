"""One provider's calls, guarded: a timeout per attempt, retries with exponential backoff for
what fails for now (connection errors, timeouts, 408/429/5xx), and the kit's circuit breaker
(`voka.breaker`), so a provider that keeps failing is refused at once instead of holding every
request for its timeout and retries.

A provider that cannot answer is UNAVAILABLE naming it (with the breaker's wait when open). One
that refuses the request (another 4xx: a bad token, an unknown model) is FAILED_PRECONDITION
naming it: retrying cannot help, and an answer shows it is up, so it does not count against
the breaker.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from voka import errors
from voka.breaker import BreakerState, CircuitBreaker

log = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504, 529})
DETAIL_CHARS = 300


class Guard:
    """The guarded POSTs of one provider (`name` appears in every refusal)."""

    def __init__(
        self, name: str, *, timeout: float, retries: int, backoff: float, failures: int,
        reset_seconds: float,
    ) -> None:  # fmt: skip
        self.name = name
        self.breaker = CircuitBreaker(failures=failures, reset_seconds=reset_seconds)
        self._retries = retries
        self._backoff = backoff
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout))

    @property
    def state(self) -> BreakerState:
        return self.breaker.state

    async def post(self, url: str, headers: dict[str, str], **body: Any) -> Any:
        """POST (`content=` bytes or `json=`) and the answer's JSON."""
        if not self.breaker.allow():
            raise errors.unavailable(
                f"the {self.name} provider is unavailable: its circuit is open after repeated "
                f"failures; retry in {self.breaker.retry_after:.1f} s"
            )
        problem = ""
        for attempt in range(self._retries + 1):
            if attempt:
                delay = self._backoff * 2 ** (attempt - 1)
                log.info("%s: %s; retrying in %.2f s", self.name, problem, delay)
                await asyncio.sleep(delay)
            try:
                response = await self._client.post(url, headers=headers, **body)
            except httpx.TransportError as exc:
                problem = f"{type(exc).__name__}: {exc}".rstrip(": ")
                continue
            if response.status_code == 200:
                return self._answer(response)
            problem = f"HTTP {response.status_code}: {response.text[:DETAIL_CHARS]}"
            if response.status_code not in RETRYABLE_STATUS:
                self.breaker.succeeded()
                raise errors.failed_precondition(
                    f"the {self.name} provider refused the request: {problem}",
                    "PROVIDER_REFUSED", self.name,
                )  # fmt: skip
        self.breaker.failed()
        raise errors.unavailable(
            f"the {self.name} provider is unavailable: {problem} "
            f"(after {self._retries + 1} attempts)"
        )

    def _answer(self, response: httpx.Response) -> Any:
        try:
            answer = response.json()
        except ValueError as exc:
            self.breaker.failed()
            raise errors.unavailable(f"the {self.name} provider answered no JSON") from exc
        self.breaker.succeeded()
        return answer

    def malformed(self, what: str) -> errors.VokaError:
        """An answer in a shape the provider's protocol does not have."""
        return errors.unavailable(f"the {self.name} provider answered {what}")

    async def close(self) -> None:
        await self._client.aclose()
