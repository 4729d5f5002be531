"""JSON Schemas of the contracts' messages and enums as the REST surface carries them.

Envoy's transcoder speaks the proto3 JSON mapping, so the schemas follow it rather than the proto
types: camelCase `json_name`s, 64-bit integers as strings, enums by name, well-known types in their
JSON forms (`Timestamp` as RFC 3339, `Duration` as `"1.5s"`, ...). Descriptions are the contracts'
own comments, read from the descriptor set's source info (protogen writes it with
`--include_source_info`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

# googleapis-common-protos ships .pyi stubs but no py.typed marker.
from google.api import field_behavior_pb2
from google.protobuf import descriptor_pb2

JSON = dict[str, Any]
Field = descriptor_pb2.FieldDescriptorProto

HTTP_BODY = "google.api.HttpBody"
COMPONENTS = "#/components/schemas/"

# FileDescriptorProto/DescriptorProto/EnumDescriptorProto field numbers, as SourceCodeInfo paths
# name them (descriptor.proto).
_FILE_MESSAGE, _FILE_ENUM, _FILE_SERVICE = 4, 5, 6
_MESSAGE_FIELD, _MESSAGE_NESTED, _MESSAGE_ENUM = 2, 3, 4
_ENUM_VALUE, _SERVICE_METHOD = 2, 2
_LINT_DIRECTIVE = "buf:lint:"

_INT64 = {"type": "string", "format": "int64", "pattern": r"^-?[0-9]+$"}
_UINT64 = {"type": "string", "format": "uint64", "pattern": r"^[0-9]+$"}
_SCALARS: dict[int, JSON] = {
    Field.TYPE_DOUBLE: {"type": "number", "format": "double"},
    Field.TYPE_FLOAT: {"type": "number", "format": "float"},
    Field.TYPE_INT64: _INT64,
    Field.TYPE_SINT64: _INT64,
    Field.TYPE_SFIXED64: _INT64,
    Field.TYPE_UINT64: _UINT64,
    Field.TYPE_FIXED64: _UINT64,
    Field.TYPE_INT32: {"type": "integer", "format": "int32"},
    Field.TYPE_SINT32: {"type": "integer", "format": "int32"},
    Field.TYPE_SFIXED32: {"type": "integer", "format": "int32"},
    Field.TYPE_UINT32: {"type": "integer", "format": "uint32", "minimum": 0},
    Field.TYPE_FIXED32: {"type": "integer", "format": "uint32", "minimum": 0},
    Field.TYPE_BOOL: {"type": "boolean"},
    Field.TYPE_STRING: {"type": "string"},
    Field.TYPE_BYTES: {"type": "string", "contentEncoding": "base64"},
}
# The proto3 JSON mapping of the well-known types the contracts use (and Any, in error details).
WELL_KNOWN: dict[str, JSON] = {
    "google.protobuf.Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339, UTC (`2025-01-31T09:30:00Z`).",
    },
    "google.protobuf.Duration": {
        "type": "string",
        "pattern": r"^-?[0-9]+(\.[0-9]{1,9})?s$",
        "description": "Seconds with an `s` suffix (`1.5s`).",
    },
    "google.protobuf.FieldMask": {
        "type": "string",
        "description": "Comma-separated camelCase field paths (`displayName,notes`).",
    },
    "google.protobuf.Struct": {"type": "object", "additionalProperties": True},
    "google.protobuf.Value": {"description": "Any JSON value."},
    "google.protobuf.ListValue": {"type": "array"},
    "google.protobuf.Empty": {"type": "object"},
    "google.protobuf.Any": {
        "type": "object",
        "properties": {"@type": {"type": "string"}},
        "required": ["@type"],
        "additionalProperties": True,
    },
}
# Raw bytes in or out of an HttpBody binding; the Content-Type travels as the HTTP header.
BINARY: JSON = {"type": "string", "format": "binary"}


@dataclass
class ProtoIndex:
    """Messages and enums by full name (no leading dot), and the comment of every message, field,
    enum, enum value (`<enum>.<VALUE>`), service and method by full name."""

    messages: dict[str, descriptor_pb2.DescriptorProto] = field(default_factory=dict)
    enums: dict[str, descriptor_pb2.EnumDescriptorProto] = field(default_factory=dict)
    comments: dict[str, str] = field(default_factory=dict)

    def comment(self, full_name: str) -> str:
        """The element's comment, or "" where the contract has none."""
        return self.comments.get(full_name, "")


