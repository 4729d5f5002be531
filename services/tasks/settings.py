"""The tasks service's settings: the kit's, plus the scheduler's and the workers' knobs.

Each default works on one machine; tests shorten the delays (backoff, aging, visibility).
"""

from __future__ import annotations

from pydantic import Field

from voka.config import Settings


class TasksSettings(Settings):
    """`VOKA_TASKS_*` variables on top of the shared ones."""

    tasks_shards: int = Field(
        default=16, description="Shards tasks hash onto; fixed for the life of the data."
    )
    tasks_aging_seconds: float = Field(
        default=5.0, description="A ready task rises one priority level per this many seconds."
    )
    tasks_retry_base_seconds: float = Field(
        default=1.0, description="Backoff before the 2nd attempt; doubles per attempt."
    )
    tasks_retry_max_seconds: float = Field(
        default=300.0, description="Longest backoff between two attempts."
    )
    tasks_visibility_seconds: float = Field(
        default=30.0, description="A running attempt with no heartbeat this long is lost."
    )
    tasks_dispatch_window: int = Field(
        default=512,
        description="Attempts of a worker type handed out and not yet finished, at least: the "
        "window grows with the pool's pace (see VOKA_TASKS_DISPATCH_HORIZON_SECONDS).",
    )
    tasks_dispatch_window_max: int = Field(
        default=4096, description="The most the dispatch window grows to, per worker type."
    )
    tasks_dispatch_horizon_seconds: float = Field(
        default=1.0,
        description="The dispatch window holds about this many seconds of the pool's work (its "
        "attempts finished per second, smoothed): more keeps a pool of short tasks busier, "
        "less lets a later, more urgent task overtake sooner.",
    )
    tasks_dispatch_batch: int = Field(
        default=32, description="Attempts per dispatch message, at most."
    )
    tasks_lease_seconds: float = Field(
        default=10.0,
        description="A shard lease lasts this long unless renewed (every third of it); a dead "
        "replica's shards move to the others about this long after its last renewal.",
    )
    tasks_tick_seconds: float = Field(
        default=0.25, description="Scheduler wake-up when nothing happens (not-before, retries)."
    )
    tasks_embedded_workers: list[str] = Field(
        default_factory=lambda: ["GENERAL_PURPOSE", "NETWORK_INTENSIVE"],
        description="Worker types the service process also runs workers for (make up: "
        "NETWORK_INTENSIVE delivers webhooks and calls other services); [] none.",
    )
    tasks_worker_concurrency: int = Field(
        default=8, description="Attempts one worker runs at once."
    )
    tasks_max_queued_per_owner: int = Field(
        default=10_000,
        description="Unfinished tasks (queued, scheduled, running or retrying) one owner may "
        "have; a submit beyond it is RESOURCE_EXHAUSTED. Services are not capped; 0: no cap.",
    )
    tasks_demo_max_per_call: int = Field(
        default=1000, description="Tasks one SubmitDemoTasks call may make, at most."
    )
    tasks_demo_max_queued_per_owner: int = Field(
        default=2000,
        description="Unfinished demo tasks one owner may have (within the cap above); 0: none "
        "but that cap.",
    )
    tasks_function_modules: list[str] = Field(
        default_factory=list,
        description="Operator's modules of @task_function definitions imported at start, on "
        "top of the shipped ones; the service and its workers need the same list.",
    )
    tasks_webhook_key: str = Field(
        default="",
        description="Key sealing webhook signing secrets (base64url of 32 bytes), the same for "
        "the service and its workers; empty: a key file made under the data directory.",
    )
    tasks_webhook_allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Webhook hosts allowed over plain http and on loopback, private or "
        "link-local addresses: names or networks (`127.0.0.1/32`); [] none (local/dev only).",
    )
    tasks_webhooks_per_owner: int = Field(default=100, description="Webhooks one caller may own.")
    tasks_webhook_max_failures: int = Field(
        default=10,
        description="A webhook whose last this many deliveries were all dead-lettered is "
        "switched off (active=false) until its owner turns it on again; 0 never.",
    )
    tasks_webhook_timeout_seconds: float = Field(
        default=10.0, description="A webhook delivery attempt waits this long for an answer."
    )
    tasks_live_streams_per_caller: int = Field(
        default=4,
        ge=1,
        description="StreamTaskUpdates streams one caller may hold open at once (one per open "
        "console tab); one more is RESOURCE_EXHAUSTED.",
    )
    tasks_live_heartbeat_seconds: float = Field(
        default=15.0,
        gt=0,
        description="A StreamTaskUpdates stream silent this long sends a `: keepalive` comment, "
        "well inside the idle timeouts of Envoy and of proxies in between.",
    )
    tasks_live_metrics_seconds: float = Field(
        default=5.0,
        gt=0,
        description="StreamTaskUpdates sends the task metrics at most once per this many "
        "seconds, and only when they changed; every stream shares one computation per period.",
    )
    tasks_live_idle_seconds: float = Field(
        default=600.0,
        gt=0,
        description="A StreamTaskUpdates stream whose tasks did not change for this long ends "
        "(`event: end`); the console reconnects, so a forgotten tab holds nothing for ever.",
    )
