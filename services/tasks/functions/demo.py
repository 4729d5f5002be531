"""Demo and benchmark functions: do nothing, wait, burn CPU, or fail on purpose."""

from __future__ import annotations

import asyncio
import time

from services.tasks.registry import NonRetryableError, task_function
from voka.tasks.v1 import tasks_pb2

SECONDS = {"type": "number", "minimum": 0, "maximum": 60}


def _seconds_args() -> dict[str, object]:
    return {
        "type": "object",
        "properties": {"seconds": SECONDS},
        "required": ["seconds"],
        "additionalProperties": False,
    }


@task_function(
    "demo.noop",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description="Returns at once: measures the scheduler, not the work.",
    idempotent=True,
    demo=True,
)
def noop() -> None:
    return None


@task_function(
    "demo.sleep",
    worker_type=tasks_pb2.WORKER_TYPE_IO_INTENSIVE,
    description="Waits `seconds` without using CPU (stands in for IO).",
    args_schema=_seconds_args(),
    idempotent=True,
    demo=True,
)
async def sleep(seconds: float) -> float:
    await asyncio.sleep(seconds)
    return seconds


@task_function(
    "demo.cpu_burn",
    worker_type=tasks_pb2.WORKER_TYPE_CPU_INTENSIVE,
    description="Keeps one core busy for `seconds`; returns the loop count.",
    args_schema=_seconds_args(),
    idempotent=True,
    demo=True,
)
def cpu_burn(seconds: float) -> int:
    end = time.perf_counter() + seconds
    loops = 0
    while time.perf_counter() < end:
        loops += 1
    return loops


@task_function(
    "demo.fail",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description="Always fails with `message`; `retryable: false` dead-letters at once.",
    args_schema={
        "type": "object",
        "properties": {"message": {"type": "string"}, "retryable": {"type": "boolean"}},
        "additionalProperties": False,
    },
    demo=True,
)
def fail(message: str = "demo failure", retryable: bool = True) -> None:
    if not retryable:
        raise NonRetryableError(message)
    raise RuntimeError(message)
