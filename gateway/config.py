"""Envoy configuration for Voka's edge, generated from the contracts' descriptor set.

REST paths come from the `google.api.http` annotations and nowhere else (DESIGN.md), so the
routes are derived here from the same descriptor set Envoy's transcoder reads: a new RPC gets
its route on the next `make gen` without anyone editing a route by hand.

One listener serves native gRPC, gRPC-Web and REST+JSON. The transcoder runs with
`match_incoming_request_route`, so a REST request is routed on the path the caller sent, not on
the gRPC path it becomes. That is what lets the one `OpsService` binding
`/api/v1/health/{service}`, served by every domain, reach the domain named in the path.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple
from urllib.parse import urlsplit

from gateway import openapi
from gateway.compression import compression_on, compressor_filters
from gateway.contracts import (
    OPENAI_DIALECT,
    OPENAI_PREFIX,
    OPS_DOMAIN_VARIABLE,
    OPS_SERVICE,
    TEMPLATE_VARIABLE,
    Binding,
    domain_of_service,
    http_bindings,
    public_grpc_paths,
    service_names,
)
from gateway.web import ServedFile, WebAssets, served_files
from voka import registry
from voka.authn import AUDIENCE, ISSUER
from voka.peer_calls import ON_BEHALF_OF

JSON = dict[str, Any]

NOT_FOUND_MESSAGE = "no such API path"
# Envoy's own answers (transcoder rejections, rate limit, no healthy upstream, unknown path) in
# the same JSON shape as converted gRPC errors: {"code": <google.rpc.Code>, "message": ...,
# "details": [...]}, a google.rpc.BadRequest among the details where the message names a field.
LOCAL_REPLY_CODES = {400: 3, 401: 16, 403: 7, 404: 5, 409: 6, 413: 8, 429: 8, 503: 14, 504: 4}
UNKNOWN_CODE = 2
HEALTH_PATH = "/health"
STAT_PREFIX = "voka_edge"
JWT_PROVIDER = "voka_auth"
JWKS_PATH = "/api/v1/auth/jwks"
JWKS_CLUSTER = "voka_jwks"
# The API reference, answered by Envoy itself to anyone (gateway/openapi/, gateway/docs.html).
OPENAPI_PATH = "/api/v1/openapi.json"
DOCS_PATH = "/docs"
DOCS_PAGE = Path(__file__).with_name("docs.html")
# API keys (`vk_...`, in `authorization: Bearer` or `x-api-key`) are not JWTs: the service
# behind resolves them (through the auth service), so the edge lets them through to it instead of
# refusing them as malformed tokens. Anything else still needs a JWT here.
API_KEY_AUTHORIZATION = "bearer vk_"
API_KEY_HEADER = "x-api-key"
API_KEY_PREFIX = "vk_"
GATEWAY_HEADER = "x-voka-gateway"
GATEWAY_SECRET_ENV = "VOKA_GATEWAY_SECRET"  # noqa: S105 - the variable's name
# How long Envoy trusts a fetched JWKS before fetching again. Short, because a newly rotated key
# is unknown at the edge until the next fetch.
JWKS_CACHE_S = 60.0
# Verified tokens each Envoy worker keeps (by the token's text, until its `exp`), so a caller's
# next request skips the Ed25519 check: as voka.authn.VERIFIED_TOKENS_CACHED in the services,
# which still verify and check revocation on every call behind the edge.
EDGE_VERIFIED_TOKENS_CACHED = 10_000

_WILDCARDS = frozenset({"*", "**"})
_TYPE = "type.googleapis.com/"
_TRANSCODER = "envoy.filters.http.grpc_json_transcoder"
_JWT = "envoy.filters.http.jwt_authn"
_RATE_LIMIT = "envoy.filters.http.local_ratelimit"
_SEGMENT_REGEX = {"*": "[^/]+", "**": ".+"}
_CORS = "envoy.filters.http.cors"
_HTTP_OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_CORS_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
_CORS_HEADERS = (
    "authorization",
    "x-api-key",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
)
_CORS_EXPOSE = ("grpc-status", "grpc-message")
# Audio uploads and synthesized speech travel as `google.api.HttpBody`, which the transcoder
# buffers whole; Envoy's 1 MiB default would refuse a minute of WAV.
_MAX_BODY_BYTES = 64 * 1024 * 1024
# Bodies on routes anyone may call (ACCESS_PUBLIC: login, registration, token exchanges), which
# are small: an anonymous caller must not make Envoy hold _MAX_BODY_BYTES. The buffer filter
# enforces it on those routes only (413); every other route needs a credential first.
PUBLIC_BODY_BYTES = 1024 * 1024
_SKIP_FILTER = "envoy.extensions.filters.common.matcher.action.v3.SkipFilter"
_STATUS_CLASS_INPUT = "envoy.type.matcher.v3.HttpResponseStatusCodeClassMatchInput"
_BUFFER = "envoy.filters.http.buffer"
_BUFFER_PER_ROUTE = "envoy.extensions.filters.http.buffer.v3.BufferPerRoute"
# Envoy's own answers carry this header from the local reply mappers to the Lua filter, which
# names the refused field and removes it (gateway/edge_replies.lua).
LOCAL_REPLY_HEADER = "x-voka-local-reply"
EDGE_REPLIES_SCRIPT = Path(__file__).with_name("edge_replies.lua")
EDGE_REPLIES_FILTER = "envoy.filters.http.lua.edge_replies"
# A route serving a foreign API (Binding.error_dialect) names the dialect in its metadata, under
# the edge replies' filter, which rewrites every error answer on it into that API's shape.
ERROR_DIALECT_KEY = "error_dialect"
# Metadata only services may send each other: removed from whatever comes in through the edge,
# so an outside caller holding a service token still cannot act as a user.
SERVICE_ONLY_HEADERS = (ON_BEHALF_OF,)
_MAX_CONNECTIONS = 50_000
# Upstream HTTP/2 (see _upstream_protocol): flow-control windows, and how long an idle
# connection to a service is kept for reuse.
UPSTREAM_STREAM_WINDOW = 4 * 1024 * 1024
UPSTREAM_CONNECTION_WINDOW = 16 * 1024 * 1024
UPSTREAM_IDLE_S = 3600.0
# Envoy refuses a direct_response body over 4 KiB unless the route config raises the limit; the
# inlined OpenAPI document is about 0.5 MiB.
_MAX_DIRECT_RESPONSE_BYTES = 4 * 1024 * 1024


class RateLimit(NamedTuple):
    """An edge token bucket: `tokens_per_fill` requests per `fill_interval_s` s, also the burst.
    Every client address has one, and every signed-in user one more (_client_rate_limit,
    _user_rate_limit)."""

    tokens_per_fill: int
    fill_interval_s: float


@dataclass(frozen=True)
class RouteMatch:
    """An Envoy route match: an exact `path` or a `prefix` (query strings never take part)."""

    kind: Literal["path", "prefix"]
    value: str

    def sort_key(self) -> tuple[int, int, str]:
        """Exact paths first, then longer prefixes before shorter: Envoy takes the first match."""
        if self.kind == "path":
            return (0, 0, self.value)
        return (1, -len(self.value), self.value)

    def as_envoy(self) -> JSON:
        """The `match` object of an Envoy route."""
        return {self.kind: self.value}


DEFAULT_RATE_LIMIT = RateLimit(tokens_per_fill=300, fill_interval_s=1.0)
# Client addresses and users with a bucket of their own at once; past it Envoy drops the least
# recently used buckets, so memory stays bounded whatever the number of clients.
RATE_LIMIT_CLIENTS = 20_000
# Where jwt_authn leaves a verified token's claims (dynamic metadata: a client cannot forge it).
JWT_PAYLOAD_KEY = "jwt_payload"


# --- deriving route matches -----------------------------------------------------------------


def _without_verb(path: str) -> str:
    """Drop a custom verb (`:cancel`): it only ever follows the last segment."""
    colon = path.find(":", path.rfind("/"))
    return path if colon < 0 else path[:colon]


def route_match(template: str) -> RouteMatch:
    """The Envoy match for a path template.

    Variables expand to their pattern (`{name=tasks/*}` -> `tasks/*`, `{id}` -> `*`). Without a
    wildcard the template is an exact path (custom verb kept); otherwise it is the literal
    segments before the first wildcard, as a prefix ending in '/'.
    """
    expanded = TEMPLATE_VARIABLE.sub(lambda m: m.group(2) or "*", template)
    segments = _without_verb(expanded).split("/")[1:]
    first_wild = next((i for i, s in enumerate(segments) if s in _WILDCARDS), None)
    if first_wild is None:
        return RouteMatch("path", expanded)
    if first_wild == 0:
        raise ValueError(f"path template {template!r} has no literal prefix to route on")
    return RouteMatch("prefix", "/" + "/".join(segments[:first_wild]) + "/")


def _for_domain(template: str, domain: str) -> str:
    """An OpsService template with its domain variable filled in."""
    return TEMPLATE_VARIABLE.sub(
        lambda m: domain if m.group(1) == OPS_DOMAIN_VARIABLE else m.group(0), template
    )


def binding_routes(binding: Binding, domains: Sequence[str]) -> list[tuple[str, str]]:
    """(path template, domain) of each route serving a binding: a domain's own binding goes to
    it; an OpsService binding naming the domain (`/api/v1/health/{service}`) has one route per
    domain; an OpsService binding of the whole mesh (`/api/v1/health`, no domain in its path)
    goes to the first domain alone, as every process answers it the same way."""
    if binding.domain is not None:
        return [(binding.template, binding.domain)] if binding.domain in domains else []
    if f"{{{OPS_DOMAIN_VARIABLE}}}" not in binding.template:
        return [(binding.template, domain) for domain in domains[:1]]
    return [(_for_domain(binding.template, domain), domain) for domain in domains]


def _binding_claims(binding: Binding, domains: Sequence[str]) -> Iterator[tuple[RouteMatch, str]]:
    for template, domain in binding_routes(binding, domains):
        yield route_match(template), domain


def dialect_routes(descriptor_set: Path, domains: Iterable[str]) -> dict[RouteMatch, str]:
    """The error dialect of each route match serving a foreign API's binding."""
    wanted = list(domains)
    return {
        match: dialect
        for binding in http_bindings(descriptor_set)
        if (dialect := binding.error_dialect) is not None
        for match, _ in _binding_claims(binding, wanted)
    }


