"""Text: word counts and case changes."""

from __future__ import annotations

from services.tasks.registry import task_function
from voka.tasks.v1 import tasks_pb2

TEXT_ARGS = {
    "type": "object",
    "properties": {"text": {"type": "string", "maxLength": 1_000_000}},
    "required": ["text"],
    "additionalProperties": False,
}


@task_function(
    "text.word_count",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description="Words and characters of a text.",
    args_schema=TEXT_ARGS,
    idempotent=True,
    demo=True,
)
def word_count(text: str) -> dict[str, int]:
    return {"words": len(text.split()), "characters": len(text)}


@task_function(
    "text.upper",
    worker_type=tasks_pb2.WORKER_TYPE_GENERAL_PURPOSE,
    description="The text in upper case.",
    args_schema=TEXT_ARGS,
    idempotent=True,
)
def upper(text: str) -> str:
    return text.upper()
