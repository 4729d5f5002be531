"""A small JSON Schema (draft 2020-12 subset) checker for task arguments.

Only what task functions declare is supported: `type` (object, array, string, integer, number,
boolean, null), `properties`, `required`, `additionalProperties: false`, `items`, `minimum`,
`maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, `enum`. Each violation names the
argument's path (`args.n`), so a caller gets every bad field at once.

A schema is compiled once into nested checks that hold only the keywords it uses: every submit
is checked against its function's schema, thousands a second, and walking the schema's dict
for each of them cost more than the checks themselves.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from voka.errors import FieldViolation

Schema = dict[str, Any]
Found = list[FieldViolation]
Check = Callable[[Any, str, Found], None]  # appends what `value` at `path` breaks to `found`
Checker = Callable[[Any, str], Found]
NOT_AN_ARGUMENT = "is not an argument of this function"
SIZES = ("minLength", "maxLength", "minItems", "maxItems")


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


def compile_schema(schema: Schema) -> Checker:
    """`checker(value, path)`: every way `value` breaks `schema`, each named by its path."""
    check = _compile(schema)

    def checker(value: Any, path: str) -> Found:
        found: Found = []
        check(value, path, found)
        return found

    return checker


def violations(schema: Schema, value: Any, path: str) -> Found:
    """A one-off check (compile the schema once with `compile_schema` to check many)."""
    return compile_schema(schema)(value, path)


def _compile(schema: Schema) -> Check:
    expected = schema.get("type")
    is_type = None if expected is None else _TYPES[expected]
    parts = [p for p in (_enum(schema), _bounds(schema), _object(schema), _items(schema)) if p]

    def check(value: Any, path: str, found: Found) -> None:
        if is_type is not None and not is_type(value):
            found.append(FieldViolation(path, f"must be of type {expected}"))
            return
        for part in parts:
            part(value, path, found)

    return check


def _enum(schema: Schema) -> Check | None:
    if "enum" not in schema:
        return None
    allowed = schema["enum"]

    def check(value: Any, path: str, found: Found) -> None:
        if value not in allowed:
            found.append(FieldViolation(path, f"must be one of {allowed}"))

    return check


def _bounds(schema: Schema) -> Check | None:
    low, high = schema.get("minimum"), schema.get("maximum")
    sizes: dict[str, int] = {key: schema[key] for key in SIZES if key in schema}
    if low is None and high is None and not sizes:
        return None

    def check(value: Any, path: str, found: Found) -> None:
        if _is_number(value):
            if low is not None and value < low:
                found.append(FieldViolation(path, f"must be at least {low}"))
            if high is not None and value > high:
                found.append(FieldViolation(path, f"must be at most {high}"))
        if isinstance(value, str | list):
            _sizes(sizes, value, path, found)

    return check


def _sizes(sizes: dict[str, int], value: str | list[Any], path: str, found: Found) -> None:
    kind = "characters" if isinstance(value, str) else "items"
    low, high = ("minLength", "maxLength") if kind == "characters" else ("minItems", "maxItems")
    if low in sizes and len(value) < sizes[low]:
        found.append(FieldViolation(path, f"must have at least {sizes[low]} {kind}"))
    if high in sizes and len(value) > sizes[high]:
        found.append(FieldViolation(path, f"must have at most {sizes[high]} {kind}"))


def _object(schema: Schema) -> Check | None:
    properties = {name: _compile(inner) for name, inner in schema.get("properties", {}).items()}
    required: list[str] = schema.get("required", [])
    closed = schema.get("additionalProperties") is False
    if not (properties or required or closed):
        return None

    def check(value: Any, path: str, found: Found) -> None:
        if not isinstance(value, dict):
            return
        for name in required:
            if name not in value:
                found.append(FieldViolation(f"{path}.{name}", "is required"))
        for name, item in value.items():
            inner = properties.get(name)
            if inner is not None:
                inner(item, f"{path}.{name}", found)
            elif closed:
                found.append(
                    FieldViolation(f"{path}.{name}", "is not an argument of this function")
                )

    return check


def _items(schema: Schema) -> Check | None:
    if "items" not in schema:
        return None
    inner = _compile(schema["items"])

    def check(value: Any, path: str, found: Found) -> None:
        if isinstance(value, list):
            for index, item in enumerate(value):
                inner(item, f"{path}[{index}]", found)

    return check