def _claim(claims: dict[RouteMatch, str], match: RouteMatch, domain: str) -> None:
    owner = claims.setdefault(match, domain)
    if owner != domain:
        raise ValueError(f"route {match.kind} {match.value!r} claimed by both {owner} and {domain}")


def route_prefixes(
    descriptor_set: Path, domains: Iterable[str] | None = None
) -> dict[str, list[RouteMatch]]:
    """Route matches per domain: its native gRPC prefix and one match per REST binding.

    Raises ValueError when two domains would claim the same match: Envoy would silently send
    one domain's traffic to the other.
    """
    requested = set(registry.names() if domains is None else domains)
    wanted = [d for d in registry.names() if d in requested]
    claims: dict[RouteMatch, str] = {}
    for domain in wanted:
        _claim(claims, RouteMatch("prefix", f"/voka.{domain}.v1."), domain)
    for binding in http_bindings(descriptor_set):
        for match, domain in _binding_claims(binding, wanted):
            _claim(claims, match, domain)
    table: dict[str, list[RouteMatch]] = {d: [] for d in wanted}
    for match, domain in claims.items():
        table[domain].append(match)
    return {d: sorted(ms, key=RouteMatch.sort_key) for d, ms in table.items()}


def ordered_routes(table: Mapping[str, Sequence[RouteMatch]]) -> list[tuple[RouteMatch, str]]:
    """All (match, domain) pairs in the order Envoy must try them."""
    pairs = [(m, d) for d, matches in table.items() for m in matches]
    return sorted(pairs, key=lambda pair: pair[0].sort_key())


# --- JWT rules ------------------------------------------------------------------------------
#
# Envoy routes on path prefixes that public and protected RPCs share (`/api/v1/auth/` holds
# login and logout), so the rules are derived per binding, not per route, and Envoy takes the
# first rule that matches:
#
# 1. CORS preflights (OPTIONS) and API-key callers (`Bearer vk_...` or `x-api-key: vk_...`)
#    skip the edge check: a preflight carries no credential, and only the services can resolve
#    an API key (the kit asks the auth service; a bad key is refused there, 401).
# 2. Each ACCESS_PUBLIC binding, for its own HTTP method only: an exact `path` when the template
#    is literal, else a `safe_regex` of the template (`{name=voices/*}` -> `voices/[^/]+`), so a
#    public `GET /api/v1/voices/x` does not open a protected `DELETE` on the same path. Each
#    public method's native gRPC path too.
# 3. Every route of the route table, in Envoy's route order: a JWT is required.
#
# Paths no route serves get no rule and reach the JSON 404. This is exact rather than the looser
# `requires_any: [provider, allow_missing]` on mixed prefixes, so an anonymous caller of any
# protected REST route is refused at the edge. The edge checks signature, issuer, audience and
# expiry; roles, ownership and the revocation denylist stay with the services, which verify
# every token again (voka.authn) whoever forwarded it.


