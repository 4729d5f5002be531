"""Arithmetic: small pure functions, handy to see a result come back."""

from __future__ import annotations

from services.tasks.registry import task_function
from voka.tasks.v1 import tasks_pb2

NUMBER = {"type": "number"}
FIBONACCI_MAX = 78  # fib(78) is the last that a JSON (double) number holds exactly


@task_function(
    "math.add",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description="a + b.",
    args_schema={
        "type": "object",
        "properties": {"a": NUMBER, "b": NUMBER},
        "required": ["a", "b"],
        "additionalProperties": False,
    },
    idempotent=True,
    demo=True,
)
def add(a: float, b: float) -> float:
    return a + b


@task_function(
    "math.sum",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description="Sum of a list of numbers.",
    args_schema={
        "type": "object",
        "properties": {"values": {"type": "array", "items": NUMBER, "maxItems": 100_000}},
        "required": ["values"],
        "additionalProperties": False,
    },
    idempotent=True,
)
def total(values: list[float]) -> float:
    return float(sum(values))


@task_function(
    "math.fibonacci",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description=f"The n-th Fibonacci number, 0 <= n <= {FIBONACCI_MAX}.",
    args_schema={
        "type": "object",
        "properties": {"n": {"type": "integer", "minimum": 0, "maximum": FIBONACCI_MAX}},
        "required": ["n"],
        "additionalProperties": False,
    },
    idempotent=True,
    demo=True,
)
def fibonacci(n: float) -> int:
    previous, current = 0, 1
    for _ in range(int(n)):
        previous, current = current, previous + current
    return previous
