"""Start the whole mesh on one machine: NATS (JetStream), every service, then Envoy.

`make up` runs `python -m tools.mesh up` with the fixed ports below; the integration tests start
the same Mesh on free ports in a temporary directory, so what they test is what `make up` runs.
NATS runs with a user per service, allowed only its own subjects (tools/nats_auth.py), their
passwords in `<var>/secrets/nats-<user>` like the services' identity secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from gateway.config import GATEWAY_SECRET_ENV, tracing_from_env, write_config
from gateway.web import WebAssets
from gateway.ws_bridge.settings import DEFAULT_PORT as DEFAULT_WS_PORT
from services.tasks.events import parse_worker_type, type_token
from services.tasks.settings import TasksSettings
from tools import local_model, nats_auth
from tools.processes import (
    BIN,
    START_TIMEOUT,
    NatsServer,
    exited_with_log,
    free_ports,
    stop,
    wait_http,
)
from voka import registry
from voka.config import NatsCredentials
from voka.tasks.v1 import tasks_pb2

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTOR_SET = ROOT / "gen" / "voka.binpb"
SECRETS_DIR = "secrets"
GATEWAY = "gateway"
WS_BRIDGE = "ws_bridge"


def service_secrets(var: Path) -> dict[str, str]:
    """Each service's own secret for IssueServiceToken: read from `<var>/secrets/<domain>`, or
    generated there (0600) on first start. Never in the repository; auth only gets the hashes."""
    directory = var / SECRETS_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {domain: _secret(directory / domain) for domain in registry.names()}


def _secret(path: Path) -> str:
    if path.exists():
        return path.read_text().strip()
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(value + "\n")
    return value


def nats_passwords(var: Path) -> dict[str, str]:
    """Each NATS user's password (the administrator's and one per service): read from
    `<var>/secrets/nats-<user>`, or generated there (0600) on first start."""
    directory = var / SECRETS_DIR
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return {user: _secret(directory / f"nats-{user}") for user in nats_auth.users()}


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (it holds passwords)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(text)


# Services that limit anonymous callers per client address (voka/addresses.py).
ADDRESS_LIMITED = ("auth", "meetings")


def gateway_secret(var: Path) -> str:
    """The secret Envoy proves itself with to the services (`x-voka-gateway`), made like the
    services' own on first start."""
    return _secret(var / SECRETS_DIR / GATEWAY)


def secret_hashes(by_domain: Mapping[str, str]) -> str:
    """VOKA_AUTH_SERVICE_SECRETS: the SHA-256 (hex) of each service's secret, as JSON."""
    return json.dumps({d: hashlib.sha256(s.encode()).hexdigest() for d, s in by_domain.items()})


def task_supervisor_command(embedded: str | None = None) -> list[str]:
    """What runs beside the tasks service: a supervisor keeping one worker process (4 slots)
    for each worker type the service does not embed (`embedded`: its
    VOKA_TASKS_EMBEDDED_WORKERS as JSON; None: as the environment or the default has it), so no
    pool is left without a worker and no task waits for ever for one."""
    settings = TasksSettings(service="tasks")
    names = json.loads(embedded) if embedded is not None else settings.tasks_embedded_workers
    served = {parse_worker_type(name) for name in names}
    others = [t for t in tasks_pb2.WorkerType.values()
              if t not in served and t != tasks_pb2.WORKER_TYPE_UNSPECIFIED]  # fmt: skip
    types = [arg for t in others for arg in ("--type", type_token(t))]
    return [sys.executable, "-m", "services.tasks.supervisor", *types, "--workers", "1",
            "--concurrency", "4"]  # fmt: skip


