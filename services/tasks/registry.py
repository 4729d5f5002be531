"""The allow-list of task functions. A task names a function registered here, by a decorator in
code this service ships; nothing a caller sends is ever imported or evaluated. Each function
declares its worker type, an argument schema checked at submit, and its retry defaults; an
internal one (`webhooks.deliver`) is queued only by the service itself, never by a caller.
"""

from __future__ import annotations

import functools
import importlib
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from google.protobuf import json_format, struct_pb2

from services.tasks import schema
from voka.errors import FieldViolation
from voka.tasks.v1 import tasks_pb2

F = TypeVar("F", bound=Callable[..., Any])
NAME_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$"


class NonRetryableError(Exception):
    """Raised by a function when another attempt cannot help: the task dead-letters at once."""


@dataclass(frozen=True)
class TaskFunction:
    """One registered function and what the scheduler needs to know about it."""

    name: str
    call: Callable[..., Any]
    worker_type: tasks_pb2.WorkerType.ValueType
    description: str
    args_schema: schema.Schema = field(default_factory=lambda: {"type": "object"})
    result_schema: schema.Schema | None = None
    max_attempts: int = 3
    attempt_timeout: float = 300.0
    idempotent: bool = False
    demo: bool = False
    internal: bool = False  # queued by the service itself, never through the API

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.call)

    def check(self, args: dict[str, Any], path: str) -> list[FieldViolation]:
        """Violations of the argument schema, named under `path` (`args`, `requests[2].args`)."""
        return self._checker(args, path)

    @functools.cached_property
    def _checker(self) -> schema.Checker:
        return schema.compile_schema(self.args_schema)

    @functools.cached_property
    def args_schema_struct(self) -> struct_pb2.Struct:
        """The argument schema as the contract carries it, converted once (a listing of the
        functions copies it instead of walking the schema per call)."""
        return json_format.ParseDict(self.args_schema, struct_pb2.Struct())

    @functools.cached_property
    def result_schema_struct(self) -> struct_pb2.Struct | None:
        """The result schema as the contract carries it, converted once; None: none declared."""
        if self.result_schema is None:
            return None
        return json_format.ParseDict(self.result_schema, struct_pb2.Struct())


class Registry:
    """Task functions by name."""

    def __init__(self) -> None:
        self._functions: dict[str, TaskFunction] = {}

    def add(self, function: TaskFunction) -> None:
        if function.name in self._functions:
            raise ValueError(f"task function {function.name!r} registered twice")
        if function.worker_type == tasks_pb2.WORKER_TYPE_UNSPECIFIED:
            raise ValueError(f"task function {function.name!r} needs a worker type")
        self._functions[function.name] = function

    def function(
        self,
        name: str,
        *,
        worker_type: tasks_pb2.WorkerType.ValueType,
        description: str,
        args_schema: schema.Schema | None = None,
        **options: Any,
    ) -> Callable[[F], F]:
        """Decorator registering a module-level function (it stays importable by name, so a
        process pool can run it) under `name`."""

        def register(call: F) -> F:
            self.add(
                TaskFunction(
                    name=name,
                    call=call,
                    worker_type=worker_type,
                    description=description,
                    args_schema=args_schema or {"type": "object", "additionalProperties": False},
                    **options,
                )
            )
            return call

        return register

    def get(self, name: str) -> TaskFunction | None:
        return self._functions.get(name)

    def all(self) -> list[TaskFunction]:
        """Every function, by name."""
        return [self._functions[name] for name in sorted(self._functions)]


REGISTRY = Registry()
"""The functions this service ships (`services.tasks.functions` fills it on import)."""

task_function = REGISTRY.function


def default_registry(modules: Sequence[str] = ()) -> Registry:
    """The shipped registry, with every bundled function module imported, and the operator's
    `modules` (VOKA_TASKS_FUNCTION_MODULES: configuration, never a caller's input)."""
    import services.tasks.functions  # noqa: F401, PLC0415 (registers on import)

    for module in modules:
        importlib.import_module(module)
    return REGISTRY
