"""The OpenAPI 3.1 document of the REST surface, generated from the contracts' descriptor set.

`make gen` writes it to `gen/openapi.json` (tools/protogen.py, so `make test`'s drift check
covers it), and Envoy serves the same document at `GET /api/v1/openapi.json` with a browsable
page at `GET /docs` (gateway.config). It reads the bindings exactly as the gateway does
(gateway.contracts): one operation per `google.api.http` binding, additional bindings included,
with the security the method's `(voka.api.v1.access)` asks for. Schemas: gateway.openapi.schemas;
parameters: gateway.openapi.params; notes: docs/contracts.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from google.protobuf import descriptor_pb2

from gateway.contracts import (
    LIBRETRANSLATE_DIALECT,
    OPENAI_DIALECT,
    OPS_DOMAIN_VARIABLE,
    Binding,
    load_descriptor_set,
    method_bindings,
    voka_services,
)
from gateway.openapi.params import bind_path, query_params
from gateway.openapi.schemas import BINARY, HTTP_BODY, JSON, WELL_KNOWN, Schemas, index
from voka import registry

OPENAPI_VERSION = "3.1.0"
TITLE = "Voka REST API"
SECURITY_SCHEMES: JSON = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from `POST /api/v1/auth/login`, or an API key "
        "(`vk_...`) in its place.",
    },
    "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
}
PROTECTED: list[JSON] = [{"bearerAuth": []}, {"apiKey": []}]
ERROR_SCHEMA = "Error"
# What Envoy answers, converted from the gRPC status (`convert_grpc_status`) or by itself
# (gateway.config's local replies): HTTP status -> (response name, when).
ERRORS: dict[str, tuple[str, str]] = {
    "400": ("BadRequest", "INVALID_ARGUMENT, FAILED_PRECONDITION or OUT_OF_RANGE."),
    "401": ("Unauthenticated", "UNAUTHENTICATED: no credential, or a bad or expired one."),
    "403": ("PermissionDenied", "PERMISSION_DENIED: the caller may not do this."),
    "404": ("NotFound", "NOT_FOUND, or no route serves the path."),
    "409": ("Conflict", "ALREADY_EXISTS or ABORTED."),
    "429": ("TooManyRequests", "RESOURCE_EXHAUSTED: a rate limit (the edge's or the service's)."),
    "503": ("Unavailable", "UNAVAILABLE: the service or one of its dependencies is down."),
}


def document(descriptor_set: Path, domains: Iterable[str] | None = None) -> JSON:
    """The document for the bindings of `domains` (OpsService's once, for each of them)."""
    wanted = set(registry.names() if domains is None else domains)
    served = [d for d in registry.names() if d in wanted]
    fds = load_descriptor_set(descriptor_set)
    schemas = Schemas(index(fds))
    paths: dict[str, JSON] = {}
    tags: list[JSON] = []
    for full_name, service in voka_services(fds):
        operations = _service_operations(schemas, full_name, service, served)
        for path, verb, operation in operations:
            paths.setdefault(path, {})[verb] = operation
        if operations:
            tags.append(_tag(schemas, full_name))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": "v1", "description": _INFO},
        "servers": [{"url": "/"}],
        "tags": tags,
        "paths": paths,
        "components": {
            "schemas": {**schemas.components, **_ERROR_SCHEMAS},
            "responses": _error_responses(),
            "securitySchemes": SECURITY_SCHEMES,
        },
    }


def write(descriptor_set: Path, out: Path) -> None:
    """Write the document for every domain as indented JSON (committed, so diffs stay readable)."""
    text = json.dumps(document(descriptor_set), indent=2, ensure_ascii=False)
    out.write_text(text + "\n", encoding="utf-8")


