"""The generated Envoy config: every REST binding reaches its own domain, and Envoy accepts it.

Routing is checked with a small first-match simulation of Envoy's `path`/`prefix` matching over
the generated route list, so it runs without Envoy; `envoy --mode validate` then checks the
whole bootstrap against Envoy's own schema.
"""

from __future__ import annotations

import json
import random
import re
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from gateway import openapi
from gateway.config import (
    DOCS_PATH,
    EDGE_VERIFIED_TOKENS_CACHED,
    JWKS_CLUSTER,
    JWT_PROVIDER,
    NOT_FOUND_MESSAGE,
    OPENAPI_PATH,
    UPSTREAM_CONNECTION_WINDOW,
    UPSTREAM_STREAM_WINDOW,
    Binding,
    RouteMatch,
    binding_routes,
    build_config,
    http_bindings,
    route_match,
    route_prefixes,
    template_regex,
    write_config,
)
from voka import registry

ROOT = Path(__file__).resolve().parents[2]
DESCRIPTOR_SET = ROOT / "gen" / "voka.binpb"
GOOGLEAPIS = ROOT / "third_party" / "googleapis"
ENVOY = Path(sys.executable).parent / "envoy"
UPSTREAMS = {d: f"127.0.0.1:{50051 + i}" for i, d in enumerate(registry.names())}
SAMPLE_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")

# Two domains shaped like the real contracts: canonical paths, custom verbs, nested resources,
# additional bindings kept from the replaced backends, a server stream.
TASKS_PROTO = """
    syntax = "proto3";
    package voka.tasks.v1;
    import "google/api/annotations.proto";
    service TasksService {
      rpc SubmitTask(Req) returns (Res) {
        option (google.api.http) = {
          post: "/api/v1/tasks" body: "*"
          additional_bindings {post: "/api/v1/high-scale-tasks/submit" body: "*"}
        };
      }
      rpc BatchSubmitTasks(Req) returns (Res) {
        option (google.api.http) = {post: "/api/v1/tasks:batchSubmit" body: "*"};
      }
      rpc GetTask(Req) returns (Res) {
        option (google.api.http) = {get: "/api/v1/{name=tasks/*}"};
      }
      rpc CancelTask(Req) returns (Res) {
        option (google.api.http) = {post: "/api/v1/{name=tasks/*}:cancel" body: "*"};
      }
      rpc WatchTask(Req) returns (stream Res) {
        option (google.api.http) = {get: "/api/v1/{name=tasks/*}:watch"};
      }
      rpc ListDeadLetters(Req) returns (Res) {
        option (google.api.http) = {get: "/api/v1/dead-letters"};
      }
    }
    message Req { string name = 1; string parent = 2; }
    message Res {}
"""
MEETINGS_PROTO = """
    syntax = "proto3";
    package voka.meetings.v1;
    import "google/api/annotations.proto";
    service MeetingsService {
      rpc ListMeetings(Req) returns (Res) {
        option (google.api.http) = {get: "/api/v1/{parent=projects/*}/meetings"};
      }
      rpc GetMeeting(Req) returns (Res) {
        option (google.api.http) = {
          get: "/api/v1/{name=projects/*/meetings/*}"
          additional_bindings {get: "/api/v1/meetings/{name}"}
        };
      }
      rpc ListProjects(Req) returns (Res) {
        option (google.api.http) = {get: "/api/v1/projects"};
      }
    }
    message Req { string name = 1; string parent = 2; }
    message Res {}
"""
# A second domain claiming a path meetings already owns.
RIVAL_PROTO = """
    syntax = "proto3";
    package voka.assistant.v1;
    import "google/api/annotations.proto";
    service AssistantService {
      rpc GetProject(Req) returns (Res) {
        option (google.api.http) = {get: "/api/v1/{name=projects/*}"};
      }
    }
    message Req { string name = 1; }
    message Res {}
"""


def compile_descriptor_set(tmp_path: Path, protos: dict[str, str]) -> Path:
    """Build a descriptor set the way tools/protogen.py does, from the given proto sources."""
    src = tmp_path / "protos"
    for name, text in protos.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(textwrap.dedent(text))
    out = tmp_path / "test.binpb"
    cmd = [sys.executable, "-m", "grpc_tools.protoc", f"-I{src}", f"-I{GOOGLEAPIS}"]
    cmd += [f"--descriptor_set_out={out}", "--include_imports", "--include_source_info", *protos]
    subprocess.run(cmd, check=True, capture_output=True)
    return out