def template_regex(template: str) -> str:
    """An RE2 regex of a path template: `*` is one segment, `**` one or more, the rest literal."""
    out: list[str] = []
    last = 0
    for m in TEMPLATE_VARIABLE.finditer(template):
        out.append(re.escape(template[last : m.start()]))
        segments = (m.group(2) or "*").split("/")
        out.append("/".join(_SEGMENT_REGEX.get(seg) or re.escape(seg) for seg in segments))
        last = m.end()
    out.append(re.escape(template[last:]))
    return "".join(out)


def _method_is(verb: str) -> list[JSON]:
    return [{"name": ":method", "string_match": {"exact": verb.upper()}}]


def _public_match(template: str, verb: str) -> JSON:
    path: JSON = (
        {"safe_regex": {"regex": template_regex(template)}}
        if TEMPLATE_VARIABLE.search(template)
        else {"path": template}
    )
    return {**path, "headers": _method_is(verb)}


def public_matches(bindings: Iterable[Binding], domains: Iterable[str]) -> list[JSON]:
    """Envoy matches for the public REST bindings served by `domains` (OpsService per domain)."""
    return [match for match, _, _ in _public_claims(bindings, domains)]


def _public_claims(
    bindings: Iterable[Binding], domains: Iterable[str]
) -> Iterator[tuple[JSON, str, str | None]]:
    """Each public REST binding's match with the domain that serves it and its error dialect."""
    wanted = list(domains)
    for binding in bindings:
        if binding.public:
            for template, domain in binding_routes(binding, wanted):
                yield _public_match(template, binding.verb), domain, binding.error_dialect


def _skip_rules() -> list[JSON]:
    preflight = {"prefix": "/", "headers": _method_is("OPTIONS")}
    api_key = {
        "prefix": "/",
        "headers": [
            {
                "name": "authorization",
                "string_match": {"prefix": API_KEY_AUTHORIZATION, "ignore_case": True},
            }
        ],
    }
    api_key_header = {
        "prefix": "/",
        "headers": [{"name": API_KEY_HEADER, "string_match": {"prefix": API_KEY_PREFIX}}],
    }
    return [{"match": preflight}, {"match": api_key}, {"match": api_key_header}]


def jwt_rules(descriptor_set: Path, table: Mapping[str, Sequence[RouteMatch]]) -> list[JSON]:
    """The jwt_authn rules, in order (see the section comment above)."""
    public = public_matches(http_bindings(descriptor_set), table)
    grpc_public = [
        {"path": p}
        for p in public_grpc_paths(descriptor_set)
        if domain_of_service(p.strip("/").split("/")[0]) in table
    ]
    docs = [_public_match(path, "GET") for path in (OPENAPI_PATH, DOCS_PATH)]
    required = {"provider_name": JWT_PROVIDER}
    return [
        *_skip_rules(),
        *({"match": m} for m in [*docs, *public, *grpc_public]),
        *({"match": m.as_envoy(), "requires": required} for m, _ in ordered_routes(table)),
    ]


# --- Envoy objects -------------------------------------------------------------------------


def _duration(seconds: float) -> str:
    """Protobuf JSON duration ("1.5s"), never in exponent notation."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") + "s"


def _typed(type_name: str, **fields: Any) -> JSON:
    return {"@type": _TYPE + type_name, **fields}


def _percent(value: int = 100) -> JSON:
    return {"numerator": value, "denominator": "HUNDRED"}


def _socket(address: str, port: int) -> JSON:
    return {"socket_address": {"address": address, "port_value": port}}


def _split_address(upstream: str) -> tuple[str, int]:
    host, sep, port = upstream.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"upstream {upstream!r} is not host:port")
    return host.strip("[]"), int(port)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _service_route(
    match: RouteMatch, domain: str, idle_timeout_s: float, dialect: str | None
) -> JSON:
    """A route to a domain; no overall timeout, since streams last as long as the caller wants
    (services enforce gRPC deadlines), but an idle one so silent streams are reclaimed."""
    return {
        "name": f"{domain} {match.kind} {match.value}",
        "match": match.as_envoy(),
        "route": _to_domain(domain, idle_timeout_s),
        **_dialect_metadata(dialect),
    }


def _dialect_metadata(dialect: str | None) -> JSON:
    """The route metadata naming its error dialect for the edge replies' Lua (none for Voka's)."""
    if dialect is None:
        return {}
    return {"metadata": {"filter_metadata": {EDGE_REPLIES_FILTER: {ERROR_DIALECT_KEY: dialect}}}}


def _to_domain(domain: str, idle_timeout_s: float) -> JSON:
    return {"cluster": domain, "timeout": "0s", "idle_timeout": _duration(idle_timeout_s)}


def public_routes(
    descriptor_set: Path, table: Mapping[str, Sequence[RouteMatch]], idle_timeout_s: float
) -> list[JSON]:
    """A route of its own for each public REST binding and public native gRPC method, with the
    small body limit (PUBLIC_BODY_BYTES): the very requests jwt_authn lets through without a
    token (jwt_rules). They match a method and a path, so they go ahead of the domains' routes,
    which match on paths that public and protected RPCs share."""
    claims = list(_public_claims(http_bindings(descriptor_set), table))
    for path in public_grpc_paths(descriptor_set):
        domain = domain_of_service(path.strip("/").split("/")[0])
        if domain is not None and domain in table:
            claims.append(({"path": path}, domain, None))
    limit = _typed(_BUFFER_PER_ROUTE, buffer={"max_request_bytes": PUBLIC_BODY_BYTES})
    return [
        {
            "name": f"{domain} public {_described(match)}",
            "match": match,
            "route": _to_domain(domain, idle_timeout_s),
            "typed_per_filter_config": {_BUFFER: limit},
            **_dialect_metadata(dialect),
        }
        for match, domain, dialect in claims
    ]


def _described(match: JSON) -> str:
    """`GET /api/v1/voices/[^/]+`, or the path alone for a native gRPC method."""
    path = match.get("path") or match["safe_regex"]["regex"]
    verbs = [h["string_match"]["exact"] for h in match.get("headers", [])]
    return " ".join([*verbs, path])


def _docs_routes(descriptor_set: Path, domains: Iterable[str]) -> list[JSON]:
    """`GET /api/v1/openapi.json` (the document of the domains served, compact) and `GET /docs`
    (the page that renders it), inlined: no file to mount beside Envoy, in a pod or here."""
    document = json.dumps(openapi.document(descriptor_set, domains), separators=(",", ":"))
    return [
        _static_route(OPENAPI_PATH, document, "application/json"),
        _static_route(DOCS_PATH, DOCS_PAGE.read_text(), "text/html; charset=utf-8"),
    ]


def _static_route(path: str, body: str, content_type: str) -> JSON:
    """A GET answered by Envoy with `body`; the transcoder is off, as on the 404 route."""
    return {
        "name": f"docs {path}",
        "match": {"path": path, "headers": _method_is("GET")},
        "direct_response": {"status": 200, "body": {"inline_string": body}},
        "response_headers_to_add": _response_headers({"content-type": content_type}),
        "typed_per_filter_config": {_TRANSCODER: _transcoder_off(), **compression_on()},
    }


def _web_routes(web: WebAssets | None) -> list[JSON]:
    """The console's files (gateway/web.py), each a GET answered by Envoy from the file."""
    return [] if web is None else [_file_route(served) for served in served_files(web)]


