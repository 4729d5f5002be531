"""Path and query parameters of one HTTP binding, as Envoy's transcoder fills the request.

A template variable may span several segments (`{name=users/*/api-keys/*}`), which OpenAPI cannot
express as one parameter: a value would need its slashes escaped, and `GET /api/v1/{name}` would
stand for users, tasks and projects at once. So each wildcard becomes its own parameter named
after the collection before it (`/api/v1/users/{user}/api-keys/{api-key}`), and the description
says which request field the segments fill. Fields that neither the path nor the body fill come
from the query string under their dotted camelCase paths (`config.language`), as the transcoder
accepts them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.api import field_behavior_pb2

from gateway.contracts import TEMPLATE_VARIABLE
from gateway.openapi.schemas import (
    HTTP_BODY,
    JSON,
    WELL_KNOWN,
    Field,
    Schemas,
    behaviors,
    type_name,
)

_SEGMENT_PATTERN = {"*": "^[^/]+$", "**": "^.+$"}
# Well-known types the transcoder parses from a query string value.
_QUERY_WELL_KNOWN = frozenset(
    {"google.protobuf.Timestamp", "google.protobuf.Duration", "google.protobuf.FieldMask"}
)


@dataclass(frozen=True)
class BoundPath:
    """An OpenAPI path, its parameters and the request fields (proto paths) the path fills."""

    path: str
    parameters: list[JSON]
    fields: frozenset[str]


def bind_path(template: str, enums: Mapping[str, Sequence[str]] | None = None) -> BoundPath:
    """The OpenAPI form of a `google.api.http` path template. `enums` lists the values a
    variable may take (OpsService's `{service}`: the domains served)."""
    parameters: list[JSON] = []
    taken: set[str] = set()

    def expand(match: Any) -> str:
        field, pattern = match.group(1), match.group(2) or "*"
        segments = pattern.split("/")
        names = [
            _unique(_segment_name(segments, i, field), taken) if seg in _SEGMENT_PATTERN else ""
            for i, seg in enumerate(segments)
        ]
        shape = "/".join(f"{{{n}}}" if n else s for n, s in zip(names, segments, strict=True))
        for name, seg in zip(names, segments, strict=True):
            if name:
                parameters.append(_path_param(name, seg, field, shape, (enums or {}).get(field)))
        return shape

    path = TEMPLATE_VARIABLE.sub(expand, template)
    fields = frozenset(m.group(1) for m in TEMPLATE_VARIABLE.finditer(template))
    return BoundPath(path, parameters, fields)


def _segment_name(segments: list[str], i: int, field: str) -> str:
    """`users/*` -> `user`; a wildcard with no collection before it takes the field's name."""
    before = segments[i - 1] if i > 0 else ""
    if before and before not in _SEGMENT_PATTERN:
        return _singular(before)
    return field.rsplit(".", 1)[-1]


def _singular(collection: str) -> str:
    """`users` -> `user`, `memories` -> `memory`, `text-entries` -> `text-entry`."""
    if collection.endswith("ies"):
        return f"{collection[:-3]}y"
    return collection.removesuffix("s")


def _unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}{n}", n + 1
    taken.add(candidate)
    return candidate


def _path_param(
    name: str, segment: str, field: str, shape: str, enum: Sequence[str] | None
) -> JSON:
    schema: JSON = {"type": "string", "pattern": _SEGMENT_PATTERN[segment]}
    if enum:
        schema["enum"] = list(enum)
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": f"The request field `{field}`"
        + ("." if shape == f"{{{name}}}" else f", `{shape}`."),
        "schema": schema,
    }


def query_params(schemas: Schemas, message: str, excluded: frozenset[str]) -> list[JSON]:
    """Every field of `message` the query string may set: scalars, enums, repeated scalars and
    the well-known types the transcoder parses, nested messages as dotted paths; not the fields
    in `excluded` (proto paths filled by the path or the body)."""
    return list(_query_params(schemas, message, excluded, seen=(message,)))


def _query_params(
    schemas: Schemas,
    message: str,
    excluded: frozenset[str],
    *,
    seen: tuple[str, ...],
    proto_prefix: str = "",
    json_prefix: str = "",
) -> Iterator[JSON]:
    for fld in schemas.protos.messages[message].field:
        proto_path, json_path = proto_prefix + fld.name, json_prefix + fld.json_name
        if proto_path in excluded:
            continue
        nested = _nested_message(schemas, fld, seen)
        if nested:
            yield from _query_params(
                schemas,
                nested,
                excluded,
                seen=(*seen, nested),
                proto_prefix=f"{proto_path}.",
                json_prefix=f"{json_path}.",
            )
        elif _query_leaf(fld):
            yield _query_param(schemas, message, fld, json_path)


def _nested_message(schemas: Schemas, fld: Field, seen: tuple[str, ...]) -> str | None:
    """The message type to descend into, or None for leaves and what a query cannot carry."""
    if fld.type != Field.TYPE_MESSAGE or fld.label == Field.LABEL_REPEATED:
        return None
    name = type_name(fld)
    if name in WELL_KNOWN or name == HTTP_BODY or name in seen:
        return None
    return name if name in schemas.protos.messages else None


def _query_leaf(fld: Field) -> bool:
    if fld.type != Field.TYPE_MESSAGE:
        return True
    return fld.label != Field.LABEL_REPEATED and type_name(fld) in _QUERY_WELL_KNOWN


def _query_param(schemas: Schemas, message: str, fld: Field, name: str) -> JSON:
    schema = schemas.of_field(message, fld)
    param: JSON = {"name": name, "in": "query"}
    description = schema.pop("description", "")
    if description:
        param["description"] = description
    if field_behavior_pb2.REQUIRED in behaviors(fld):
        param["required"] = True
    return {**param, "schema": schema}
