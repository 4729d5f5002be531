"""A real three-server NATS cluster with JetStream, one process per server, for the tests that
are about losing one: each server can be killed with SIGKILL, as a node loss would."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tools.processes import BIN, exited_with_log, free_ports, stop, wait_http

SIZE = 3


@dataclass
class Node:
    name: str
    port: int
    monitor_port: int
    cluster_port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def log(self) -> Path:
        return self.workdir / f"{self.name}.log"


class NatsCluster:
    def __init__(self, workdir: Path) -> None:
        ports = free_ports(3 * SIZE)
        self.nodes = [Node(f"n{i}", ports[3 * i], ports[3 * i + 1], ports[3 * i + 2], workdir)
                      for i in range(SIZE)]  # fmt: skip

    @property
    def url(self) -> str:
        """Every server, as a service lists them (VOKA_NATS_URL)."""
        return ",".join(f"nats://127.0.0.1:{n.port}" for n in self.nodes)

    def start(self) -> None:
        routes = ",".join(f"nats://127.0.0.1:{n.cluster_port}" for n in self.nodes)
        for node in self.nodes:
            with node.log.open("ab") as log:
                node.process = subprocess.Popen(
                    [str(BIN / "nats-server"), "-js", "-a", "127.0.0.1", "-p", str(node.port),
                     "-m", str(node.monitor_port), "-sd", str(node.workdir / node.name),
                     "--server_name", node.name, "--cluster_name", "voka-test",
                     "--cluster", f"nats://127.0.0.1:{node.cluster_port}", "--routes", routes],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
        for node in self.nodes:  # healthy: JetStream's meta group has a leader and it is current
            assert node.process is not None
            wait_http(f"http://127.0.0.1:{node.monitor_port}/healthz",
                      exited_with_log(node.name, node.process, node.log))  # fmt: skip

    def kill(self, index: int) -> None:
        """SIGKILL: no goodbye to the cluster, as when a node is lost."""
        process = self.nodes[index].process
        assert process is not None
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                stop(node.process)


@pytest.fixture
def nats_cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    cluster = NatsCluster(tmp_path)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()