def _file_route(served: ServedFile) -> JSON:
    return {
        "name": f"web {served.path}",
        "match": {"path": served.path, "headers": _method_is("GET")},
        "direct_response": {"status": 200, "body": {"filename": served.filename}},
        "response_headers_to_add": _response_headers(served.headers),
        "typed_per_filter_config": {_TRANSCODER: _transcoder_off(), **compression_on()},
    }


def _response_headers(headers: Mapping[str, str]) -> list[JSON]:
    return [
        {"header": {"key": key, "value": value}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
        for key, value in headers.items()
    ]


def _transcoder_off() -> JSON:
    return _typed("envoy.config.route.v3.FilterConfig", disabled=True)


def _not_found_route(prefix: str = "/", dialect: str | None = None) -> JSON:
    """404 for the paths under `prefix` no route before it serves, rendered as JSON by the local
    reply config (and the Lua filter, in `dialect`). The transcoder is off on this route, or
    `reject_unknown_method` would answer first with its own 404."""
    return {
        "name": "not_found" if prefix == "/" else f"not_found {prefix}",
        "match": {"prefix": prefix},
        "direct_response": {"status": 404, "body": {"inline_string": NOT_FOUND_MESSAGE}},
        "typed_per_filter_config": {_TRANSCODER: _transcoder_off()},
        **_dialect_metadata(dialect),
    }


def _origin_matcher(origin: str) -> JSON:
    return {"safe_regex": {"regex": ".*"}} if origin == "*" else {"exact": origin}


def _cors_policy(origins: Sequence[str]) -> JSON:
    return _typed(
        "envoy.extensions.filters.http.cors.v3.CorsPolicy",
        allow_origin_string_match=[_origin_matcher(o) for o in origins],
        allow_methods=",".join(_CORS_METHODS),
        allow_headers=",".join(_CORS_HEADERS),
        expose_headers=",".join(_CORS_EXPOSE),
        max_age="86400",
    )


def _virtual_host(
    table: Mapping[str, Sequence[RouteMatch]],
    cors_origins: Sequence[str],
    idle_timeout_s: float,
    docs: list[JSON],
    public: list[JSON],
    *,
    dialects: Mapping[RouteMatch, str],
) -> JSON:
    """Routes in the order Envoy tries them: the docs, exact paths (public ones first), the public
    regexes, then prefixes, longest first, and the 404s (OpenAI's namespace's in its dialect).
    The body limit of the buffer filter is off here and on in the public routes only (their own
    typed_per_filter_config wins). Headers only services may send are dropped from every
    request."""
    routes = [
        _service_route(m, d, idle_timeout_s, dialects.get(m)) for m, d in ordered_routes(table)
    ]
    ordered = sorted([*public, *routes], key=lambda route: "path" not in route["match"])
    not_found = [_not_found_route(OPENAI_PREFIX, OPENAI_DIALECT), _not_found_route()]
    return {
        "name": "voka",
        "domains": ["*"],
        "routes": [*docs, *ordered, *not_found],
        "request_headers_to_remove": list(SERVICE_ONLY_HEADERS),
        "typed_per_filter_config": {
            _CORS: _cors_policy(cors_origins),
            _BUFFER: _typed(_BUFFER_PER_ROUTE, disabled=True),
        },
        "request_headers_to_add": [_gateway_proof()],
    }


def _gateway_proof() -> JSON:
    """`x-voka-gateway: <secret>` on every request Envoy forwards, replacing any the client sent:
    it tells a service that `x-envoy-external-address` (which Envoy also overwrites) is Envoy's
    word, not the caller's. The secret comes from Envoy's environment, never from this file."""
    return {
        "header": {"key": GATEWAY_HEADER, "value": f"%ENVIRONMENT({GATEWAY_SECRET_ENV})%"},
        "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
    }


def _health_check_filter(clusters: Sequence[str], require_upstreams: bool) -> JSON:
    """`/health` answered by Envoy itself; optionally 503 unless each cluster has a healthy host."""
    config = _typed(
        "envoy.extensions.filters.http.health_check.v3.HealthCheck",
        pass_through_mode=False,
        headers=[{"name": ":path", "string_match": {"exact": HEALTH_PATH}}],
    )
    if require_upstreams:
        config["cluster_min_healthy_percentages"] = {c: {"value": 100.0} for c in clusters}
    return {"name": "envoy.filters.http.health_check", "typed_config": config}


def _rate_limit_filter(name: str, rate_limit: RateLimit, key: str, action: JSON) -> JSON:
    """A token bucket per value of one descriptor `key`, which `action` reads from the request:
    the descriptor's empty value makes Envoy keep one bucket per distinct value (at most
    RATE_LIMIT_CLIENTS). There is no default bucket, so requests that yield no value pass (one
    bucket shared by all would let one client starve the rest). REST callers get 429, gRPC
    callers RESOURCE_EXHAUSTED."""
    bucket = {
        "max_tokens": rate_limit.tokens_per_fill,
        "tokens_per_fill": rate_limit.tokens_per_fill,
        "fill_interval": _duration(rate_limit.fill_interval_s),
    }
    config = _typed(
        "envoy.extensions.filters.http.local_ratelimit.v3.LocalRateLimit",
        stat_prefix=f"{STAT_PREFIX}_{name}",
        descriptors=[{"entries": [{"key": key}], "token_bucket": bucket}],
        max_dynamic_descriptors=RATE_LIMIT_CLIENTS,
        rate_limits=[{"actions": [action]}],
        filter_enabled={"runtime_key": f"voka_{name}_enabled", "default_value": _percent()},
        filter_enforced={"runtime_key": f"voka_{name}_enforced", "default_value": _percent()},
        rate_limited_as_resource_exhausted=True,
    )
    filter_name = _RATE_LIMIT if name == "rate_limit" else f"{_RATE_LIMIT}.{name}"
    return {"name": filter_name, "typed_config": config}


def _client_rate_limit(rate_limit: RateLimit) -> JSON:
    """One bucket per client address: the trusted one, so with `xff_num_trusted_hops` the
    address the proxies in front saw, never one the client wrote itself. Before jwt_authn, so
    a flood of bad tokens is limited before Envoy spends a signature check on each."""
    return _rate_limit_filter("rate_limit", rate_limit, "remote_address", {"remote_address": {}})


def _user_rate_limit(rate_limit: RateLimit) -> JSON:
    """One bucket per signed-in user (`sub` of a token jwt_authn verified), whichever address
    the user comes from; anonymous and API-key callers have only their address's bucket here
    (the services limit API keys with their owner's, voka.ratelimit)."""
    subject = {
        "descriptor_key": "user",
        "metadata_key": {"key": _JWT, "path": [{"key": JWT_PAYLOAD_KEY}, {"key": "sub"}]},
        "source": "DYNAMIC",
        "skip_if_absent": True,
    }
    return _rate_limit_filter("user_rate_limit", rate_limit, "user", {"metadata": subject})


def _transcoder_filter(descriptor_set: Path, services: Sequence[str]) -> JSON:
    """REST+JSON <-> gRPC. SSE framing is only accepted inside print_options (PLATFORM.md).

    Refused: unknown paths and query parameters, and a body field that contradicts the path
    (without the check the body's `name` silently wins over the URL's). JSON body fields the
    message lacks are dropped: the transcoder has no option to refuse them (docs/contracts.md)."""
    print_options = {
        "add_whitespace": False,
        "always_print_primitive_fields": True,
        "always_print_enums_as_ints": False,
        "preserve_proto_field_names": False,
        "stream_sse_style_delimited": True,
    }
    config = _typed(
        "envoy.extensions.filters.http.grpc_json_transcoder.v3.GrpcJsonTranscoder",
        proto_descriptor=str(descriptor_set.resolve()),
        services=list(services),
        print_options=print_options,
        convert_grpc_status=True,
        match_incoming_request_route=True,
        query_param_unescape_plus=True,
        max_request_body_size=_MAX_BODY_BYTES,
        max_response_body_size=_MAX_BODY_BYTES,
        request_validation_options={
            "reject_unknown_method": True,
            "reject_unknown_query_parameters": True,
            "reject_binding_body_field_collisions": True,
        },
    )
    return {"name": _TRANSCODER, "typed_config": config}


def _jwks_host(listen_host: str) -> str:
    """Where Envoy reaches its own listener: loopback when it listens on every address."""
    return "127.0.0.1" if listen_host in ("0.0.0.0", "::", "") else listen_host  # noqa: S104


def _jwt_provider(listen_host: str, listen_port: int) -> JSON:
    """The auth service's issuer and JWKS. The JWKS comes through Envoy's own listener, whose
    transcoder turns `GET /api/v1/auth/jwks` into AuthService.GetJwks, because the auth service
    speaks only gRPC. It is fetched in the background (async_fetch) and re-fetched every
    `failed_refetch_duration` while auth is not up yet; `fast_listener` lets the listener start
    before the first fetch, since that fetch goes through the very listener it would hold back."""
    uri = f"http://{_jwks_host(listen_host)}:{listen_port}{JWKS_PATH}"
    return {
        "issuer": ISSUER,
        "audiences": [AUDIENCE],
        "forward": True,
        "payload_in_metadata": JWT_PAYLOAD_KEY,
        "jwt_cache_config": {"jwt_cache_size": EDGE_VERIFIED_TOKENS_CACHED},
        "remote_jwks": {
            "http_uri": {"uri": uri, "cluster": JWKS_CLUSTER, "timeout": "2s"},
            "cache_duration": _duration(JWKS_CACHE_S),
            "async_fetch": {"fast_listener": True, "failed_refetch_duration": "1s"},
            "retry_policy": {
                "num_retries": 3,
                "retry_back_off": {"base_interval": "0.2s", "max_interval": "1s"},
            },
        },
    }


def _jwt_filter(rules: list[JSON], listen_host: str, listen_port: int) -> JSON:
    config = _typed(
        "envoy.extensions.filters.http.jwt_authn.v3.JwtAuthentication",
        providers={JWT_PROVIDER: _jwt_provider(listen_host, listen_port)},
        rules=rules,
    )
    return {"name": _JWT, "typed_config": config}


def _jwks_cluster(listen_host: str, listen_port: int) -> JSON:
    """Envoy's own listener, over HTTP/1.1, for the JWKS fetch (see _jwt_provider)."""
    return {
        "name": JWKS_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": JWKS_CLUSTER,
            "endpoints": [
                {
                    "lb_endpoints": [
                        {"endpoint": {"address": _socket(_jwks_host(listen_host), listen_port)}}
                    ]
                }
            ],
        },
    }


