"""KEDA in prod (k8s/components/keda): each dedicated worker pool is scaled on the lag of the
JetStream consumer its workers pull from, never below two pods, and KEDA may read that lag
from the NATS monitor; the Deployments leave the count to it."""

from __future__ import annotations

import itertools

from services.tasks.events import parse_worker_type, type_token
from tests.k8s.test_manifests import Doc, _selects, by_kind, one, render, worker_pools
from voka.bus import stream_name

KEDA = {"kubernetes.io/metadata.name": "keda"}


def _worker_type(pool: Doc) -> str:
    (worker,) = pool["spec"]["template"]["spec"]["containers"]
    (value,) = [v for f, v in itertools.pairwise(worker["command"]) if f == "--type"]
    return type_token(parse_worker_type(value))


def _keda_may_reach(docs: list[Doc], labels: dict[str, str], port: str) -> bool:
    return any(
        _selects(policy["spec"]["podSelector"], labels)
        and port in {p["port"] for p in rule.get("ports", [])}
        and any(
            KEDA.items() <= peer.get("namespaceSelector", {}).get("matchLabels", {}).items()
            for peer in rule.get("from", [])
        )
        for policy in by_kind(docs, "NetworkPolicy").values()
        for rule in policy["spec"].get("ingress", [])
    )


def test_every_worker_pool_scales_on_its_consumers_lag():
    docs = render("prod")
    pools = worker_pools(docs)
    scaled = by_kind(docs, "ScaledObject")
    assert set(scaled) == set(pools)
    nats = one(docs, "StatefulSet", "nats")["spec"]
    headless = one(docs, "Service", nats["serviceName"])
    monitor = {p["name"]: p["port"] for p in headless["spec"]["ports"]}["monitor"]
    for name, pool in pools.items():
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"] == {"name": name}
        assert "replicas" not in pool["spec"], "the count is KEDA's"
        assert 2 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "nats-jetstream"
        meta = trigger["metadata"]
        # The durable consumer the worker binds to (services/tasks/worker.py), in its stream.
        assert meta["stream"] == stream_name("tasks")
        assert meta["consumer"] == f"tasks-workers-{_worker_type(pool)}"
        # The headless Service, which names each server: KEDA asks the consumer's leader.
        assert meta["natsServerMonitoringEndpoint"] == (
            f"{nats['serviceName']}.voka.svc.cluster.local:{monitor}"
        )
        assert meta["account"] == "$G"  # NATS users without an account (base/nats/auth.conf)
        assert int(meta["lagThreshold"]) > 0
    labels = nats["template"]["metadata"]["labels"]
    assert _keda_may_reach(docs, labels, "monitor")
    assert not _keda_may_reach(render("base"), labels, "monitor")


def test_only_prod_needs_keda():
    for target in ("base", "dev"):
        assert by_kind(render(target), "ScaledObject") == {}
