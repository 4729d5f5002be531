"""Envoy's configuration for Kubernetes, kept beside the kustomization that ships it.

    python -m tools.k8s_gateway            # rewrite k8s/base/gateway/{envoy.json,voka.binpb}
    python -m tools.k8s_gateway --check    # list drift and exit 1 (what the tests run)

kustomize's configMapGenerator reads only files inside the kustomization's directory, so the
Envoy config and the descriptor set it names are written there. The config comes from the same
generator `make up` uses (`gateway.config.build_config`), with Kubernetes' values: listen on
0.0.0.0:8080, admin on 127.0.0.1:9901, one upstream per domain at its Service's DNS name, and the
transcoder reading the descriptor set where the Envoy Deployment mounts it. Run it after
`make gen` whenever a contract changes; the k8s tests fail until you do.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path, PurePosixPath
from typing import Any

from gateway.config import JSON, OTLP_GRPC_PORT, Tracing, build_config
from voka import registry

ROOT = Path(__file__).resolve().parent.parent
DESCRIPTOR_SET = ROOT / "gen" / "voka.binpb"
GATEWAY_DIR = ROOT / "k8s" / "base" / "gateway"
CONFIG_FILE = "envoy.json"
DESCRIPTOR_FILE = "voka.binpb"

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
# Envoy's spans go to the OpenTelemetry Collector's Service (base/otel-collector/), as the
# services' do (OTEL_EXPORTER_OTLP_ENDPOINT in base/config/voka.env); every request is traced.
COLLECTOR_SERVICE = "otel-collector"
TRACING = Tracing(f"{COLLECTOR_SERVICE}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}:{OTLP_GRPC_PORT}")


def upstreams() -> dict[str, str]:
    """Each domain at its (headless) Service's cluster DNS name and the domain's gRPC port."""
    return {
        domain: f"{domain}.{NAMESPACE}.svc.{CLUSTER_DOMAIN}:{registry.declaration(domain).port}"
        for domain in registry.names()
    }


def build(descriptor_set: Path = DESCRIPTOR_SET) -> JSON:
    """The Envoy bootstrap for the cluster, reading the descriptor set from the mounted file."""
    config = build_config(
        descriptor_set,
        upstreams(),
        listen_host=LISTEN_HOST,
        listen_port=LISTEN_PORT,
        admin_port=ADMIN_PORT,
        xff_num_trusted_hops=XFF_NUM_TRUSTED_HOPS,
        tracing=TRACING,
    )
    # build_config names the local file it read; in the pod the file is the mounted copy.
    replaced = _replace_key(config, "proto_descriptor", str(MOUNT_DIR / DESCRIPTOR_FILE))
    if replaced != 1:
        raise RuntimeError(f"expected one transcoder proto_descriptor, found {replaced}")
    return config


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


def render(descriptor_set: Path = DESCRIPTOR_SET) -> dict[str, bytes]:
    """File name -> exact content of every file this tool keeps in the gateway directory."""
    return {
        # The same serialisation as gateway.config.write_config.
        CONFIG_FILE: (json.dumps(build(descriptor_set), indent=2) + "\n").encode(),
        DESCRIPTOR_FILE: descriptor_set.read_bytes(),
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
    """What differs between the files on disk and what `write` would produce now."""
    drift = []
    for name, content in render(descriptor_set).items():
        path = out_dir / name
        if not path.is_file():
            drift.append(f"{name} (missing)")
        elif path.read_bytes() != content:
            drift.append(f"{name} (changed)")
    return drift


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