def _plain_filter(name: str, type_name: str) -> JSON:
    return {"name": name, "typed_config": _typed(type_name)}


def _http_filters(
    descriptor_set: Path,
    services: Sequence[str],
    *,
    clusters: Sequence[str],
    rate_limit: RateLimit,
    health_requires_upstreams: bool,
    jwt_filter: JSON,
) -> list[JSON]:
    """Order matters: health and CORS preflights answer before rate limiting; gRPC-Web becomes
    gRPC before jwt_authn and the transcoder; the per-user limit needs the user jwt_authn
    verified; jwt_authn must see the REST path the caller sent, so it runs before the transcoder
    rewrites it, which must see REST before the router. The edge replies' Lua comes first, so
    every answer Envoy makes passes it on the way out; the body limit of public routes (buffer)
    comes after jwt_authn, so a body on a protected route is never read without a token. The
    compressors (off but on the console's and the docs' routes, gateway/compression.py) come
    next: on the way out they see the finished answer, and the edge replies read only errors."""
    return [
        edge_replies_filter(),
        *compressor_filters(),
        _health_check_filter(clusters, health_requires_upstreams),
        _plain_filter(_CORS, "envoy.extensions.filters.http.cors.v3.Cors"),
        header_names_filter(),
        _plain_filter(
            "envoy.filters.http.grpc_web", "envoy.extensions.filters.http.grpc_web.v3.GrpcWeb"
        ),
        _client_rate_limit(rate_limit),
        jwt_filter,
        _user_rate_limit(rate_limit),
        _body_limit_filter(),
        _transcoder_filter(descriptor_set, services),
        _plain_filter(
            "envoy.filters.http.router", "envoy.extensions.filters.http.router.v3.Router"
        ),
    ]


