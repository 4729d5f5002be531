"""Tasks-service replicas and workers as real child processes (`python -m services.tasks`,
`python -m services.tasks.worker`), so tests can kill -9 them; the bench starts them this way
too."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tools.processes import START_TIMEOUT, free_ports, stop

ROOT = Path(__file__).resolve().parents[3]


class Child:
    """A Python module run as a child process in its own session, its output in `log`."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        log.parent.mkdir(parents=True, exist_ok=True)
        self.log = log
        environment = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'gen'}", **env}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", *args], env=environment, cwd=ROOT, stdout=out,
                stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> None:
        """Raise with the end of the log if the process has exited."""
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{self.log.stem} exited with {self.process.returncode}:\n{tail}")

    def kill(self) -> None:
        """kill -9: no clean-up of any kind."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        stop(self.process, timeout=20)


class Replica(Child):
    """`python -m services.tasks` on a free port; `start` waits until it serves."""

    def __init__(self, env: Mapping[str, str], log: Path) -> None:
        self.port, metrics = free_ports(2)
        ports = {"VOKA_PORT": str(self.port), "VOKA_METRICS_PORT": str(metrics)}
        super().__init__(["services.tasks"], {**env, **ports}, log)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def wait_serving(self, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.address) as channel:
            health = health_pb2_grpc.HealthStub(channel)
            while True:
                self.alive()
                try:
                    reply = health.Check(health_pb2.HealthCheckRequest(), timeout=1)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise TimeoutError(f"replica on {self.address} not serving")
                time.sleep(0.1)


class Worker(Child):
    """`python -m services.tasks.worker --type T ...`."""

    def __init__(self, types: Sequence[str], env: Mapping[str, str], log: Path) -> None:
        args = ["services.tasks.worker", *(a for t in types for a in ("--type", t))]
        super().__init__(args, env, log)

    @property
    def name(self) -> str:
        """How the worker names itself in reports (`Task.worker`)."""
        return f"{socket.gethostname()}:{self.pid}"
