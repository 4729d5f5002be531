"""The OpenAPI document generated from the contracts: valid OpenAPI 3.1, one operation per HTTP
binding with the access rule's security, and the proto3 JSON mapping in its schemas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import validate

from gateway import openapi
from gateway.contracts import http_bindings
from gateway.openapi.params import bind_path
from tools import protogen

DESCRIPTOR_SET = protogen.GEN / protogen.DESCRIPTOR_SET
PROTECTED = [{"bearerAuth": []}, {"apiKey": []}]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return openapi.document(DESCRIPTOR_SET)


def operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, verb, op) for path, item in doc["paths"].items() for verb, op in item.items()]


def schema(doc: dict[str, Any], name: str) -> dict[str, Any]:
    return doc["components"]["schemas"][name]


def test_document_is_valid_openapi_3_1(doc: dict[str, Any]):
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_every_http_binding_is_one_operation(doc: dict[str, Any]):
    documented = sorted((path, verb, op["x-grpc-method"]) for path, verb, op in operations(doc))
    expected = sorted(
        (bind_path(b.template).path, b.verb, f"/{b.service}/{b.method}")
        for b in http_bindings(DESCRIPTOR_SET)
    )
    assert documented == expected


def test_public_rpcs_need_no_credential_and_the_rest_do(doc: dict[str, Any]):
    public = {f"/{b.service}/{b.method}" for b in http_bindings(DESCRIPTOR_SET) if b.public}
    assert "/voka.auth.v1.AuthService/Login" in public
    for path, verb, op in operations(doc):
        expected = [] if op["x-grpc-method"] in public else PROTECTED
        assert op["security"] == expected, (verb, path)
    assert set(doc["components"]["securitySchemes"]) == {"bearerAuth", "apiKey"}


def test_a_template_variable_becomes_a_path_parameter(doc: dict[str, Any]):
    """`GET /api/v1/{name=projects/*}`: one segment parameter that fills `name`."""
    op = doc["paths"]["/api/v1/projects/{project}"]["get"]
    [param] = op["parameters"]
    assert param["in"] == "path"
    assert param["required"] is True
    assert param["schema"]["pattern"] == "^[^/]+$"
    assert "`name`, `projects/{project}`" in param["description"]


def test_a_multi_segment_variable_gets_one_parameter_per_wildcard():
    bound = bind_path("/api/v1/{name=users/*/api-keys/*}:revoke")
    assert bound.path == "/api/v1/users/{user}/api-keys/{api-key}:revoke"
    assert [p["name"] for p in bound.parameters] == ["user", "api-key"]
    assert bound.fields == {"name"}
    assert bind_path("/api/v1/meetings/{name}").path == "/api/v1/meetings/{name}"


def test_the_health_service_variable_lists_the_domains(doc: dict[str, Any]):
    [param, *_] = doc["paths"]["/api/v1/health/{service}"]["get"]["parameters"]
    assert "translate" in param["schema"]["enum"]


def test_http_body_operations_take_and_give_raw_bytes(doc: dict[str, Any]):
    transcribe = doc["paths"]["/api/v1/stt/transcribe"]["post"]
    assert transcribe["requestBody"]["content"] == {
        "*/*": {"schema": {"type": "string", "format": "binary"}}
    }
    query = {p["name"] for p in transcribe["parameters"]}
    assert "config.language" in query  # the other fields, dotted, from the query string
    synthesize = doc["paths"]["/api/v1/tts/synthesize"]["post"]["responses"]["200"]
    assert list(synthesize["content"]) == ["*/*"]


def test_body_field_and_query_parameters(doc: dict[str, Any]):
    """`patch: "/api/v1/{user.name=users/*}" body: "user"`: the body is the User, and only the
    fields neither the path nor the body fill are query parameters."""
    op = doc["paths"]["/api/v1/users/{user}"]["patch"]
    body = op["requestBody"]["content"]["application/json"]["schema"]
    assert body["$ref"] == "#/components/schemas/voka.auth.v1.User"
    assert [p["name"] for p in op["parameters"]] == ["user", "updateMask"]
    listing = doc["paths"]["/api/v1/tasks"]["get"]
    assert {"pageSize", "pageToken"} <= {p["name"] for p in listing["parameters"]}


def test_server_streams_are_server_sent_events(doc: dict[str, Any]):
    ok = doc["paths"]["/api/v1/health/{service}:watch"]["get"]["responses"]["200"]
    stream = ok["content"]["text/event-stream"]
    assert stream["x-event-schema"]["$ref"].endswith("voka.ops.v1.WatchHealthResponse")


def test_errors_are_the_json_envoy_renders(doc: dict[str, Any]):
    for _, _, op in operations(doc):
        assert set(op["responses"]) == {"200", "400", "401", "403", "404", "409", "429", "503"}
    error = doc["components"]["responses"]["NotFound"]["content"]["application/json"]["schema"]
    assert set(schema(doc, error["$ref"].split("/")[-1])["properties"]) == {
        "code",
        "message",
        "details",
    }


def test_schemas_follow_the_proto3_json_mapping(doc: dict[str, Any]):
    task = schema(doc, "voka.tasks.v1.Task")["properties"]
    assert task["createTime"]["format"] == "date-time"
    assert task["createTime"]["readOnly"] is True
    assert task["state"]["$ref"].endswith("voka.tasks.v1.TaskState")
    assert "TASK_STATE_QUEUED" in schema(doc, "voka.tasks.v1.TaskState")["enum"]
    usage = schema(doc, "voka.speech.v1.VoiceSampleQuota")["properties"]
    assert usage["usedBytes"]["type"] == "string"  # int64
    assert "description" in task["name"]  # the contract's comment


def test_descriptions_come_from_the_comments_without_lint_directives(doc: dict[str, Any]):
    op = doc["paths"]["/api/v1/tts/synthesize"]["post"]
    assert op["summary"].startswith("Speaks a text")
    assert "buf:lint" not in op.get("description", "") + op["summary"]


def test_only_the_domains_served_are_documented():
    doc = openapi.document(DESCRIPTOR_SET, ["auth"])
    methods = {op["x-grpc-method"].split("/")[1] for _, _, op in operations(doc)}
    assert methods == {"voka.auth.v1.AuthService", "voka.ops.v1.OpsService"}


def test_write_gives_the_committed_file(tmp_path: Path):
    out = tmp_path / "openapi.json"
    openapi.write(DESCRIPTOR_SET, out)
    committed = protogen.GEN / protogen.OPENAPI_DOCUMENT
    assert out.read_text() == committed.read_text(), "run `make gen`"
