"""A small JSON Schema (draft 2020-12 subset) checker for task arguments.

Only what task functions declare is supported: `type` (object, array, string, integer, number,
boolean, null), `properties`, `required`, `additionalProperties: false`, `items`, `minimum`,
`maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, `enum`. Each violation names the
argument's path (`args.n`), so a caller gets every bad field at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from voka.errors import FieldViolation

Schema = dict[str, Any]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    # protobuf Struct numbers are floats: 3.0 counts as an integer.
    "integer": lambda v: _is_number(v) and float(v).is_integer(),
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def violations(schema: Schema, value: Any, path: str) -> list[FieldViolation]:
    """Every way `value` breaks `schema`, each named by its path under `path`."""
    return list(_check(schema, value, path))


def _check(schema: Schema, value: Any, path: str) -> Iterator[FieldViolation]:
    expected = schema.get("type")
    if expected is not None and not _TYPES[expected](value):
        yield FieldViolation(path, f"must be of type {expected}")
        return
    if "enum" in schema and value not in schema["enum"]:
        yield FieldViolation(path, f"must be one of {schema['enum']}")
    yield from _bounds(schema, value, path)
    if isinstance(value, dict):
        yield from _object(schema, value, path)
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            yield from _check(schema["items"], item, f"{path}[{index}]")


def _bounds(schema: Schema, value: Any, path: str) -> Iterator[FieldViolation]:
    if _is_number(value):
        if "minimum" in schema and value < schema["minimum"]:
            yield FieldViolation(path, f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            yield FieldViolation(path, f"must be at most {schema['maximum']}")
    if isinstance(value, str | list):
        kind = "characters" if isinstance(value, str) else "items"
        low, high = ("minLength", "maxLength") if kind == "characters" else ("minItems", "maxItems")
        if low in schema and len(value) < schema[low]:
            yield FieldViolation(path, f"must have at least {schema[low]} {kind}")
        if high in schema and len(value) > schema[high]:
            yield FieldViolation(path, f"must have at most {schema[high]} {kind}")


def _object(schema: Schema, value: dict[str, Any], path: str) -> Iterator[FieldViolation]:
    properties: dict[str, Schema] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            yield FieldViolation(f"{path}.{name}", "is required")
    for name, item in value.items():
        if name in properties:
            yield from _check(properties[name], item, f"{path}.{name}")
        elif schema.get("additionalProperties") is False:
            yield FieldViolation(f"{path}.{name}", "is not an argument of this function")
