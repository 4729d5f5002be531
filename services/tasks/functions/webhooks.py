"""`webhooks.deliver`: one HTTP POST of one event to one webhook, signed (`webhooks/signing.py`).

The dispatcher queues it, never a caller (an internal function: the API refuses it). Its
arguments carry the webhook's secret sealed under the service's key for this delivery's target
and body (`secrets.delivery_context`), which only the service can make: a delivery whose target
or body differs from what was sealed, whoever changed it, does not open and sends nothing.

Each attempt resolves the target again and checks the address (`webhooks/targets.py`),
connects to that address, follows no redirect, and waits `VOKA_TASKS_WEBHOOK_TIMEOUT_SECONDS`
at most. A 2xx succeeds; a 4xx other than 408 and 429 will not get better and dead-letters at
once; anything else (5xx, 3xx, 408, 429, no answer) raises so the scheduler retries with
backoff, then dead-letters. The outcome's text (`HTTP 503 after 12 ms`) is what
ListWebhookDeliveries reads the response code back from.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from services.tasks.registry import NonRetryableError, task_function
from services.tasks.settings import TasksSettings
from services.tasks.webhooks import signing, targets
from services.tasks.webhooks.secrets import Sealer, SealError, delivery_context
from services.tasks.webhooks.targets import Allowed, TargetRefused
from voka.tasks.v1 import tasks_pb2

FUNCTION = "webhooks.deliver"
USER_AGENT = "Voka-Webhooks/1"
RETRYABLE_4XX = frozenset({408, 429})
_OUTCOME = re.compile(r"^(?:HTTP (\d{3})|no answer) after (\d+) ms")


class DeliveryFailed(Exception):
    """The target did not take the event; another attempt may."""


class DeliveryRefused(NonRetryableError):
    """The target refused the event, or may not be reached: no attempt will do better."""


@dataclass(frozen=True)
class DeliveryConfig:
    """What an attempt needs from the configuration of the process running it."""

    sealer: Sealer
    allowed: Allowed
    timeout: float

    @classmethod
    def of(cls, settings: TasksSettings) -> DeliveryConfig:
        return cls(
            Sealer.from_config(settings.tasks_webhook_key, Path(settings.data_dir)),
            Allowed.parse(settings.tasks_webhook_allowed_hosts),
            settings.tasks_webhook_timeout_seconds,
        )


_config: DeliveryConfig | None = None


def configure(settings: TasksSettings) -> None:
    """Set by the service for its embedded workers; a dedicated worker reads its environment
    on first use instead."""
    global _config  # noqa: PLW0603 - one configuration per process
    _config = DeliveryConfig.of(settings)


def _current() -> DeliveryConfig:
    global _config  # noqa: PLW0603
    _config = _config or DeliveryConfig.of(TasksSettings(service="tasks"))
    return _config


@task_function(
    FUNCTION,
    worker_type=tasks_pb2.WORKER_TYPE_NETWORK_INTENSIVE,
    description="POSTs one event to one webhook, signed (queued by the webhook dispatcher).",
    args_schema={
        "type": "object",
        "properties": {
            "webhook": {"type": "string", "maxLength": 100},
            "delivery": {"type": "string", "maxLength": 200},
            "target_uri": {"type": "string", "maxLength": targets.MAX_URI},
            "sealed_secret": {"type": "string", "maxLength": 1000},
            "body": {"type": "string", "maxLength": 1_000_000},
        },
        "required": ["webhook", "delivery", "target_uri", "sealed_secret", "body"],
        "additionalProperties": False,
    },
    max_attempts=8,
    attempt_timeout=60.0,
    idempotent=True,
    internal=True,
)
async def deliver(
    webhook: str, delivery: str, target_uri: str, sealed_secret: str, body: str
) -> dict[str, Any]:
    config = _current()
    try:
        secret = config.sealer.open(
            sealed_secret, delivery_context(webhook, delivery, target_uri, body)
        )
        url = targets.parse(target_uri, config.allowed)
        host, port = url.hostname or "", url.port or (443 if url.scheme == "https" else 80)
        ip = await targets.resolve(host, port, config.allowed)
    except (SealError, TargetRefused) as exc:
        raise DeliveryRefused(f"no answer after 0 ms: {exc}") from exc
    data = body.encode()
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "host": url.netloc,
        "x-voka-delivery": delivery,
        signing.HEADER: signing.sign(secret, data, int(time.time())),
    }
    address = f"[{ip}]" if ip.version == 6 else str(ip)
    pinned = url._replace(netloc=f"{address}:{port}").geturl()
    return await _post(pinned, data, headers, host, config.timeout)


async def _post(
    url: str, data: bytes, headers: dict[str, str], host: str, wait: float
) -> dict[str, Any]:
    """POST to the checked address (TLS still checks `host`'s certificate), without reading
    more than the status line and headers of the answer."""
    start = time.perf_counter()
    extensions = {"sni_hostname": host} if url.startswith("https") else {}
    try:
        async with httpx.AsyncClient(
            follow_redirects=False, timeout=wait, trust_env=False
        ) as client:
            request = client.build_request(
                "POST", url, content=data, headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            await response.aclose()
    except httpx.HTTPError as exc:
        raise DeliveryFailed(f"no answer after {_ms(start)} ms: {type(exc).__name__}") from exc
    code = response.status_code
    if 200 <= code < 300:
        return {"response_code": code, "latency_seconds": time.perf_counter() - start}
    message = f"HTTP {code} after {_ms(start)} ms"
    if 400 <= code < 500 and code not in RETRYABLE_4XX:
        raise DeliveryRefused(message)
    raise DeliveryFailed(message)


def _ms(start: float) -> int:
    return round((time.perf_counter() - start) * 1000)


def outcome(result: Any, error_message: str) -> tuple[int, float | None]:
    """The response code and latency (seconds) of the last attempt, read back from the
    task's result or its last error's message; (0, None) when unknown."""
    if isinstance(result, dict) and "response_code" in result:
        return int(result["response_code"]), float(result["latency_seconds"])
    found = _OUTCOME.match(error_message)
    if found is None:
        return 0, None
    return int(found.group(1) or 0), int(found.group(2)) / 1000
