"""Envoy's configuration for Kubernetes, kept beside the kustomization that ships it.

    python -m tools.k8s_gateway            # rewrite k8s/base/gateway/{envoy.json,voka.binpb,
                                           #   openapi.json.gz,web.tar.gz}
    python -m tools.k8s_gateway --check    # list drift and exit 1 (what the tests run)

kustomize's configMapGenerator reads only files inside the kustomization's directory, so the
Envoy config and the descriptor set it names are written there. The config comes from the same
generator `make up` uses (`gateway.config.build_config`), with Kubernetes' values: listen on
0.0.0.0:8080, admin on 127.0.0.1:9901, one upstream per domain at its Service's DNS name, and the
transcoder reading the descriptor set where the Envoy Deployment mounts it. Run it after
`make gen` whenever a contract changes; the k8s tests fail until you do.

A ConfigMap holds at most 1 MiB, and these stay under half of it so the contracts can grow:
the descriptor set loses its source info (comments, which only the OpenAPI document uses), and
the OpenAPI document (~0.5 MiB, inlined where `make up` runs Envoy) ships gzipped beside
envoy.json; the pod's init container unpacks it into an emptyDir, and Envoy answers
`GET /api/v1/openapi.json` from that file. The web console's build (web/dist, which
`make install` builds) ships the same way, as a tar.gz in a ConfigMap of its own (voka-web),
unpacked by the same init container; Envoy answers `/` and the assets from those files
(gateway/web.py), so a change to the console's sources or to the contracts (which the console's
generated client embeds) needs `make gen`, which rebuilds it before writing these files.
Envoy's Prometheus statistics, on its loopback-only admin port, are proxied read-only on
METRICS_PORT for Prometheus to scrape.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path, PurePosixPath
from typing import Any

from google.protobuf import descriptor_pb2

from gateway.config import JSON, OPENAPI_PATH, OTLP_GRPC_PORT, Tracing, build_config
from gateway.web import WEB_DIST, WebAssets, asset_files
from gateway.ws_bridge.settings import DEFAULT_PORT as WS_BRIDGE_PORT
from voka import registry

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTOR_SET = ROOT / "gen" / "voka.binpb"
GATEWAY_DIR = ROOT / "k8s" / "base" / "gateway"
CONFIG_FILE = "envoy.json"
DESCRIPTOR_FILE = "voka.binpb"
OPENAPI_FILE = "openapi.json"
OPENAPI_ARCHIVE = "openapi.json.gz"
WEB_ARCHIVE = "web.tar.gz"

# Must agree with k8s/base: the kustomization's namespace, each domain's Service (named after
# the domain, listening on the domain's default port) and the Envoy Deployment's volume mount.
NAMESPACE = "voka"
CLUSTER_DOMAIN = "cluster.local"
LISTEN_HOST = "0.0.0.0"  # noqa: S104 (a pod's listener must take traffic from the Service)
LISTEN_PORT = 8080
ADMIN_PORT = 9901  # bound to 127.0.0.1 by build_config: reachable by kubectl port-forward only
# Proxies in front of Envoy that append the client's address to x-forwarded-for. The base
# Service is a ClusterIP (clients reach Envoy through kube-proxy, which keeps their address);
# behind an Ingress or an L7 load balancer set 1 (one per proxy) and regenerate, or every client
# shares the proxy's rate-limit bucket.
XFF_NUM_TRUSTED_HOPS = 0
MOUNT_DIR = PurePosixPath("/etc/envoy")
# The emptyDir the init container unpacks OPENAPI_ARCHIVE into (base/gateway/envoy.yaml).
DOCS_DIR = PurePosixPath("/etc/envoy-docs")
# Where the init container unpacks WEB_ARCHIVE (the console's files Envoy answers with).
WEB_DIR = DOCS_DIR / "web"
# Envoy's statistics for Prometheus: GET METRICS_PATH on METRICS_PORT (all addresses) is passed
# to the admin interface, and nothing else is (the admin interface can also stop Envoy).
METRICS_PORT = 9902
METRICS_PATH = "/stats/prometheus"
ADMIN_CLUSTER = "envoy_admin"
# Envoy's spans go to the OpenTelemetry Collector's Service (base/otel-collector/), as the
# services' do (OTEL_EXPORTER_OTLP_ENDPOINT in base/config/voka.env); every request is traced.
COLLECTOR_SERVICE = "otel-collector"
_TYPE = "type.googleapis.com/"
_HCM = "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_ROUTER = "envoy.extensions.filters.http.router.v3.Router"
WS_BRIDGE_SERVICE = "ws-bridge"
TRACING = Tracing(f"{COLLECTOR_SERVICE}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}:{OTLP_GRPC_PORT}")


def ws_bridge() -> str:
    """The WebSocket bridge at its (headless) Service's name (base/services/ws-bridge.yaml)."""
    return f"{WS_BRIDGE_SERVICE}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}:{WS_BRIDGE_PORT}"