def with_ops(protos: dict[str, str]) -> dict[str, str]:
    """The given protos plus the real OpsService contract."""
    ops = ROOT / "protos" / "voka" / "ops" / "v1" / "ops.proto"
    options = ROOT / "protos" / "voka" / "api" / "v1" / "options.proto"
    return {
        "voka/ops/v1/ops.proto": ops.read_text(),
        "voka/api/v1/options.proto": options.read_text(),
        **protos,
    }


@pytest.fixture(scope="module")
def synthetic_set(tmp_path_factory: pytest.TempPathFactory) -> Path:
    protos = {"voka/tasks/v1/tasks.proto": TASKS_PROTO, "voka/meetings/v1/m.proto": MEETINGS_PROTO}
    return compile_descriptor_set(tmp_path_factory.mktemp("synthetic"), with_ops(protos))


@pytest.fixture(scope="module", params=["gen", "synthetic"])
def descriptor_set(request: pytest.FixtureRequest, synthetic_set: Path) -> Path:
    """The real contracts (whatever domains they hold today) and the synthetic two-domain set."""
    return DESCRIPTOR_SET if request.param == "gen" else synthetic_set


def virtual_host(config: dict[str, Any]) -> dict[str, Any]:
    return hcm(config)["route_config"]["virtual_hosts"][0]


def hcm(config: dict[str, Any]) -> dict[str, Any]:
    listener = config["static_resources"]["listeners"][0]
    return listener["filter_chains"][0]["filters"][0]["typed_config"]


def http_filter(config: dict[str, Any], name: str) -> dict[str, Any]:
    filters = {f["name"]: f["typed_config"] for f in hcm(config)["http_filters"]}
    return filters[name]


def first_match(config: dict[str, Any], path: str) -> dict[str, Any]:
    """The route Envoy takes for `path`: first `path` (exact) or `prefix` match, query ignored."""
    bare = path.split("?", 1)[0]
    for route in virtual_host(config)["routes"]:
        match = route["match"]
        if ("path" in match and bare == match["path"]) or (
            "prefix" in match and bare.startswith(match["prefix"])
        ):
            return route
    raise AssertionError(f"no route for {path}")


def cluster_for(config: dict[str, Any], path: str) -> str | None:
    return first_match(config, path).get("route", {}).get("cluster")


def sample_path(template: str, domain: str | None = None) -> str:
    """A concrete path for a template: `*` -> one segment, `**` -> two; OpsService's
    `{service}` -> the domain asked."""

    def value(m: re.Match[str]) -> str:
        if m.group(1) == "service" and domain is not None:
            return domain
        pattern = m.group(2) or "*"
        return "/".join(
            "a1/b2" if s == "**" else "x9" if s == "*" else s for s in pattern.split("/")
        )

    return SAMPLE_VARIABLE.sub(value, template)


def test_every_binding_reaches_its_own_domain(descriptor_set: Path):
    config = build_config(descriptor_set, UPSTREAMS)
    bindings = http_bindings(descriptor_set)
    assert any(b.service == "voka.ops.v1.OpsService" for b in bindings)
    checked = 0
    for binding in bindings:
        for template, domain in binding_routes(binding, registry.names()):
            path = sample_path(template, domain) + "?page_size=1"
            assert cluster_for(config, path) == domain, (binding, path)
            checked += 1
    assert checked >= len(bindings)


def test_synthetic_bindings_are_all_read(synthetic_set: Path):
    templates = {(b.verb, b.template) for b in http_bindings(synthetic_set)}
    assert ("post", "/api/v1/high-scale-tasks/submit") in templates  # additional_bindings
    assert ("get", "/api/v1/meetings/{name}") in templates
    assert ("get", "/api/v1/health/{service}:watch") in templates
    assert ("get", "/api/v1/health") in templates
    assert len(templates) == 22


