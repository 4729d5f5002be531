"""Typed settings for every process of the mesh, read once from `VOKA_*` environment variables.

Each default works on one machine (`make up`); Kubernetes overrides them per Deployment.
Service addresses live here too, so a service finds its peers the same way everywhere; the
default ports come from the services' own declarations (`voka.registry`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from voka import registry

EventLoop = Literal["uvloop", "asyncio"]


@dataclass(frozen=True)
class NatsCredentials:
    """Who a process is on NATS. `make up` and Kubernetes give each service a user of its own,
    allowed to publish only its own domain's events (tools/nats_auth.py), so that the subject
    of an event vouches for its publisher."""

    user: str
    password: str = field(repr=False)


class Settings(BaseSettings):
    """Settings shared by all services. A service needing more subclasses this."""

    model_config = SettingsConfigDict(env_prefix="VOKA_", extra="ignore", frozen=True)

    service: str = Field(default="", description="Domain served by this process.")
    host: str = Field(default="127.0.0.1", description="Interface the gRPC server binds.")
    port: int | None = Field(
        default=None, description="gRPC port; unset: the domain's default; 0: any free port."
    )
    metrics_port: int | None = Field(
        default=None, description="Prometheus port; unset: gRPC port + 1000; 0: any free port."
    )
    data_dir: Path = Field(default=Path("var"), description="Where SQLite files and keys live.")
    database_url: str = Field(
        default="", description="SQLAlchemy URL; empty means a SQLite file in data_dir."
    )
    backup_dir: Path | None = Field(
        default=None,
        description="Where CreateBackup writes the service's copies; unset: <data_dir>/backups. "
        "Each replica writes to its own volume unless this is a shared (RWX) one.",
    )
    backup_keep: int = Field(
        default=7, ge=1, description="Backups of the service kept; older ones are deleted."
    )
    database_pool_size: int = Field(
        default=5, ge=1, description="Database connections each process keeps open."
    )
    database_max_overflow: int = Field(
        default=10, ge=0, description="Connections a process may open beyond its pool at peaks."
    )
    database_connection_budget: int = Field(
        default=0,
        ge=0,
        description="Connections all replicas of the service may hold at once (what the "
        "database or its pooler gives the service's role); the process refuses to start if "
        "(pool size + max overflow) x VOKA_MAX_REPLICAS exceeds it; 0: no budget.",
    )
    max_replicas: int = Field(
        default=1,
        ge=1,
        description="The most replicas of the service that run at once (its autoscaler's "
        "maximum): what the connection budget is shared by.",
    )
    nats_url: str = Field(default="nats://127.0.0.1:4222", description="NATS server(s).")
    stream_replicas: int = Field(
        default=1,
        ge=1,
        le=5,
        description="Copies JetStream keeps of every stream (and its consumers): 1 on one "
        "server, 3 on a three-server cluster so the loss of a server loses nothing.",
    )
    stream_max_bytes: int = Field(
        default=512 * 1024**2,
        ge=1024**2,
        description="Bytes every JetStream stream keeps at most, oldest events dropped first. "
        "Each stream reserves this much of the server's `max_file_store`, and JetStream "
        "refuses a stream that does not fit: one per service, plus ops and dead letters, times "
        "this must stay under it (k8s: 9 x 512 MiB under 8 GB; tests/k8s checks it).",
    )
    nats_user: str = Field(
        default="",
        description="NATS user this process signs in as (`make up` and Kubernetes: the "
        "service's name, allowed its own subjects only); empty: no credentials.",
    )
    nats_password: SecretStr = Field(
        default=SecretStr(""), description="Password of VOKA_NATS_USER."
    )
    jwks_file: Path | None = Field(
        default=None, description="Verify tokens with this JWKS file instead of the auth service."
    )
    jwks_cache_seconds: float = Field(default=300.0, description="How long a JWKS is trusted.")
    rate_limit_per_second: float = Field(
        default=50.0,
        description="Calls per second each user (with its API keys) may make to this service, "
        "per replica, on average; 0: no limit (voka/ratelimit.py).",
    )
    rate_limit_burst: int = Field(
        default=100, description="Calls a user may make at once before the average applies."
    )
    gateway_secret: SecretStr = Field(
        default=SecretStr(""),
        description="The secret Envoy sends in x-voka-gateway (VOKA_GATEWAY_SECRET, the same "
        "variable Envoy reads): with it, calls that came through the gateway are keyed by "
        "x-envoy-external-address for the per-address limits (auth's sign-in, meetings' "
        "contact form; voka/addresses.py); empty: always by the TCP peer.",
    )
    log_level: str = Field(default="INFO", description="Python logging level.")
    log_json: bool = Field(default=True, description="JSON log lines (false: plain text).")
    event_loop: EventLoop = Field(
        default="uvloop",
        description="The process's event loop (voka/event_loop.py): uvloop, or asyncio for the "
        "standard library's.",
    )
    drain_seconds: float = Field(
        default=5.0, description="SIGTERM: time to report NOT_SERVING before stopping."
    )
    connection_max_age_seconds: float = Field(
        default=300.0,
        description="A client connection is closed (gracefully) after this long, so callers "
        "re-resolve a peer's name and new replicas get their share of calls; 0: never.",
    )
    shutdown_grace_seconds: float = Field(
        default=10.0, description="SIGTERM: time in-flight RPCs get to finish."
    )
    version: str = Field(default="dev", description="Build version reported by health.")
    health_interval_seconds: float = Field(
        default=5.0,
        description="How often dependency checks re-run, system figures are sampled and alert "
        "rules are evaluated.",
    )
    latency_window_seconds: float = Field(
        default=60.0, description="How far back the unary RPC p95 latency of the health reaches."
    )
    alert_hold_seconds: float = Field(
        default=60.0, description="How long an alert's condition must hold before it fires."
    )
    alert_cpu_percent: float = Field(
        default=80.0, description="Alert when CPU use (of the container's quota) is above this."
    )
    alert_memory_percent: float = Field(
        default=85.0, description="Alert when memory use (of the container's limit) is above this."
    )
    alert_disk_percent: float = Field(
        default=90.0, description="Alert when the data directory's filesystem is fuller than this."
    )
    alert_latency_p95_seconds: float = Field(
        default=2.0, description="Alert when the unary RPC p95 latency is above this."
    )
    addresses: dict[str, str] = Field(
        default_factory=dict,
        description='Peer addresses by domain (VOKA_ADDRESSES=\'{"auth": "host:port"}\').',
    )

    @model_validator(mode="after")
    def _within_connection_budget(self) -> Settings:
        """Every replica at its peak must fit the database's budget for the service: a
        connection refused by the database fails a request, one queued in the pool only waits."""
        peak = (self.database_pool_size + self.database_max_overflow) * self.max_replicas
        if self.database_connection_budget and peak > self.database_connection_budget:
            raise ValueError(
                f"database connections: ({self.database_pool_size} pool + "
                f"{self.database_max_overflow} overflow) x {self.max_replicas} replicas = {peak}, "
                f"over the budget of {self.database_connection_budget}"
            )
        return self

    @cached_property
    def pool_options(self) -> dict[str, int]:
        """The engine's pool, as SQLAlchemy's create_engine takes it."""
        return {"pool_size": self.database_pool_size, "max_overflow": self.database_max_overflow}

    @cached_property
    def grpc_port(self) -> int:
        return registry.declaration(self.service).port if self.port is None else self.port

    @cached_property
    def prometheus_port(self) -> int:
        if self.metrics_port is not None:
            return self.metrics_port
        return self.grpc_port + registry.METRICS_PORT_OFFSET if self.grpc_port else 0

    @cached_property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / self.service / (self.service + '.db')}"

    @cached_property
    def backups_path(self) -> Path:
        return self.backup_dir or self.data_dir / "backups"

    @cached_property
    def nats_credentials(self) -> NatsCredentials | None:
        if not self.nats_user:
            return None
        return NatsCredentials(self.nats_user, self.nats_password.get_secret_value())

    def address_of(self, domain: str) -> str:
        """Where to reach a peer service: configured, else its default port on this host."""
        return self.addresses.get(domain) or f"127.0.0.1:{registry.declaration(domain).port}"