def upstreams() -> dict[str, str]:
    """Each domain at its (headless) Service's cluster DNS name and the domain's gRPC port."""
    return {
        domain: f"{domain}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}:{registry.declaration(domain).port}"
        for domain in registry.names()
    }


def build(descriptor_set: Path = DESCRIPTOR_SET, web_dist: Path = WEB_DIST) -> tuple[JSON, str]:
    """The Envoy bootstrap for the cluster, reading the descriptor set from the mounted file and
    the OpenAPI document and the console from the unpacked ones; and that document, as `make up`
    inlines it."""
    config = build_config(
        descriptor_set,
        upstreams(),
        listen_host=LISTEN_HOST,
        listen_port=LISTEN_PORT,
        admin_port=ADMIN_PORT,
        xff_num_trusted_hops=XFF_NUM_TRUSTED_HOPS,
        tracing=TRACING,
        web=WebAssets(web_dist, mount=WEB_DIR),
        ws_bridge=ws_bridge(),
    )
    # build_config names the local file it read; in the pod the file is the mounted copy.
    replaced = _replace_key(config, "proto_descriptor", str(MOUNT_DIR / DESCRIPTOR_FILE))
    if replaced != 1:
        raise RuntimeError(f"expected one transcoder proto_descriptor, found {replaced}")
    document = _serve_openapi_from_file(config)
    static = config["static_resources"]
    static["listeners"].append(_metrics_listener())
    static["clusters"].append(_admin_cluster())
    return config, document


def _serve_openapi_from_file(config: JSON) -> str:
    """Point the OpenAPI route at the unpacked file; answers the document it inlined."""
    (listener,) = config["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    routes = [
        route
        for host in hcm["route_config"]["virtual_hosts"]
        for route in host["routes"]
        if route["match"].get("path") == OPENAPI_PATH and "direct_response" in route
    ]
    if len(routes) != 1:
        raise RuntimeError(f"expected one OpenAPI route, found {len(routes)}")
    body = routes[0]["direct_response"]["body"]
    document = str(body.pop("inline_string"))
    body["filename"] = str(DOCS_DIR / OPENAPI_FILE)
    return document


def _metrics_listener() -> JSON:
    """GET METRICS_PATH, passed to the admin interface; any other request finds no route."""
    route = {
        "match": {
            "path": METRICS_PATH,
            "headers": [{"name": ":method", "string_match": {"exact": "GET"}}],
        },
        "route": {"cluster": ADMIN_CLUSTER},
    }
    hcm = {
        "@type": _TYPE + _HCM,
        "stat_prefix": "voka_metrics",
        "route_config": {
            "name": "metrics",
            "virtual_hosts": [{"name": "metrics", "domains": ["*"], "routes": [route]}],
        },
        "http_filters": [
            {"name": "envoy.filters.http.router", "typed_config": {"@type": _TYPE + _ROUTER}}
        ],
    }
    manager = {"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}
    return {
        "name": "voka_metrics",
        "address": {"socket_address": {"address": LISTEN_HOST, "port_value": METRICS_PORT}},
        "filter_chains": [{"filters": [manager]}],
    }


def _admin_cluster() -> JSON:
    endpoint = {"address": {"socket_address": {"address": "127.0.0.1", "port_value": ADMIN_PORT}}}
    return {
        "name": ADMIN_CLUSTER,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": ADMIN_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}],
        },
    }