def test_route_derivation(synthetic_set: Path):
    table = route_prefixes(synthetic_set, ["tasks", "meetings"])
    assert table["tasks"] == [
        RouteMatch("path", "/api/v1/backups"),
        RouteMatch("path", "/api/v1/backups/tasks"),
        RouteMatch("path", "/api/v1/dead-letters"),
        RouteMatch("path", "/api/v1/health"),
        RouteMatch("path", "/api/v1/health/tasks"),
        RouteMatch("path", "/api/v1/health/tasks:drain"),
        RouteMatch("path", "/api/v1/health/tasks:watch"),
        RouteMatch("path", "/api/v1/high-scale-tasks/submit"),
        RouteMatch("path", "/api/v1/monitoring/alerts"),
        RouteMatch("path", "/api/v1/monitoring/api"),
        RouteMatch("path", "/api/v1/monitoring/system"),
        RouteMatch("path", "/api/v1/monitoring/tasks/errors"),
        RouteMatch("path", "/api/v1/tasks"),
        RouteMatch("path", "/api/v1/tasks:batchSubmit"),
        RouteMatch("prefix", "/voka.tasks.v1."),
        RouteMatch("prefix", "/api/v1/tasks/"),
    ]
    assert table["meetings"] == [
        RouteMatch("path", "/api/v1/backups/meetings"),
        RouteMatch("path", "/api/v1/health/meetings"),
        RouteMatch("path", "/api/v1/health/meetings:drain"),
        RouteMatch("path", "/api/v1/health/meetings:watch"),
        RouteMatch("path", "/api/v1/monitoring/meetings/errors"),
        RouteMatch("path", "/api/v1/projects"),
        RouteMatch("prefix", "/voka.meetings.v1."),
        RouteMatch("prefix", "/api/v1/meetings/"),
        RouteMatch("prefix", "/api/v1/projects/"),
    ]


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("/api/v1/translate", RouteMatch("path", "/api/v1/translate")),
        ("/api/v1/tasks:batchSubmit", RouteMatch("path", "/api/v1/tasks:batchSubmit")),
        ("/api/v1/{name=tasks/*}:cancel", RouteMatch("prefix", "/api/v1/tasks/")),
        ("/api/v1/{name=users/*/api-keys/*}", RouteMatch("prefix", "/api/v1/users/")),
        ("/api/v1/kinect/{device}/frames", RouteMatch("prefix", "/api/v1/kinect/")),
        ("/api/v1/{name=files/**}", RouteMatch("prefix", "/api/v1/files/")),
    ],
)
def test_route_match_of_template(template: str, expected: RouteMatch):
    assert route_match(template) == expected


def test_template_without_literal_prefix_is_refused():
    with pytest.raises(ValueError, match="no literal prefix"):
        route_match("/{name=**}")


def test_routes_are_ordered_exact_then_longest_prefix(descriptor_set: Path):
    routes = virtual_host(build_config(descriptor_set, UPSTREAMS))["routes"]
    kinds = [next(iter(r["match"])) for r in routes[:-1]]
    assert kinds == sorted(kinds, key=lambda k: k != "path")
    prefixes = [len(r["match"]["prefix"]) for r in routes[:-1] if "prefix" in r["match"]]
    assert prefixes == sorted(prefixes, reverse=True)
    assert routes[-1]["match"] == {"prefix": "/"}
    matches = [json.dumps(r["match"], sort_keys=True) for r in routes]
    assert len(matches) == len(set(matches))


def test_longer_prefix_wins_over_shorter(synthetic_set: Path):
    config = build_config(synthetic_set, UPSTREAMS)
    # `/api/v1/projects/` (meetings) must not be shadowed by anything shorter.
    assert cluster_for(config, "/api/v1/projects/p1/meetings") == "meetings"
    assert cluster_for(config, "/api/v1/tasks/t1:cancel") == "tasks"
    assert cluster_for(config, "/api/v1/tasks:batchSubmit") == "tasks"


def test_health_paths_go_to_their_domain(descriptor_set: Path):
    config = build_config(descriptor_set, UPSTREAMS)
    for domain in registry.names():
        assert cluster_for(config, f"/api/v1/health/{domain}") == domain
        assert cluster_for(config, f"/api/v1/health/{domain}:watch?maxEvents=3") == domain
    assert first_match(config, "/api/v1/health/nobody").get("direct_response")


MESH_PATHS = (
    "/api/v1/health",
    "/api/v1/monitoring/system",
    "/api/v1/monitoring/api",
    "/api/v1/monitoring/alerts",
)


def test_mesh_views_go_to_the_first_domain_served(descriptor_set: Path):
    for upstreams in (UPSTREAMS, dict(list(UPSTREAMS.items())[2:])):
        config = build_config(descriptor_set, upstreams)
        for path in MESH_PATHS:
            assert cluster_for(config, path) == next(iter(upstreams)), path