def edge_replies_filter() -> JSON:
    """Names the refused field in Envoy's own 400 answers, and reshapes error answers on routes
    of a foreign API into its dialect (gateway/edge_replies.lua). Wrapped in a matcher that
    skips the script for 1xx-3xx answers, which it leaves alone anyway: starting the script for
    every answer cost Envoy 3-9 µs a request (`python -m bench.gateway_filters`)."""
    script = _typed(
        "envoy.extensions.filters.http.lua.v3.Lua",
        default_source_code={"inline_string": EDGE_REPLIES_SCRIPT.read_text()},
    )
    skip = {"action": {"name": "skip", "typed_config": _typed(_SKIP_FILTER)}}
    status_class = {"name": "status-class", "typed_config": _typed(_STATUS_CLASS_INPUT)}
    return {
        "name": EDGE_REPLIES_FILTER,
        "typed_config": _typed(
            "envoy.extensions.common.matching.v3.ExtensionWithMatcher",
            extension_config={"name": EDGE_REPLIES_FILTER, "typed_config": script},
            xds_matcher={
                "matcher_tree": {
                    "input": status_class,
                    "exact_match_map": {"map": {kind: skip for kind in ("1xx", "2xx", "3xx")}},
                }
            },
        ),
    }


def _body_limit_filter() -> JSON:
    """PUBLIC_BODY_BYTES on public routes (413 beyond); off elsewhere (see _virtual_host)."""
    return {
        "name": _BUFFER,
        "typed_config": _typed(
            "envoy.extensions.filters.http.buffer.v3.Buffer", max_request_bytes=PUBLIC_BODY_BYTES
        ),
    }


# HTTP allows header names gRPC metadata does not (`#`, `~`, `!`, ...): forwarded, they make
# the service's gRPC library fail the call as INTERNAL. Refused here as the bad input they are.
_HEADER_NAMES_LUA = """
function envoy_on_request(handle)
  for name, _ in pairs(handle:headers()) do
    if not string.match(name, "^:?[0-9a-z_.%-]+$") then
      handle:respond(
        {[":status"] = "400", ["content-type"] = "application/json"},
        '{"code":3,"message":"header name ' .. name .. ' is not allowed: use letters, digits'
          .. ', _ . and -","details":[]}')
      return
    end
  end
end
"""


def header_names_filter() -> JSON:
    """Requests whose header names gRPC metadata cannot carry get 400 at the edge."""
    return {
        "name": "envoy.filters.http.lua.header_names",
        "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.lua.v3.Lua",
            "default_source_code": {"inline_string": _HEADER_NAMES_LUA},
        },
    }


def _access_log(every_request: bool) -> JSON:
    """A JSON line on stdout, with the path the caller sent (before transcoding), for each
    request Envoy refused or that failed, or for every request when asked (`log_every_request`):
    formatting and writing a line per request is work on every call's path, and the services
    too log successful calls only at DEBUG."""
    fields = {
        "time": "%START_TIME%",
        "method": "%REQ(X-ENVOY-ORIGINAL-METHOD?:METHOD)%",
        "path": "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
        "protocol": "%PROTOCOL%",
        "status": "%RESPONSE_CODE%",
        "grpc_status": "%GRPC_STATUS%",
        "details": "%RESPONSE_CODE_DETAILS%",
        "flags": "%RESPONSE_FLAGS%",
        "duration_ms": "%DURATION%",
        "bytes_in": "%BYTES_RECEIVED%",
        "bytes_out": "%BYTES_SENT%",
        "cluster": "%UPSTREAM_CLUSTER%",
        "upstream": "%UPSTREAM_HOST%",
        "request_id": "%REQ(X-REQUEST-ID)%",
        "traceparent": "%REQ(TRACEPARENT)%",
        "user_agent": "%REQ(USER-AGENT)%",
    }
    logger: JSON = {
        "name": "envoy.access_loggers.stdout",
        "typed_config": _typed(
            "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog",
            log_format={"json_format": fields},
        ),
    }
    if not every_request:
        logger["filter"] = _refused_or_failed()
    return logger


def _refused_or_failed() -> JSON:
    """Requests answered with an HTTP error (REST errors included: the transcoder converts gRPC
    statuses), requests Envoy flagged (no healthy upstream, reset, timeout, rate limited), and
    native gRPC and gRPC-Web calls whose status is not OK (they fail with HTTP 200)."""
    grpc_call = {"header": {"name": "content-type", "string_match": {"prefix": "application/grpc"}}}
    grpc_failed = {"statuses": ["OK"], "exclude": True}
    return {
        "or_filter": {
            "filters": [
                {"status_code_filter": _status_at_least(400)},
                {"response_flag_filter": {}},
                {"and_filter": {"filters": [{"header_filter": grpc_call},
                                            {"grpc_status_filter": grpc_failed}]}},
            ]
        }
    }  # fmt: skip


def _cluster(domain: str, upstream: str) -> JSON:
    """One cluster per domain: HTTP/2 (gRPC), actively checked with `grpc.health.v1`."""
    host, port = _split_address(upstream)
    cluster: JSON = {
        "name": domain,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {_HTTP_OPTIONS: _upstream_protocol()},
        "load_assignment": {
            "cluster_name": domain,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
        },
        "health_checks": [_grpc_health_check()],
        "circuit_breakers": {"thresholds": [_circuit_breaker()]},
    }
    if cluster["type"] == "STRICT_DNS":
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


def _upstream_protocol() -> JSON:
    """HTTP/2 to every service, over connections each Envoy worker keeps and multiplexes all its
    calls on (no connection per request), with flow-control windows bounded: Envoy's default
    lets one stream push 256 MiB into Envoy ahead of a slow client; UPSTREAM_STREAM_WINDOW is
    far above what any service streams per round trip on a cluster network."""
    http2 = {
        "initial_stream_window_size": UPSTREAM_STREAM_WINDOW,
        "initial_connection_window_size": UPSTREAM_CONNECTION_WINDOW,
    }
    return _typed(
        _HTTP_OPTIONS,
        explicit_http_config={"http2_protocol_options": http2},
        common_http_protocol_options={"idle_timeout": _duration(UPSTREAM_IDLE_S)},
    )