def index(fds: descriptor_pb2.FileDescriptorSet) -> ProtoIndex:
    """Index every file of the set (imports included: the set is built with them)."""
    found = ProtoIndex()
    for file in fds.file:
        comments = _file_comments(file)
        for full_name, path in _named_paths(file):
            if path in comments:
                found.comments[full_name] = comments[path]
        for name, message in _messages(file.package, file.message_type):
            found.messages[name] = message
        for name, enum in _enums(file):
            found.enums[name] = enum
    return found


def _file_comments(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    return {
        tuple(loc.path): text
        for loc in file.source_code_info.location
        if (text := clean_comment(loc.leading_comments or loc.trailing_comments))
    }


def clean_comment(raw: str) -> str:
    """A proto comment as Markdown: one leading space per line dropped, lint directives gone."""
    lines = [line.removeprefix(" ") for line in raw.splitlines()]
    return "\n".join(ln for ln in lines if not ln.startswith(_LINT_DIRECTIVE)).strip()


def _messages(
    scope: str, messages: Iterable[descriptor_pb2.DescriptorProto]
) -> Iterator[tuple[str, descriptor_pb2.DescriptorProto]]:
    """Every message under `scope`, nested ones included, by full name."""
    for message in messages:
        name = f"{scope}.{message.name}" if scope else message.name
        yield name, message
        yield from _messages(name, message.nested_type)


def _enums(
    file: descriptor_pb2.FileDescriptorProto,
) -> Iterator[tuple[str, descriptor_pb2.EnumDescriptorProto]]:
    for enum in file.enum_type:
        yield f"{file.package}.{enum.name}", enum
    for scope, message in _messages(file.package, file.message_type):
        for enum in message.enum_type:
            yield f"{scope}.{enum.name}", enum


def _named_paths(file: descriptor_pb2.FileDescriptorProto) -> Iterator[tuple[str, tuple[int, ...]]]:
    """(full name, SourceCodeInfo path) of every element that can carry a comment."""
    pkg = file.package
    for i, message in enumerate(file.message_type):
        yield from _message_paths(f"{pkg}.{message.name}", message, (_FILE_MESSAGE, i))
    for i, enum in enumerate(file.enum_type):
        yield from _enum_paths(f"{pkg}.{enum.name}", enum, (_FILE_ENUM, i))
    for i, service in enumerate(file.service):
        yield f"{pkg}.{service.name}", (_FILE_SERVICE, i)
        for j, method in enumerate(service.method):
            yield f"{pkg}.{service.name}.{method.name}", (_FILE_SERVICE, i, _SERVICE_METHOD, j)


def _message_paths(
    name: str, message: descriptor_pb2.DescriptorProto, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield name, path
    for i, fld in enumerate(message.field):
        yield f"{name}.{fld.name}", (*path, _MESSAGE_FIELD, i)
    for i, nested in enumerate(message.nested_type):
        yield from _message_paths(f"{name}.{nested.name}", nested, (*path, _MESSAGE_NESTED, i))
    for i, enum in enumerate(message.enum_type):
        yield from _enum_paths(f"{name}.{enum.name}", enum, (*path, _MESSAGE_ENUM, i))


def _enum_paths(
    name: str, enum: descriptor_pb2.EnumDescriptorProto, path: tuple[int, ...]
) -> Iterator[tuple[str, tuple[int, ...]]]:
    yield name, path
    for i, value in enumerate(enum.value):
        yield f"{name}.{value.name}", (*path, _ENUM_VALUE, i)


def type_name(fld: Field) -> str:
    """A message or enum field's type, without the leading dot protoc writes."""
    return fld.type_name.lstrip(".")


def behaviors(fld: Field) -> set[int]:
    """The field's `(google.api.field_behavior)` values."""
    extension: Any = field_behavior_pb2.field_behavior
    return set(fld.options.Extensions[extension])


class Schemas:
    """Builds schemas on demand and collects the components they refer to, so the document holds
    exactly the messages and enums its operations reach."""

    def __init__(self, protos: ProtoIndex) -> None:
        self.protos = protos
        self.components: dict[str, JSON] = {}

    def of_type(self, name: str) -> JSON:
        """A message or enum by full name: a well-known type inline, anything else a `$ref`."""
        if name in WELL_KNOWN:
            return dict(WELL_KNOWN[name])
        if name not in self.components:
            self.components[name] = {}  # claimed first: messages may refer to themselves
            self.components[name] = (
                self._enum(name) if name in self.protos.enums else self._message(name)
            )
        return {"$ref": COMPONENTS + name}

    def of_field(self, message: str, fld: Field) -> JSON:
        """A field's schema with its comment: repeated as an array, a map as an object."""
        schema = self._value(fld)
        entry = self._map_entry(fld)
        if entry is not None:
            schema = {"type": "object", "additionalProperties": self._value(entry.field[1])}
        elif fld.label == Field.LABEL_REPEATED:
            schema = {"type": "array", "items": schema}
        description = self.protos.comment(f"{message}.{fld.name}")
        if description:
            schema["description"] = description
        if field_behavior_pb2.OUTPUT_ONLY in behaviors(fld):
            schema["readOnly"] = True
        return schema

    def _value(self, fld: Field) -> JSON:
        if fld.type in (Field.TYPE_MESSAGE, Field.TYPE_ENUM):
            return self.of_type(type_name(fld))
        return dict(_SCALARS[fld.type])

    def _map_entry(self, fld: Field) -> descriptor_pb2.DescriptorProto | None:
        if fld.type != Field.TYPE_MESSAGE or fld.label != Field.LABEL_REPEATED:
            return None
        message = self.protos.messages.get(type_name(fld))
        return message if message is not None and message.options.map_entry else None

    def _message(self, name: str) -> JSON:
        message = self.protos.messages[name]
        properties = {f.json_name: self.of_field(name, f) for f in message.field}
        for fld, siblings in _oneof_siblings(message):
            note = f"At most one of {', '.join(f'`{s}`' for s in siblings)} is set."
            prop = properties[fld.json_name]
            prop["description"] = f"{prop.get('description', '')}\n\n{note}".strip()
        schema: JSON = {"type": "object", "properties": properties}
        required = [
            f.json_name for f in message.field if field_behavior_pb2.REQUIRED in behaviors(f)
        ]
        if required:
            schema["required"] = required
        return _described(schema, self.protos.comment(name))

    def _enum(self, name: str) -> JSON:
        """Values by name; the comment, then each documented value as a Markdown list item."""
        enum = self.protos.enums[name]
        items = "\n".join(
            f"* `{v.name}`: {text}"
            for v in enum.value
            if (text := self.protos.comment(f"{name}.{v.name}"))
        )
        description = "\n\n".join(p for p in (self.protos.comment(name), items) if p)
        return _described({"type": "string", "enum": [v.name for v in enum.value]}, description)


def _oneof_siblings(
    message: descriptor_pb2.DescriptorProto,
) -> Iterator[tuple[Field, list[str]]]:
    """Each field of a real oneof (not a proto3 `optional`) with the JSON names of its group."""
    members = [f for f in message.field if f.HasField("oneof_index") and not f.proto3_optional]
    for fld in members:
        yield fld, [f.json_name for f in members if f.oneof_index == fld.oneof_index]


def _described(schema: JSON, description: str) -> JSON:
    return {**schema, "description": description} if description else schema
