"""Prometheus metrics of the kit, named like go-grpc-prometheus so stock dashboards work."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, start_http_server

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


def serve_metrics(host: str, port: int) -> None:
    """Expose /metrics on its own port, away from the gRPC listener."""
    start_http_server(port, addr=host)