def _grpc_health_check() -> JSON:
    """The service's overall `grpc.health.v1` status, which turns NOT_SERVING while draining."""
    return {
        "timeout": "1s",
        "interval": "2s",
        "no_traffic_interval": "2s",
        "unhealthy_threshold": 2,
        "healthy_threshold": 1,
        "grpc_health_check": {},
    }


def _circuit_breaker() -> JSON:
    """Bounds on what Envoy queues for one domain, so overload fails fast (503) at the edge.
    Long SSE streams each hold a request slot, hence generous max_requests."""
    return {
        "priority": "DEFAULT",
        "max_connections": 1024,
        "max_pending_requests": 1024,
        "max_requests": 4096,
        "max_retries": 3,
    }


def _listener(host: str, port: int, hcm: JSON) -> JSON:
    return {
        "name": STAT_PREFIX,
        "address": _socket(host, port),
        "filter_chains": [
            {
                "filters": [
                    {
                        "name": "envoy.filters.network.http_connection_manager",
                        "typed_config": hcm,
                    }
                ]
            }
        ],
    }


def _connection_manager(
    virtual_host: JSON,
    http_filters: list[JSON],
    stream_idle_timeout_s: float,
    xff_num_trusted_hops: int,
    log_every_request: bool = False,
) -> JSON:
    """AUTO codec: HTTP/1.1 (REST, gRPC-Web) and HTTP/2 (native gRPC) on the same port.

    The client's address is the TCP peer's, or, behind `xff_num_trusted_hops` proxies that
    each append to `x-forwarded-for` (a load balancer, an ingress), the address the outermost
    trusted one saw: a client can prepend what it likes to the header, never change what the
    proxies appended. That address keys the per-client bucket and becomes
    `x-envoy-external-address` for the services; no address counts as internal, so it always
    does."""
    return _typed(
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        stat_prefix=STAT_PREFIX,
        codec_type="AUTO",
        use_remote_address=True,
        xff_num_trusted_hops=xff_num_trusted_hops,
        internal_address_config={"cidr_ranges": []},
        normalize_path=True,
        merge_slashes=True,
        stream_idle_timeout=_duration(stream_idle_timeout_s),
        access_log=[_access_log(log_every_request)],
        route_config={
            "name": "voka_routes",
            "virtual_hosts": [virtual_host],
            "max_direct_response_body_size_bytes": _MAX_DIRECT_RESPONSE_BYTES,
        },
        http_filters=http_filters,
        local_reply_config=_local_reply_config(),
    )


def _local_reply_config() -> JSON:
    """One mapper per HTTP status Envoy answers by itself; anything else is UNKNOWN (2)."""
    mappers = [
        _local_reply_mapper({"status_code_filter": _status_is(status)}, code)
        for status, code in LOCAL_REPLY_CODES.items()
    ]
    mappers.append(_local_reply_mapper({"status_code_filter": _status_at_least(400)}, UNKNOWN_CODE))
    return {"mappers": mappers}


def _local_reply_mapper(access_log_filter: JSON, code: int) -> JSON:
    """The services' error shape, `details` included (the Lua filter fills it in where the
    message names a field), marked for that filter."""
    return {
        "filter": access_log_filter,
        "headers_to_add": [
            {
                "header": {"key": LOCAL_REPLY_HEADER, "value": "1"},
                "append_action": "OVERWRITE_IF_EXISTS_OR_ADD",
            }
        ],
        "body_format_override": {
            "json_format": {"code": code, "message": "%LOCAL_REPLY_BODY%", "details": []},
            "content_type": "application/json",
        },
    }


def _status_is(status: int) -> JSON:
    return {"comparison": {"op": "EQ", "value": {"default_value": status, "runtime_key": "-"}}}


def _status_at_least(status: int) -> JSON:
    return {"comparison": {"op": "GE", "value": {"default_value": status, "runtime_key": "-"}}}


# --- the WebSocket bridge -------------------------------------------------------------------
#
# Envoy's second door (docs/websocket.md): `/api/v1/ws/` is upgraded to a WebSocket on its route
# alone and passed over HTTP/1.1 to the bridge (gateway/ws_bridge/), which maps each socket onto
# a gRPC stream. A browser cannot set headers on a WebSocket, so the upgrade carries no token:
# jwt_authn lets the prefix through, and the credential arrives in the socket's first frame, which
# the bridge forwards to the service that verifies it.

WS_PREFIX = "/api/v1/ws/"
WS_CLUSTER = "ws_bridge"
WS_HEALTH_PATH = "/health"


def _ws_jwt_rules(ws_bridge: str | None) -> list[JSON]:
    return [] if ws_bridge is None else [{"match": {"prefix": WS_PREFIX}}]


def _ws_routes(ws_bridge: str | None, idle_timeout_s: float) -> list[JSON]:
    """The upgrade route; no overall timeout, the bridge bounds each session itself."""
    if ws_bridge is None:
        return []
    return [
        {
            "name": f"{WS_CLUSTER} prefix {WS_PREFIX}",
            "match": {"prefix": WS_PREFIX},
            "route": {
                **_to_domain(WS_CLUSTER, idle_timeout_s),
                "upgrade_configs": [{"upgrade_type": "websocket"}],
            },
            "typed_per_filter_config": {_TRANSCODER: _transcoder_off()},
        }
    ]


def _http_health_check(path: str) -> JSON:
    """As _grpc_health_check, but `GET path` answering 200."""
    check = {k: v for k, v in _grpc_health_check().items() if k != "grpc_health_check"}
    return {**check, "http_health_check": {"path": path}}


def _ws_bridge_cluster(ws_bridge: str) -> JSON:
    """The bridge, over HTTP/1.1 (WebSocket upgrades), checked on its `GET /health`."""
    host, port = _split_address(ws_bridge)
    cluster: JSON = {
        "name": WS_CLUSTER,
        "type": "STATIC" if _is_ip(host) else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {
            "cluster_name": WS_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _socket(host, port)}}]}],
        },
        "health_checks": [_http_health_check(WS_HEALTH_PATH)],
        "circuit_breakers": {"thresholds": [_circuit_breaker()]},
    }
    if cluster["type"] == "STRICT_DNS":
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    return cluster


# --- tracing --------------------------------------------------------------------------------
#
# Envoy starts each request's trace (`envoy.tracers.opentelemetry`): its span is the root, and
# the `traceparent` it sends upstream makes the service's span a child of it. The spans go over
# OTLP/gRPC to the same collector the services export to (voka.telemetry).

OTLP_CLUSTER = "voka_otlp"
TRACING_SERVICE_NAME = "voka-gateway"
OTLP_GRPC_PORT = 4317