@dataclass(frozen=True)
class Ports:
    """Every port the mesh listens on (all on 127.0.0.1)."""

    nats: int = 4322
    nats_monitor: int = 8322
    envoy: int = 8080
    envoy_admin: int = 9901
    ws_bridge: int = DEFAULT_WS_PORT
    services: Mapping[str, int] = field(
        default_factory=lambda: {d.name: d.port for d in registry.declarations().values()}
    )
    metrics: Mapping[str, int] = field(
        default_factory=lambda: {d.name: d.metrics_port for d in registry.declarations().values()}
    )

    @classmethod
    def free(cls) -> Ports:
        """Ports nobody listens on now: for tests beside a running `make up`."""
        take = iter(free_ports(5 + 2 * len(registry.names())))
        return cls(
            nats=next(take),
            nats_monitor=next(take),
            envoy=next(take),
            envoy_admin=next(take),
            ws_bridge=next(take),
            services={d: next(take) for d in registry.names()},
            metrics={d: next(take) for d in registry.names()},
        )


class Mesh:
    """The processes of one local mesh, started in dependency order and stopped in reverse."""

    def __init__(
        self,
        var: Path,
        ports: Ports,
        extra_env: Mapping[str, str] | None = None,
        envoy_options: Mapping[str, Any] | None = None,
        service_env: Mapping[str, Mapping[str, str]] | None = None,
        *,
        envoy_workers: int | None = None,
    ) -> None:
        """`envoy_options` go to gateway.config.build_config (benchmarks lift the rate limit);
        `service_env` adds variables for one domain's process only (a test's tight limit);
        `envoy_workers` sets Envoy's worker threads (`--concurrency`; its default is one per
        core)."""
        self.var = var
        self.ports = ports
        self._extra_env = dict(extra_env or {})
        self._service_env = {d: dict(env) for d, env in (service_env or {}).items()}
        self._envoy_options = dict(envoy_options or {})
        self._envoy_workers = envoy_workers
        self._nats = NatsServer(var, ports.nats, ports.nats_monitor, config=var / "nats.conf")
        self._nats_passwords: dict[str, str] = {}
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._secrets: dict[str, str] = {}
        self._gateway_secret = ""

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.envoy}"

    def service_env(self, domain: str) -> dict[str, str]:
        """The variables added for `domain`'s process (a test finds its models directory)."""
        return dict(self._service_env.get(domain, {}))

    @property
    def nats_url(self) -> str:
        """NATS for tools and tests, signed in as the administrator (the services each get
        the bare URL and a user of their own)."""
        admin = self.nats_credentials(nats_auth.ADMIN)
        return self.nats_address.replace("://", f"://{admin.user}:{admin.password}@", 1)

    @property
    def nats_address(self) -> str:
        """NATS without a user: what the services are given, with credentials of their own."""
        return self._nats.url

    def nats_credentials(self, user: str) -> NatsCredentials:
        return NatsCredentials(user, self._nats_passwords[user])

    def nats_env(self, user: str) -> dict[str, str]:
        """The variables a process needs to sign in to NATS as `user` (a service's name)."""
        return {
            "VOKA_NATS_URL": self.nats_address,
            "VOKA_NATS_USER": user,
            "VOKA_NATS_PASSWORD": self._nats_passwords[user],
        }

    def service_address(self, domain: str) -> str:
        return f"127.0.0.1:{self.ports.services[domain]}"

    def start(self) -> None:
        (self.var / "logs").mkdir(parents=True, exist_ok=True)
        self._secrets = service_secrets(self.var)
        self._gateway_secret = gateway_secret(self.var)
        self._nats_passwords = nats_passwords(self.var)
        _write_private(
            self.var / "nats.conf",
            nats_auth.authorization(nats_auth.literal_passwords(self._nats_passwords)),
        )
        try:
            self._nats.start()
            self._provision_streams()
            for domain in registry.names():
                self._start_service(domain)
            for domain in registry.names():
                self._wait_serving(domain)
            self._start_task_workers()
            self._start_ws_bridge()
            self._start_envoy()
        except BaseException:
            self.stop()
            raise

    def _provision_streams(self) -> None:
        """Create or update every stream as the administrator: the services may not."""
        provision = nats_auth.provision(self._nats.url, self.nats_credentials(nats_auth.ADMIN))
        with concurrent.futures.ThreadPoolExecutor(1) as pool:  # whether or not a loop runs
            pool.submit(asyncio.run, provision).result(timeout=START_TIMEOUT)

    def _start_service(self, domain: str) -> None:
        env = {
            "VOKA_DATA_DIR": str(self.var),
            **self.nats_env(domain),
            "VOKA_PORT": str(self.ports.services[domain]),
            "VOKA_METRICS_PORT": str(self.ports.metrics[domain]),
            "VOKA_ADDRESSES": json.dumps({d: self.service_address(d) for d in registry.names()}),
            "VOKA_DRAIN_SECONDS": "0.2",
            "VOKA_SERVICE_SECRET": self._secrets[domain],
            **(
                {"VOKA_AUTH_SERVICE_SECRETS": secret_hashes(self._secrets)}
                if domain == "auth"
                else {}
            ),
            # Trusted client addresses for the per-address limits of public RPCs.
            **({GATEWAY_SECRET_ENV: self._gateway_secret} if domain in ADDRESS_LIMITED else {}),
            **self._extra_env,
            **self._service_env.get(domain, {}),
        }
        self._spawn(domain, [sys.executable, "-m", f"services.{domain}"], env)

    def _start_task_workers(self) -> None:
        """A supervisor for the task pools the tasks service does not embed, with the tasks
        service's environment (its NATS user included): every pool gets a worker."""
        env = {
            "VOKA_DATA_DIR": str(self.var),
            **self.nats_env("tasks"),
            "VOKA_ADDRESSES": json.dumps({d: self.service_address(d) for d in registry.names()}),
            "VOKA_SERVICE_SECRET": self._secrets["tasks"],
            **self._extra_env,
            **self._service_env.get("tasks", {}),
        }
        embedded = env.get("VOKA_TASKS_EMBEDDED_WORKERS")  # else the service reads os.environ
        self._spawn("tasks-workers", task_supervisor_command(embedded), env)

    @property
    def ws_bridge_address(self) -> str:
        return f"127.0.0.1:{self.ports.ws_bridge}"

    def _start_ws_bridge(self) -> None:
        """The WebSocket bridge (docs/websocket.md), finding the services as they find each
        other; `service_env[WS_BRIDGE]` adds variables (a test's tight bounds)."""
        env = {
            "VOKA_WS_PORT": str(self.ports.ws_bridge),
            "VOKA_ADDRESSES": json.dumps({d: self.service_address(d) for d in registry.names()}),
            **self._extra_env,
            **self._service_env.get(WS_BRIDGE, {}),
        }
        self._spawn(WS_BRIDGE, [sys.executable, "-m", "gateway.ws_bridge"], env)
        wait_http(f"http://{self.ws_bridge_address}/health", self._alive(WS_BRIDGE))

    def _wait_serving(self, domain: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        alive = self._alive(domain)
        with grpc.insecure_channel(self.service_address(domain)) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                alive()
                with contextlib.suppress(grpc.RpcError):
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{domain} not SERVING after {START_TIMEOUT:.0f}s")
                time.sleep(0.1)

    def _start_envoy(self) -> None:
        config = self.var / "envoy.json"
        # Envoy traces to the collector the services export to (OTEL_EXPORTER_OTLP_ENDPOINT),
        # unless the caller's options say otherwise; it serves the web console at `/` once
        # `npm run build` has built it (scripts/bootstrap.sh does).
        tracing = tracing_from_env({**os.environ, **self._extra_env})
        console = WebAssets()
        write_config(
            config,
            descriptor_set=DESCRIPTOR_SET,
            upstreams={d: self.service_address(d) for d in registry.names()},
            listen_port=self.ports.envoy,
            admin_port=self.ports.envoy_admin,
            **{
                "tracing": tracing,
                "web": console if console.built() else None,
                "ws_bridge": self.ws_bridge_address,
                **self._envoy_options,
            },
        )
        self._spawn(
            "envoy",
            [
                str(BIN / "envoy"),
                "-c",
                str(config),
                "--base-id",
                str(self.ports.envoy),
                "--log-level",
                "warn",
                "--disable-hot-restart",
                *(["--concurrency", str(self._envoy_workers)] if self._envoy_workers else []),
            ],
            {GATEWAY_SECRET_ENV: self._gateway_secret},
        )
        wait_http(f"{self.rest_url}/health", self._alive("envoy"))
        for domain in registry.names():
            wait_http(f"{self.rest_url}/api/v1/health/{domain}", self._alive("envoy"))

    def _spawn(self, name: str, argv: list[str], env: Mapping[str, str] | None = None) -> None:
        log = (self.var / "logs" / f"{name}.log").open("ab")
        self._procs[name] = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the supervisor only; it stops children
        )

    def _alive(self, name: str) -> Callable[[], None]:
        return exited_with_log(name, self._procs[name], self.var / "logs" / f"{name}.log")

    def pids(self) -> dict[str, int]:
        """The process id of each child by name (benchmarks read their peak memory)."""
        return {name: proc.pid for name, proc in self._procs.items()}

    def exited(self) -> Iterator[tuple[str, int]]:
        """Children that stopped on their own, with their exit codes."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                yield name, proc.returncode
        nats_code = self._nats.exit_code()
        if nats_code is not None:
            yield "nats", nats_code

    def revive(self) -> list[str]:
        """Start again every service that stopped cleanly (exit 0: an admin drained it, as
        Kubernetes would restart its pod); returns their names. A crash is not hidden: it
        stays in `exited` for the supervisor to report."""
        revived = [name for name, proc in self._procs.items()
                   if name in registry.names() and proc.poll() == 0]  # fmt: skip
        for domain in revived:
            self._start_service(domain)
            self._wait_serving(domain)
        return revived

    def stop(self) -> None:
        """SIGTERM in reverse start order (Envoy first, NATS last), SIGKILL after a timeout."""
        for name in reversed(list(self._procs)):
            stop(self._procs.pop(name))
        self._nats.stop()

    def __enter__(self) -> Mesh:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _print_banner(mesh: Mesh) -> None:
    rows = [
        ("Web console", mesh.rest_url + "/"),
        ("REST + gRPC-Web (Envoy)", mesh.rest_url + "/api/v1/..."),
        ("Envoy health", mesh.rest_url + "/health"),
        (
            "WebSocket voice (bridge)",
            mesh.rest_url.replace("http", "ws", 1) + "/api/v1/ws/{voice-chat,recognize}",
        ),
        ("Envoy admin", f"http://127.0.0.1:{mesh.ports.envoy_admin}"),
        ("NATS (JetStream)", mesh.nats_address),
        (
            "NATS users",
            f"{nats_auth.ADMIN} and each service, passwords in "
            f"{mesh.var / SECRETS_DIR}/nats-<user>",
        ),
        *(
            (
                f"{d} (gRPC / metrics)",
                f"{mesh.service_address(d)}  http://127.0.0.1:{mesh.ports.metrics[d]}/metrics",
            )
            for d in registry.names()
        ),
        ("logs", str(mesh.var / "logs")),
    ]
    width = max(len(label) for label, _ in rows)
    print("\nVoka mesh is up:")
    for label, where in rows:
        print(f"  {label:<{width}}  {where}")
    print(f"\n  try: curl {mesh.rest_url}/api/v1/health/translate\nCtrl-C stops everything.\n")


async def _supervise(mesh: Mesh) -> int:
    """Wait for Ctrl-C/SIGTERM, or for a child to die (then stop the rest and fail); a
    service drained by an admin (it exits 0) is started again."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    while not stop.is_set():
        for name in await asyncio.to_thread(mesh.revive):
            print(f"{name} stopped after a drain; started again")
        died = list(mesh.exited())
        if died:
            for name, code in died:
                print(f"{name} exited with {code}; see {mesh.var / 'logs' / name}.log")
            return 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
    return 0


def up(var: Path) -> int:
    mesh = Mesh(var, Ports(), service_env=local_model.mesh_env(var))
    print("starting NATS, 7 services and Envoy ...")
    mesh.start()
    _print_banner(mesh)
    try:
        return asyncio.run(_supervise(mesh))
    finally:
        print("stopping ...")
        mesh.stop()
        print("stopped.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="state and logs")
    args = parser.parse_args(argv)
    return up(args.var)


if __name__ == "__main__":
    sys.exit(main())
