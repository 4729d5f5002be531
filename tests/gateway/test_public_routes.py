"""The generated config's limits on what anyone may send: public routes (the requests jwt_authn
lets through without a token) hold a small body limit of their own, every other route keeps the
transcoder's large one, and Envoy's own refusals are shaped and marked for the edge replies'
Lua. test_edge_replies.py shows the same through a real Envoy."""

from __future__ import annotations

import re
from typing import Any

from gateway.config import (
    EDGE_REPLIES_SCRIPT,
    LOCAL_REPLY_HEADER,
    PUBLIC_BODY_BYTES,
    binding_routes,
    build_config,
    http_bindings,
)
from tests.gateway.test_config import DESCRIPTOR_SET, UPSTREAMS, hcm, sample_path, virtual_host
from voka import registry

BUFFER = "envoy.filters.http.buffer"


def matches(match: dict[str, Any], verb: str, path: str) -> bool:
    """Envoy's route match, as far as the generated routes use it."""
    if "path" in match and path != match["path"]:
        return False
    if "prefix" in match and not path.startswith(match["prefix"]):
        return False
    if "safe_regex" in match and not re.fullmatch(match["safe_regex"]["regex"], path):
        return False
    return all(
        h["name"] == ":method" and h["string_match"]["exact"] == verb.upper()
        for h in match.get("headers", [])
    )


def route_for(config: dict[str, Any], verb: str, path: str) -> dict[str, Any]:
    return next(r for r in virtual_host(config)["routes"] if matches(r["match"], verb, path))


def body_limit(config: dict[str, Any], route: dict[str, Any]) -> int | None:
    """The buffer filter's limit on `route`, None where it is off (the virtual host's word)."""
    vhost = virtual_host(config)
    per_route = route.get("typed_per_filter_config", {}).get(BUFFER)
    per_route = per_route or vhost["typed_per_filter_config"][BUFFER]
    return None if per_route.get("disabled") else int(per_route["buffer"]["max_request_bytes"])


def samples(public: bool) -> list[tuple[str, str, str]]:
    """(verb, a concrete path, the domain that serves it) for each binding."""
    found = []
    for binding in http_bindings(DESCRIPTOR_SET):
        if binding.public != public:
            continue
        for template, domain in binding_routes(binding, registry.names()):
            found.append((binding.verb, sample_path(template, domain), domain))
    return found


def test_public_routes_take_small_bodies_and_reach_their_domain():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    public = samples(public=True)
    assert ("post", "/api/v1/auth/login", "auth") in public
    assert ("get", "/api/v1/voices/x9", "speech") in public  # a public binding with a variable
    for verb, path, domain in public:
        route = route_for(config, verb, path)
        assert route["route"]["cluster"] == domain, (verb, path)
        assert body_limit(config, route) == PUBLIC_BODY_BYTES, (verb, path)
    login = route_for(config, "post", "/voka.auth.v1.AuthService/Login")  # native gRPC
    assert body_limit(config, login) == PUBLIC_BODY_BYTES


def test_protected_routes_keep_the_large_limit():
    config = build_config(DESCRIPTOR_SET, UPSTREAMS)
    protected = samples(public=False)
    assert ("post", "/api/v1/auth/logout", "auth") in protected  # shares /api/v1/auth/
    for verb, path, domain in protected:
        route = route_for(config, verb, path)
        assert route["route"]["cluster"] == domain, (verb, path)
        assert body_limit(config, route) is None, (verb, path)
    assert body_limit(config, route_for(config, "get", "/api/v1/auth/logout")) is None
    assert body_limit(config, route_for(config, "post", "/voka.auth.v1.AuthService/Logout")) is None


def test_the_body_limit_comes_after_the_token_check():
    names = [f["name"] for f in hcm(build_config(DESCRIPTOR_SET, UPSTREAMS))["http_filters"]]
    assert names.index("envoy.filters.http.jwt_authn") < names.index(BUFFER)
    assert names.index(BUFFER) < names.index("envoy.filters.http.grpc_json_transcoder")


def test_a_body_field_contradicting_the_path_is_refused():
    filters = {f["name"]: f for f in hcm(build_config(DESCRIPTOR_SET, UPSTREAMS))["http_filters"]}
    transcoder = filters["envoy.filters.http.grpc_json_transcoder"]["typed_config"]
    assert transcoder["request_validation_options"]["reject_binding_body_field_collisions"]


def test_envoys_own_answers_have_details_and_go_through_the_edge_replies():
    config = hcm(build_config(DESCRIPTOR_SET, UPSTREAMS))
    for mapper in config["local_reply_config"]["mappers"]:
        assert mapper["body_format_override"]["json_format"]["details"] == []
        assert mapper["headers_to_add"][0]["header"] == {"key": LOCAL_REPLY_HEADER, "value": "1"}
    first = config["http_filters"][0]
    assert first["name"] == "envoy.filters.http.lua.edge_replies"  # sees every answer
    wrapper = first["typed_config"]  # ... and starts the script for error answers only
    skipped = wrapper["xds_matcher"]["matcher_tree"]["exact_match_map"]["map"]
    assert sorted(skipped) == ["1xx", "2xx", "3xx"]
    script = wrapper["extension_config"]["typed_config"]["default_source_code"]["inline_string"]
    assert script == EDGE_REPLIES_SCRIPT.read_text()
    assert LOCAL_REPLY_HEADER in script
