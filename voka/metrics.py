"""Prometheus metrics of the kit, named like go-grpc-prometheus so stock dashboards work."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from voka.ops.v1 import ops_pb2

RPC_STARTED = Counter(
    "grpc_server_started_total", "RPCs started on the server.", ["grpc_service", "grpc_method"]
)
RPC_HANDLED = Counter(
    "grpc_server_handled_total",
    "RPCs completed on the server, by status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
RPC_SECONDS = Histogram(
    "grpc_server_handling_seconds",
    "Time from the start of an RPC to its last message.",
    ["grpc_service", "grpc_method"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RPC_IN_FLIGHT = Gauge("voka_grpc_server_in_flight", "RPCs being handled now.", ["grpc_service"])
SERVING = Gauge("voka_serving", "1 while the service reports SERVING, else 0.", ["service"])

# The health loop's figures, so Prometheus alerts on what the service's own rules see
# (k8s/base/prometheus/voka-alerts.yaml).
CPU_PERCENT = Gauge("voka_system_cpu_percent", "CPU use, % of what is available.", ["service"])
MEMORY_PERCENT = Gauge("voka_system_memory_percent", "Memory use, % of the limit.", ["service"])
DISK_PERCENT = Gauge("voka_system_disk_percent", "Data filesystem use, %.", ["service"])
P95_SECONDS = Gauge(
    "voka_rpc_p95_seconds", "p95 latency of unary RPCs over the recent window.", ["service"]
)
DEPENDENCY_UP = Gauge(
    "voka_dependency_up", "1 while a dependency check passes, else 0.", ["service", "dependency"]
)


def record_health(health: ops_pb2.Health) -> None:
    """Set the gauges from one round of the health loop."""
    service = health.service
    CPU_PERCENT.labels(service).set(health.system.cpu_percent)
    MEMORY_PERCENT.labels(service).set(health.system.memory_percent)
    DISK_PERCENT.labels(service).set(health.system.disk_percent)
    P95_SECONDS.labels(service).set(health.api.p95_latency.ToTimedelta().total_seconds())
    for dependency in health.dependencies:
        DEPENDENCY_UP.labels(service, dependency.name).set(1 if dependency.ok else 0)


def serve_metrics(host: str, port: int) -> None:
    """Expose /metrics on its own port, away from the gRPC listener."""
    start_http_server(port, addr=host)