def test_native_grpc_goes_to_its_domain(descriptor_set: Path):
    config = build_config(descriptor_set, UPSTREAMS)
    for domain in registry.names():
        assert cluster_for(config, f"/voka.{domain}.v1.AnyService/AnyMethod") == domain


def test_unknown_path_gets_json_404(descriptor_set: Path):
    config = build_config(descriptor_set, UPSTREAMS)
    for path in (
        "/nope",
        "/api/v1/no-such-thing",
        "/api/v1/healthz",
        "/grpc.health.v1.Health/Check",
    ):
        route = first_match(config, path)
        assert route["direct_response"]["status"] == 404, path
    assert route["direct_response"]["body"]["inline_string"] == NOT_FOUND_MESSAGE
    # Otherwise the transcoder's reject_unknown_method answers first, in plain text.
    transcoder = route["typed_per_filter_config"]["envoy.filters.http.grpc_json_transcoder"]
    assert transcoder["disabled"] is True


def test_transcoder_options(descriptor_set: Path):
    transcoder = http_filter(
        build_config(descriptor_set, UPSTREAMS), "envoy.filters.http.grpc_json_transcoder"
    )
    assert transcoder["print_options"]["stream_sse_style_delimited"] is True
    assert "stream_sse_style_delimited" not in transcoder  # Envoy rejects it at the top level
    assert transcoder["print_options"]["always_print_primitive_fields"] is True
    assert transcoder["print_options"]["always_print_enums_as_ints"] is False
    assert transcoder["print_options"]["preserve_proto_field_names"] is False
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["match_incoming_request_route"] is True
    assert transcoder["request_validation_options"]["reject_unknown_method"] is True
    assert transcoder["request_validation_options"]["reject_unknown_query_parameters"] is True
    assert Path(transcoder["proto_descriptor"]).is_absolute()
    assert Path(transcoder["proto_descriptor"]).samefile(descriptor_set)
    bound = {b.service for b in http_bindings(descriptor_set)}
    assert bound <= set(transcoder["services"])
    assert "voka.ops.v1.OpsService" in transcoder["services"]


def test_filter_order_and_edge_settings():
    config = build_config(
        DESCRIPTOR_SET, UPSTREAMS, cors_origins=["https://app.example"], rate_limit=(7, 2.5)
    )
    names = [f["name"] for f in hcm(config)["http_filters"]]
    assert names == [
        "envoy.filters.http.lua.edge_replies",
        "envoy.filters.http.compressor.brotli",
        "envoy.filters.http.compressor.gzip",
        "envoy.filters.http.health_check",
        "envoy.filters.http.cors",
        "envoy.filters.http.lua.header_names",
        "envoy.filters.http.grpc_web",
        "envoy.filters.http.local_ratelimit",
        "envoy.filters.http.jwt_authn",
        "envoy.filters.http.local_ratelimit.user_rate_limit",
        "envoy.filters.http.buffer",
        "envoy.filters.http.grpc_json_transcoder",
        "envoy.filters.http.router",
    ]
    assert hcm(config)["codec_type"] == "AUTO"
    health = http_filter(config, "envoy.filters.http.health_check")
    assert health["pass_through_mode"] is False
    assert health["headers"] == [{"name": ":path", "string_match": {"exact": "/health"}}]
    bucket = {"max_tokens": 7, "tokens_per_fill": 7, "fill_interval": "2.5s"}
    for name, key in (("", "remote_address"), (".user_rate_limit", "user")):
        limit = http_filter(config, f"envoy.filters.http.local_ratelimit{name}")
        assert "token_bucket" not in limit  # no bucket shared by every client
        assert limit["descriptors"] == [{"entries": [{"key": key}], "token_bucket": bucket}]
        assert limit["rate_limited_as_resource_exhausted"] is True
    cors = virtual_host(config)["typed_per_filter_config"]["envoy.filters.http.cors"]
    assert cors["allow_origin_string_match"] == [{"exact": "https://app.example"}]
    assert "grpc-status" in cors["expose_headers"]
    assert "x-grpc-web" in cors["allow_headers"]
    assert config["admin"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 9901,
    }