_INFO = (
    "Every gRPC service of the mesh as REST+JSON through Envoy's transcoder, generated from the "
    "`.proto` contracts. Fields use the proto3 JSON mapping (camelCase names, 64-bit integers "
    "as strings, enums by name). Server streams arrive as Server-Sent Events, one message per "
    "event. Errors are `{code, message, details}` with the `google.rpc.Code` and, where the "
    "service gives them, `google.rpc` details; on the OpenAI API (`/v1/...`) they are OpenAI's "
    "`{error: {message, type, param, code}}`, on LibreTranslate's paths `{error}`."
)
_ERROR: JSON = {
    "type": "object",
    "description": "A gRPC status as Envoy renders it; Envoy's own refusals carry no details.",
    "properties": {
        "code": {"type": "integer", "description": "The `google.rpc.Code` (3, 16, 5, ...)."},
        "message": {"type": "string"},
        "details": {
            "type": "array",
            "items": WELL_KNOWN["google.protobuf.Any"],
            "description": "`google.rpc` details: `BadRequest` field violations, `RetryInfo`...",
        },
    },
    "required": ["code", "message"],
}
_OPENAI_ERROR: JSON = {
    "type": "object",
    "description": "OpenAI's error shape, rewritten at the edge from the gRPC status.",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {
                    "type": "string",
                    "description": "By HTTP status: `invalid_request_error`, "
                    "`authentication_error`, `permission_error`, `not_found_error`, "
                    "`rate_limit_error`, `server_error`.",
                },
                "param": {
                    "type": ["string", "null"],
                    "description": "The field a `BadRequest` detail names.",
                },
                "code": {
                    "type": ["string", "null"],
                    "description": "`invalid_api_key`, `rate_limit_exceeded`, "
                    "`insufficient_quota`, else the gRPC code's name (`invalid_argument`).",
                },
            },
            "required": ["message", "type", "param", "code"],
        }
    },
    "required": ["error"],
}
_LIBRETRANSLATE_ERROR: JSON = {
    "type": "object",
    "description": "LibreTranslate's error shape, rewritten at the edge from the gRPC status.",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
# Each error dialect (gateway.contracts): its schema's name, and the prefix of its responses'.
_DIALECTS: dict[str | None, tuple[str, str]] = {
    None: (ERROR_SCHEMA, ""),
    OPENAI_DIALECT: ("OpenAiError", "OpenAi"),
    LIBRETRANSLATE_DIALECT: ("LibreTranslateError", "LibreTranslate"),
}
_ERROR_SCHEMAS = {
    ERROR_SCHEMA: _ERROR,
    "OpenAiError": _OPENAI_ERROR,
    "LibreTranslateError": _LIBRETRANSLATE_ERROR,
}


def _service_operations(
    schemas: Schemas,
    full_name: str,
    service: descriptor_pb2.ServiceDescriptorProto,
    domains: list[str],
) -> list[tuple[str, str, JSON]]:
    """(path, verb, operation) of each binding of the service that one of `domains` serves."""
    found = []
    for method in service.method:
        for n, binding in enumerate(method_bindings(full_name, method)):
            if binding.domain is None or binding.domain in domains:
                found.append(_operation(schemas, binding, method, n, domains))
    return found


def _operation(
    schemas: Schemas,
    binding: Binding,
    method: descriptor_pb2.MethodDescriptorProto,
    n: int,
    domains: list[str],
) -> tuple[str, str, JSON]:
    request = method.input_type.lstrip(".")
    enums = {OPS_DOMAIN_VARIABLE: domains} if binding.domain is None else {}
    bound = bind_path(binding.template, enums)
    short = binding.service.rsplit(".", 1)[-1]
    comment = schemas.protos.comment(f"{binding.service}.{binding.method}")
    operation: JSON = {
        "operationId": f"{short}_{binding.method}" + (f"_{n + 1}" if n else ""),
        "tags": [short],
        "summary": _summary(comment) or binding.method,
        "description": comment,
        "x-grpc-method": f"/{binding.service}/{binding.method}",
        "parameters": [*bound.parameters, *_query(schemas, binding, request, bound.fields)],
        "responses": {"200": _success(schemas, method), **_error_refs(binding.error_dialect)},
        "security": [] if binding.public else PROTECTED,
    }
    if operation["description"] in ("", operation["summary"]):
        del operation["description"]
    if not operation["parameters"]:
        del operation["parameters"]
    if binding.body:
        operation["requestBody"] = _request_body(schemas, binding.body, method)
    return bound.path, binding.verb, operation


def _query(
    schemas: Schemas, binding: Binding, request: str, path_fields: frozenset[str]
) -> list[JSON]:
    """With `body: "*"` the body holds every field the path does not; else the query may."""
    if binding.body == "*":
        return []
    return query_params(schemas, request, path_fields | {binding.body})


def _request_body(
    schemas: Schemas, body: str, method: descriptor_pb2.MethodDescriptorProto
) -> JSON:
    request = method.input_type.lstrip(".")
    if body == "*":
        schema = schemas.of_type(request)
        description = schemas.protos.comment(request)
    else:
        fld = next(f for f in schemas.protos.messages[request].field if f.name == body)
        if fld.type_name.lstrip(".") == HTTP_BODY:
            return _binary("The raw bytes, with their `Content-Type`.", required=True)
        schema = schemas.of_field(request, fld)
        description = schema.pop("description", "")
    if method.client_streaming:
        schema = {"type": "array", "items": schema}
        description = f"A JSON array: one element per stream message. {description}".strip()
    return {"required": True, "description": description, "content": _json(schema)}


def _success(schemas: Schemas, method: descriptor_pb2.MethodDescriptorProto) -> JSON:
    response = method.output_type.lstrip(".")
    if response == HTTP_BODY:
        return _binary("The raw bytes, with their type as `Content-Type`.")
    schema = schemas.of_type(response)
    description = schemas.protos.comment(response) or "OK"
    if not method.server_streaming:
        return {"description": description, "content": _json(schema)}
    event = f"Server-Sent Events: each `data:` line is one `{response.rsplit('.', 1)[-1]}`."
    return {
        "description": f"{event}\n\n{description}",
        "content": {
            "text/event-stream": {
                "schema": {"type": "string", "description": event},
                "x-event-schema": schema,
            }
        },
    }


def _binary(description: str, *, required: bool | None = None) -> JSON:
    body: JSON = {"description": description, "content": {"*/*": {"schema": BINARY}}}
    return body if required is None else {"required": required, **body}


def _json(schema: JSON) -> JSON:
    return {"application/json": {"schema": schema}}


def _error_refs(dialect: str | None) -> JSON:
    _, prefix = _DIALECTS[dialect]
    return {
        status: {"$ref": f"#/components/responses/{prefix}{name}"}
        for status, (name, _) in ERRORS.items()
    }


def _error_responses() -> JSON:
    """Each error response once per dialect (`BadRequest`, `OpenAiBadRequest`, ...)."""
    responses: JSON = {}
    for schema, prefix in _DIALECTS.values():
        error = _json({"$ref": f"#/components/schemas/{schema}"})
        for name, when in ERRORS.values():
            responses[prefix + name] = {"description": when, "content": error}
    return responses


def _tag(schemas: Schemas, full_name: str) -> JSON:
    tag: JSON = {"name": full_name.rsplit(".", 1)[-1]}
    description = schemas.protos.comment(full_name)
    return {**tag, "description": description} if description else tag


def _summary(comment: str) -> str:
    """The comment's first sentence, on one line."""
    paragraph = " ".join(comment.split("\n\n", 1)[0].split())
    end = paragraph.find(". ")
    return paragraph if end < 0 else paragraph[: end + 1]