class Tracing(NamedTuple):
    """Envoy's spans go to the OTLP/gRPC collector at `collector` ("host:port"), for
    `sample_percent` of the requests (Envoy's random sampling)."""

    collector: str
    sample_percent: float = 100.0


def tracing_from_env(environ: Mapping[str, str], sample_percent: float = 100.0) -> Tracing | None:
    """Envoy's tracing from the variables the services read: their OTLP endpoint
    (`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, else `OTEL_EXPORTER_OTLP_ENDPOINT`; a URL or
    host:port, 4317 when it names no port), or None where none is set or `OTEL_TRACES_EXPORTER`
    is `none`. Envoy speaks OTLP/gRPC only."""
    endpoint = environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    exporters = {e.strip() for e in environ.get("OTEL_TRACES_EXPORTER", "otlp").split(",")}
    if not endpoint or "none" in exporters:
        return None
    url = urlsplit(endpoint if "://" in endpoint else f"//{endpoint}")
    if not url.hostname:
        raise ValueError(f"OTLP endpoint {endpoint!r} names no host")
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return Tracing(f"{host}:{url.port or OTLP_GRPC_PORT}", sample_percent)


def _tracing(tracing: Tracing) -> JSON:
    """The connection manager's `tracing`: the OpenTelemetry tracer, exporting to OTLP_CLUSTER."""
    if not 0 <= tracing.sample_percent <= 100:
        raise ValueError("sample_percent must be between 0 and 100")
    provider = _typed(
        "envoy.config.trace.v3.OpenTelemetryConfig",
        grpc_service={"envoy_grpc": {"cluster_name": OTLP_CLUSTER}, "timeout": "1s"},
        service_name=TRACING_SERVICE_NAME,
    )
    return {
        "random_sampling": {"value": tracing.sample_percent},
        "provider": {"name": "envoy.tracers.opentelemetry", "typed_config": provider},
    }


def _otlp_cluster(tracing: Tracing) -> JSON:
    """The collector, over HTTP/2 like a domain, but with no active health check: a collector
    serves no grpc.health.v1."""
    cluster = _cluster(OTLP_CLUSTER, tracing.collector)
    del cluster["health_checks"]
    return cluster


def build_config(
    descriptor_set: Path,
    upstreams: Mapping[str, str],
    *,
    listen_host: str = "127.0.0.1",
    listen_port: int = 8080,
    admin_port: int = 9901,
    cors_origins: Sequence[str] = ("*",),
    rate_limit: RateLimit | tuple[int, float] = DEFAULT_RATE_LIMIT,
    stream_idle_timeout_s: float = 3600.0,
    health_requires_upstreams: bool = False,
    xff_num_trusted_hops: int = 0,
    tracing: Tracing | None = None,
    log_every_request: bool = False,
    web: WebAssets | None = None,
    ws_bridge: str | None = None,
) -> JSON:
    """The whole Envoy bootstrap for the domains in `upstreams` (domain -> "host:port").

    Domains left out of `upstreams` get no routes, and their services are not transcoded.
    `stream_idle_timeout_s` bounds silence on a stream (SSE included), not its length.
    `xff_num_trusted_hops`: how many proxies in front of Envoy append to `x-forwarded-for` and
    are trusted to (0 on one machine: the TCP peer is the client).
    `tracing`: where Envoy sends its spans (none by default: nothing traced at the edge).
    `log_every_request`: an access log line for every request, not only refusals and faults.
    `web`: the built console Envoy answers at `/` (none by default: `/` is the JSON 404).
    `ws_bridge`: the WebSocket bridge's "host:port", routed `/api/v1/ws/` (none: no sockets).
    """
    if xff_num_trusted_hops < 0:
        raise ValueError("xff_num_trusted_hops must be 0 or more")
    unknown = sorted(set(upstreams) - set(registry.names()))
    if unknown:
        raise ValueError(f"unknown domains in upstreams: {', '.join(unknown)}")
    table = route_prefixes(descriptor_set, upstreams)
    services = _transcoded_services(descriptor_set, upstreams)
    rules = [*_ws_jwt_rules(ws_bridge), *jwt_rules(descriptor_set, table)]
    jwt_filter = _jwt_filter(rules, listen_host, listen_port)
    filters = _http_filters(
        descriptor_set,
        services,
        clusters=list(table),
        rate_limit=RateLimit(*rate_limit),
        health_requires_upstreams=health_requires_upstreams,
        jwt_filter=jwt_filter,
    )
    docs = [
        *_docs_routes(descriptor_set, table),
        *_web_routes(web),
        *_ws_routes(ws_bridge, stream_idle_timeout_s),
    ]
    public = public_routes(descriptor_set, table, stream_idle_timeout_s)
    dialects = dialect_routes(descriptor_set, table)
    vhost = _virtual_host(
        table, cors_origins, stream_idle_timeout_s, docs, public, dialects=dialects
    )
    hcm = _connection_manager(
        vhost, filters, stream_idle_timeout_s, xff_num_trusted_hops, log_every_request
    )
    if tracing is not None:
        hcm["tracing"] = _tracing(tracing)
    return {
        "node": {"id": "voka-gateway", "cluster": "voka"},
        "admin": {"address": _socket("127.0.0.1", admin_port)},
        "overload_manager": _overload_manager(),
        "static_resources": {
            "listeners": [_listener(listen_host, listen_port, hcm)],
            "clusters": [
                *(_cluster(d, upstreams[d]) for d in table),
                _jwks_cluster(listen_host, listen_port),
                *([_ws_bridge_cluster(ws_bridge)] if ws_bridge is not None else []),
                *([_otlp_cluster(tracing)] if tracing is not None else []),
            ],
        },
    }


def _overload_manager() -> JSON:
    """A ceiling on downstream connections, so a flood of idle SSE clients cannot exhaust file
    descriptors (Envoy warns at start without one)."""
    monitor = {
        "name": "envoy.resource_monitors.global_downstream_max_connections",
        "typed_config": _typed(
            "envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig",
            max_active_downstream_connections=_MAX_CONNECTIONS,
        ),
    }
    return {"resource_monitors": [monitor]}


def _transcoded_services(descriptor_set: Path, upstreams: Mapping[str, str]) -> list[str]:
    return [
        name
        for name in service_names(descriptor_set)
        if name == OPS_SERVICE or domain_of_service(name) in upstreams
    ]


def write_config(
    path: Path, descriptor_set: Path, upstreams: Mapping[str, str], **options: Any
) -> JSON:
    """Build the config (see build_config for options) and write it as pretty JSON."""
    config = build_config(descriptor_set, upstreams, **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=2) + "\n")
    return config