def test_client_addresses_are_trusted_only_as_far_as_configured():
    assert hcm(build_config(DESCRIPTOR_SET, UPSTREAMS))["xff_num_trusted_hops"] == 0
    behind_ingress = hcm(build_config(DESCRIPTOR_SET, UPSTREAMS, xff_num_trusted_hops=1))
    assert behind_ingress["xff_num_trusted_hops"] == 1
    assert behind_ingress["use_remote_address"] is True
    assert behind_ingress["internal_address_config"] == {"cidr_ranges": []}
    with pytest.raises(ValueError, match="xff_num_trusted_hops"):
        build_config(DESCRIPTOR_SET, UPSTREAMS, xff_num_trusted_hops=-1)


def test_clusters_speak_http2_and_are_health_checked():
    upstreams = {"auth": "127.0.0.1:6001", "tasks": "tasks.voka.svc:50055"}
    config = build_config(DESCRIPTOR_SET, upstreams)
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    assert set(clusters) == {"auth", "tasks", JWKS_CLUSTER}
    del clusters[JWKS_CLUSTER]  # Envoy's own listener, over HTTP/1.1 (test_jwt_* below)
    assert clusters["auth"]["type"] == "STATIC"
    assert clusters["tasks"]["type"] == "STRICT_DNS"
    for cluster in clusters.values():
        options = cluster["typed_extension_protocol_options"]
        http = options["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
        assert "http2_protocol_options" in http["explicit_http_config"]
        check = cluster["health_checks"][0]
        assert "grpc_health_check" in check
        assert check["unhealthy_threshold"] == 2
        # Bounded flow-control windows (Envoy's default: 256 MiB a stream), kept connections.
        assert http["explicit_http_config"]["http2_protocol_options"] == {
            "initial_stream_window_size": UPSTREAM_STREAM_WINDOW,
            "initial_connection_window_size": UPSTREAM_CONNECTION_WINDOW,
        }
        assert 64 * 1024 <= UPSTREAM_STREAM_WINDOW <= UPSTREAM_CONNECTION_WINDOW < 256 * 1024**2
        assert http["common_http_protocol_options"]["idle_timeout"] == "3600s"
    endpoint = clusters["tasks"]["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    assert endpoint["endpoint"]["address"]["socket_address"] == {
        "address": "tasks.voka.svc",
        "port_value": 50055,
    }
    # Domains without an upstream get no routes.
    assert cluster_for(config, "/api/v1/health/speech") is None


def test_conflict_between_domains_names_both(tmp_path: Path):
    protos = with_ops(
        {"voka/meetings/v1/m.proto": MEETINGS_PROTO, "voka/assistant/v1/a.proto": RIVAL_PROTO}
    )
    rival = compile_descriptor_set(tmp_path, protos)
    with pytest.raises(ValueError, match="projects") as err:
        build_config(rival, UPSTREAMS)
    assert "meetings" in str(err.value)
    assert "assistant" in str(err.value)
    # Without one of the two there is nothing to fight over.
    assert build_config(rival, {"assistant": "127.0.0.1:1"})


def test_unknown_domain_in_upstreams_is_refused():
    with pytest.raises(ValueError, match="billing"):
        build_config(DESCRIPTOR_SET, {"billing": "127.0.0.1:1"})


def test_binding_domain():
    assert Binding("voka.tasks.v1.TasksService", "M", "get", "/x", "").domain == "tasks"
    assert Binding("voka.ops.v1.OpsService", "M", "get", "/x", "").domain is None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def envoy_validate(config: Path) -> subprocess.CompletedProcess[str]:
    assert ENVOY.exists(), f"Envoy is missing at {ENVOY}: run `make install`"
    base_id = str(random.randint(10_000, 60_000))
    cmd = [str(ENVOY), "--mode", "validate", "-c", str(config), "--base-id", base_id]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)


def test_envoy_accepts_the_generated_config(tmp_path: Path, descriptor_set: Path):
    path = tmp_path / "envoy.json"
    write_config(path, descriptor_set, UPSTREAMS, listen_port=free_port(), admin_port=free_port())
    assert json.loads(path.read_text())["static_resources"]["clusters"]
    result = envoy_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout + result.stderr


def test_envoy_rejects_a_broken_config(tmp_path: Path):
    """Guards the validation above: a config Envoy refuses must fail it."""
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, admin_port=free_port())
    transcoder = http_filter(config, "envoy.filters.http.grpc_json_transcoder")
    transcoder["stream_sse_style_delimited"] = True  # only valid inside print_options
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(config))
    assert envoy_validate(path).returncode != 0


