"""What the edge reads from the contracts' descriptor set: the voka services, each method's
`google.api.http` bindings and its `(voka.api.v1.access)` rule.

Envoy's configuration (gateway.config) and the OpenAPI document (gateway.openapi) are both derived
from these, so a binding is read one way for routing, JWT rules and the API reference alike.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# googleapis-common-protos ships .pyi stubs but no py.typed marker.
from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from voka import registry
from voka.api.v1 import options_pb2

OPS_SERVICE = "voka.ops.v1.OpsService"
# The OpsService path variable that names the domain asked (`/api/v1/health/{service}`).
OPS_DOMAIN_VARIABLE = "service"
# A path template's variable: `{name}` or `{name=pattern}` (groups: field path, pattern).
TEMPLATE_VARIABLE = re.compile(r"\{([^}=]+)(?:=([^}]*))?\}")
# APIs whose clients know another error shape than Voka's `{code, message, details}`; the edge
# rewrites every error answer on their routes (gateway/edge_replies.lua). The OpenAI API is the
# `/v1/` namespace; LibreTranslate's paths are its service's.
OPENAI_DIALECT = "openai"
OPENAI_PREFIX = "/v1/"
LIBRETRANSLATE_DIALECT = "libretranslate"
LIBRETRANSLATE_SERVICE = "voka.translate.v1.LibreTranslateService"


@dataclass(frozen=True)
class Binding:
    """One `google.api.http` rule (a method's own or one of its `additional_bindings`)."""

    service: str
    method: str
    verb: str
    template: str
    body: str
    public: bool = False  # `(voka.api.v1.access) = ACCESS_PUBLIC`: no credential needed

    @property
    def domain(self) -> str | None:
        """The domain serving this binding, or None for OpsService (served by every domain)."""
        return domain_of_service(self.service)

    @property
    def error_dialect(self) -> str | None:
        """The error shape its API's clients expect, or None for Voka's own."""
        if self.template.startswith(OPENAI_PREFIX):
            return OPENAI_DIALECT
        if self.service == LIBRETRANSLATE_SERVICE:
            return LIBRETRANSLATE_DIALECT
        return None


def load_descriptor_set(descriptor_set: Path) -> descriptor_pb2.FileDescriptorSet:
    """Parse the set; importing annotations_pb2 above registers the `google.api.http` option."""
    return descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())


def domain_of_service(full_name: str) -> str | None:
    """`voka.<domain>.v1.X` -> domain; None for anything else, OpsService included."""
    parts = full_name.split(".")
    if len(parts) == 4 and parts[0] == "voka" and parts[2] == "v1" and parts[1] in registry.names():
        return parts[1]
    return None


def voka_services(
    fds: descriptor_pb2.FileDescriptorSet,
) -> Iterator[tuple[str, descriptor_pb2.ServiceDescriptorProto]]:
    """(full name, descriptor) of every service the edge serves: the domains' and OpsService."""
    for file in fds.file:
        for service in file.service:
            full_name = f"{file.package}.{service.name}"
            if full_name == OPS_SERVICE or domain_of_service(full_name):
                yield full_name, service


def service_names(descriptor_set: Path) -> list[str]:
    """Every service the edge transcodes: each domain's service(s) and OpsService."""
    return sorted(name for name, _ in voka_services(load_descriptor_set(descriptor_set)))


def _rule_bindings(
    service: str, method: str, rule: http_pb2.HttpRule, public: bool = False
) -> Iterator[Binding]:
    pattern = rule.WhichOneof("pattern")
    if pattern == "custom":
        yield Binding(service, method, rule.custom.kind, rule.custom.path, rule.body, public)
    elif pattern is not None:
        yield Binding(service, method, pattern, getattr(rule, pattern), rule.body, public)
    for extra in rule.additional_bindings:
        yield from _rule_bindings(service, method, extra, public)


def is_public(options: descriptor_pb2.MethodOptions) -> bool:
    """Whether the contract marks the method ACCESS_PUBLIC; leaving the option out means
    AUTHENTICATED (contracts.md), so only an explicit PUBLIC opens a path at the edge."""
    extension: Any = options_pb2.access
    return bool(options.Extensions[extension] == options_pb2.ACCESS_PUBLIC)


def public_grpc_paths(descriptor_set: Path) -> list[str]:
    """Native gRPC paths (`/voka.x.v1.XService/Method`) of every ACCESS_PUBLIC method."""
    return sorted(
        f"/{full_name}/{method.name}"
        for full_name, service in voka_services(load_descriptor_set(descriptor_set))
        for method in service.method
        if is_public(method.options)
    )


def _http_rule(options: descriptor_pb2.MethodOptions) -> http_pb2.HttpRule | None:
    # googleapis' stubs type extensions as plain FieldDescriptors, which protobuf's stubs reject.
    extension: Any = annotations_pb2.http
    if not options.HasExtension(extension):
        return None
    rule: http_pb2.HttpRule = options.Extensions[extension]
    return rule


def method_bindings(service: str, method: descriptor_pb2.MethodDescriptorProto) -> list[Binding]:
    """A method's HTTP bindings, its own first, then its additional bindings; none without a
    `google.api.http` option."""
    rule = _http_rule(method.options)
    if rule is None:
        return []
    return list(_rule_bindings(service, method.name, rule, is_public(method.options)))


def http_bindings(descriptor_set: Path) -> list[Binding]:
    """Every HTTP binding of every voka service method, additional bindings included."""
    return [
        binding
        for full_name, service in voka_services(load_descriptor_set(descriptor_set))
        for method in service.method
        for binding in method_bindings(full_name, method)
    ]
