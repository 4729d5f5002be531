"""The Voka side of `bench.tasks`' no-op: a registered function, loaded by the service and its
workers through `VOKA_TASKS_FUNCTION_MODULES=["bench.tasks_functions"]`."""

from __future__ import annotations

from bench.tasks_probe import record
from services.tasks.registry import task_function
from voka.tasks.v1 import tasks_pb2


@task_function(
    "bench.probe",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description="Records when it started (bench/tasks_probe.py), nothing else.",
    args_schema={
        "type": "object",
        "properties": {"index": {"type": "integer", "minimum": 0}},
        "required": ["index"],
        "additionalProperties": False,
    },
    idempotent=True,
)
async def probe(index: int) -> None:
    """Async: it never blocks, so the worker runs it on its event loop (a sync function would
    go to a thread, which a no-op does not need)."""
    record(int(index))  # JSON numbers arrive as floats