def test_envoy_local_replies_are_json_with_the_grpc_code(descriptor_set: Path):
    config = build_config(descriptor_set, UPSTREAMS)
    hcm = config["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]
    mappers = hcm["typed_config"]["local_reply_config"]["mappers"]
    by_status = {
        m["filter"]["status_code_filter"]["comparison"]["value"]["default_value"]: m
        for m in mappers
        if m["filter"]["status_code_filter"]["comparison"]["op"] == "EQ"
    }
    assert by_status[429]["body_format_override"]["json_format"]["code"] == 8
    assert by_status[404]["body_format_override"]["json_format"]["code"] == 5
    assert mappers[-1]["filter"]["status_code_filter"]["comparison"]["op"] == "GE"
    for mapper in mappers:
        body = mapper["body_format_override"]
        assert body["content_type"] == "application/json"
        assert body["json_format"]["message"] == "%LOCAL_REPLY_BODY%"


# --- jwt_authn rules -------------------------------------------------------------------------


def jwt_config(config: dict[str, Any]) -> dict[str, Any]:
    return http_filter(config, "envoy.filters.http.jwt_authn")


def _header_matches(matcher: dict[str, Any], headers: dict[str, str]) -> bool:
    value = headers.get(matcher["name"])
    if value is None:
        return False
    match = matcher["string_match"]
    expected = match.get("exact", match.get("prefix", ""))
    if match.get("ignore_case"):
        value, expected = value.lower(), expected.lower()
    return value == expected if "exact" in match else value.startswith(expected)


def _rule_matches(match: dict[str, Any], path: str, headers: dict[str, str]) -> bool:
    bare = path.split("?", 1)[0]
    if "path" in match and bare != match["path"]:
        return False
    if "prefix" in match and not bare.startswith(match["prefix"]):
        return False
    if "safe_regex" in match and not re.fullmatch(match["safe_regex"]["regex"], bare):
        return False
    return all(_header_matches(h, headers) for h in match.get("headers", []))


def edge_requires(
    config: dict[str, Any], verb: str, path: str, authorization: str | None = None
) -> str | None:
    """What Envoy's jwt_authn asks of a request: the provider required, or None (first rule
    wins; no rule means no check)."""
    headers = {":method": verb.upper()}
    if authorization:
        headers["authorization"] = authorization
    for rule in jwt_config(config)["rules"]:
        if _rule_matches(rule["match"], path, headers):
            return rule.get("requires", {}).get("provider_name")
    return None


def _sample_bindings(public: bool) -> list[tuple[str, str]]:
    return [
        (b.verb, sample_path(b.template, domain))
        for b in http_bindings(DESCRIPTOR_SET)
        if b.public == public
        for domain in ([b.domain] if b.domain else list(registry.names()))
    ]


def test_public_bindings_need_no_token():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    samples = _sample_bindings(public=True)
    assert ("post", "/api/v1/auth/login") in samples
    assert ("get", "/api/v1/voices/x9") in samples  # a public binding with a variable
    for verb, path in samples:
        assert edge_requires(config, verb, path + "?page_size=1") is None, (verb, path)


def test_every_protected_binding_needs_a_token():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    samples = _sample_bindings(public=False)
    assert ("post", "/api/v1/auth/logout") in samples  # shares /api/v1/auth/ with login
    for verb, path in samples:
        assert edge_requires(config, verb, path) == JWT_PROVIDER, (verb, path)


def test_public_path_with_another_method_needs_a_token():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    assert edge_requires(config, "get", "/api/v1/auth/jwks") is None
    assert edge_requires(config, "post", "/api/v1/auth/jwks") == JWT_PROVIDER
    assert edge_requires(config, "delete", "/api/v1/voices/x9") == JWT_PROVIDER
    assert edge_requires(config, "get", "/api/v1/voices/x9/more") == JWT_PROVIDER


def test_native_grpc_rules_follow_the_access_option():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    assert edge_requires(config, "post", "/voka.auth.v1.AuthService/Login") is None
    assert edge_requires(config, "post", "/voka.auth.v1.AuthService/GetJwks") is None
    assert edge_requires(config, "post", "/voka.auth.v1.AuthService/Logout") == JWT_PROVIDER
    assert edge_requires(config, "post", "/voka.auth.v1.AuthService/LogoutX") == JWT_PROVIDER


def test_preflights_api_keys_and_unknown_paths_skip_the_edge_check():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    assert edge_requires(config, "options", "/api/v1/users/me") is None
    assert edge_requires(config, "get", "/api/v1/users/me", "Bearer vk_abc") is None
    assert edge_requires(config, "get", "/api/v1/users/me", "Bearer eyJx") == JWT_PROVIDER
    assert edge_requires(config, "get", "/api/v1/no-such-thing") is None  # the JSON 404
    assert first_match(config, "/api/v1/no-such-thing")["name"] == "not_found"


def test_without_access_option_everything_needs_a_token(synthetic_set: Path):
    """Leaving the option out means AUTHENTICATED (contracts.md), so nothing opens by default."""
    config = build_config(synthetic_set, {"tasks": "127.0.0.1:1", "meetings": "127.0.0.1:2"})
    assert edge_requires(config, "get", "/api/v1/projects") == JWT_PROVIDER
    assert edge_requires(config, "post", "/api/v1/tasks/x9:cancel") == JWT_PROVIDER
    assert edge_requires(config, "get", "/voka.tasks.v1.TasksService/GetTask") == JWT_PROVIDER


def test_public_matches_of_a_domain_not_served_are_left_out():
    config = build_config(DESCRIPTOR_SET, {"auth": "127.0.0.1:1"})
    paths = [r["match"].get("path", "") for r in jwt_config(config)["rules"]]
    assert "/api/v1/auth/login" in paths
    assert "/api/v1/translate/languages" not in paths
    assert "/api/v1/health/translate" not in paths


@pytest.mark.parametrize(
    ("template", "regex"),
    [
        ("/api/v1/{name=voices/*}", "/api/v1/voices/[^/]+"),
        ("/api/v1/{name=files/**}", "/api/v1/files/.+"),
        ("/api/v1/kinect/{device}/frames", "/api/v1/kinect/[^/]+/frames"),
        ("/api/v1/{name=tasks/*}:cancel", "/api/v1/tasks/[^/]+:cancel"),
        ("/api/v1/a.b", r"/api/v1/a\.b"),
    ],
)
def test_template_regex(template: str, regex: str):
    assert template_regex(template) == regex


def test_jwt_provider_fetches_jwks_through_envoys_own_listener():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, listen_host="0.0.0.0", listen_port=8123)
    provider = jwt_config(config)["providers"][JWT_PROVIDER]
    assert provider["issuer"] == "voka-auth"
    assert provider["audiences"] == ["voka"]
    assert provider["forward"] is True
    # A verified token is not checked again at the edge until it expires (the services still
    # verify every call and ask the revocation list).
    assert provider["jwt_cache_config"] == {"jwt_cache_size": EDGE_VERIFIED_TOKENS_CACHED}
    jwks = provider["remote_jwks"]
    assert jwks["http_uri"]["uri"] == "http://127.0.0.1:8123/api/v1/auth/jwks"
    assert jwks["async_fetch"]["fast_listener"] is True
    assert jwks["retry_policy"]["num_retries"] >= 1
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    endpoint = clusters[jwks["http_uri"]["cluster"]]["load_assignment"]["endpoints"][0]
    address = endpoint["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address == {"address": "127.0.0.1", "port_value": 8123}
    assert first_match(config, "/api/v1/auth/jwks")["route"]["cluster"] == "auth"


# --- API docs --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [OPENAPI_PATH, DOCS_PATH])
def test_api_docs_are_answered_by_envoy_to_anyone(path: str):
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    route = first_match(config, path)
    assert route["direct_response"]["status"] == 200
    assert route["match"]["headers"][0]["string_match"] == {"exact": "GET"}
    assert edge_requires(config, "GET", path) is None


def test_the_served_document_covers_the_domains_served():
    config = build_config(DESCRIPTOR_SET, {"auth": "127.0.0.1:1"})
    body = first_match(config, OPENAPI_PATH)["direct_response"]["body"]["inline_string"]
    document = json.loads(body)
    assert document == openapi.document(DESCRIPTOR_SET, ["auth"])
    limit = hcm(config)["route_config"]["max_direct_response_body_size_bytes"]
    assert len(body.encode()) < limit