def stripped_descriptor_set(descriptor_set: Path = DESCRIPTOR_SET) -> bytes:
    """The descriptor set without source info: the transcoder needs no comments."""
    files = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    for file in files.file:
        file.ClearField("source_code_info")
    return files.SerializeToString(deterministic=True)


def _replace_key(node: Any, key: str, value: str) -> int:
    """Set `key` to `value` wherever it occurs in a JSON tree; answers how many were set."""
    count = 0
    if isinstance(node, dict):
        for name, child in node.items():
            if name == key:
                node[name] = value
                count += 1
            else:
                count += _replace_key(child, key, value)
    elif isinstance(node, list):
        for child in node:
            count += _replace_key(child, key, value)
    return count


def web_archive(web_dist: Path = WEB_DIST) -> bytes:
    """The console's files as a tar.gz that packs the same build into the same bytes: sorted,
    no owner, no times, no modes but 0644, no gzip header name or time."""
    packed = io.BytesIO()
    with tarfile.open(fileobj=packed, mode="w", format=tarfile.USTAR_FORMAT) as archive:
        for relative in asset_files(web_dist):
            content = (web_dist / relative).read_bytes()
            member = tarfile.TarInfo(str(relative))
            member.size, member.mode, member.mtime = len(content), 0o644, 0
            archive.addfile(member, io.BytesIO(content))
    return gzip.compress(packed.getvalue(), compresslevel=9, mtime=0)


def render(descriptor_set: Path = DESCRIPTOR_SET, web_dist: Path = WEB_DIST) -> dict[str, bytes]:
    """File name -> exact content of every file this tool keeps in the gateway directory."""
    config, document = build(descriptor_set, web_dist)
    return {
        # The same serialisation as gateway.config.write_config.
        CONFIG_FILE: (json.dumps(config, indent=2) + "\n").encode(),
        DESCRIPTOR_FILE: stripped_descriptor_set(descriptor_set),
        # No name or time in the header: the same document gives the same bytes.
        OPENAPI_ARCHIVE: gzip.compress(document.encode(), compresslevel=9, mtime=0),
        WEB_ARCHIVE: web_archive(web_dist),
    }


def write(out_dir: Path = GATEWAY_DIR, descriptor_set: Path = DESCRIPTOR_SET) -> list[Path]:
    """Write the files; answers the paths written."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, content in render(descriptor_set).items():
        path = out_dir / name
        path.write_bytes(content)
        written.append(path)
    return written


def check(out_dir: Path = GATEWAY_DIR, descriptor_set: Path = DESCRIPTOR_SET) -> list[str]:
    """What differs between the files on disk and what `write` would produce now (an archive
    by what it holds: another zlib may pack the same document differently)."""
    drift = []
    for name, content in render(descriptor_set).items():
        path = out_dir / name
        if not path.is_file():
            drift.append(f"{name} (missing)")
        elif _unpacked(name, path.read_bytes()) != _unpacked(name, content):
            drift.append(f"{name} (changed)")
    return drift


def _unpacked(name: str, content: bytes) -> bytes:
    if not name.endswith(".gz"):
        return content
    try:
        return gzip.decompress(content)
    except (OSError, EOFError):  # not gzip, or cut short: differs from any good archive
        return content


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.k8s_gateway",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--check", action="store_true", help="fail if the files are stale")
    parser.add_argument("--descriptor", type=Path, default=DESCRIPTOR_SET)
    parser.add_argument("--out", type=Path, default=GATEWAY_DIR)
    args = parser.parse_args(argv)
    if not args.descriptor.is_file():
        print(f"no descriptor set at {args.descriptor}: run `make gen`", file=sys.stderr)
        return 2
    if args.check:
        drift = check(args.out, args.descriptor)
        if drift:
            print(
                f"{args.out} is out of date — run `python -m tools.k8s_gateway` and commit:",
                file=sys.stderr,
            )
            for item in drift:
                print(f"  {item}", file=sys.stderr)
            return 1
        print(f"{args.out} matches {args.descriptor}")
        return 0
    for path in write(args.out, args.descriptor):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
