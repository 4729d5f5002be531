"""A task function with an observable side effect, for the crash tests: loaded by replicas and
workers through `VOKA_TASKS_FUNCTION_MODULES=["tests.services.tasks.effects"]`.

Every run appends its key to `runs.log` (tasks are at least once: a crash can run one twice);
the effect itself, a file named by the key, is made at most once (created exclusively), the way
a function with an idempotency key makes its effect once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from pathlib import Path

from services.tasks.registry import task_function
from voka.tasks.v1 import tasks_pb2

EFFECTS_DIR = "VOKA_TEST_EFFECTS_DIR"


def effects_dir() -> Path:
    return Path(os.environ[EFFECTS_DIR])


@task_function(
    "test.effect",
    worker_type=tasks_pb2.WORKER_TYPE_IO_INTENSIVE,
    description="Waits, then makes the effect named `key` once.",
    args_schema={
        "type": "object",
        "properties": {"key": {"type": "string"}, "seconds": {"type": "number", "minimum": 0}},
        "required": ["key", "seconds"],
        "additionalProperties": False,
    },
    idempotent=True,
)
async def effect(key: str, seconds: float) -> bool:
    """True if this run made the effect, False if an earlier run already had."""
    directory = effects_dir()
    with (directory / "runs.log").open("a") as runs:
        runs.write(key + "\n")
    await asyncio.sleep(seconds)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(directory / f"{key}.done", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        return True
    return False
