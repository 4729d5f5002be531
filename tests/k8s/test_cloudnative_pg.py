"""PostgreSQL in prod (k8s/components/cloudnative-pg): a database and a login role for every
service with tables, reached through the PgBouncer Pooler, and a connection budget that holds at
every step: process pool x replicas <= the service's budget (the kit refuses to start
otherwise) <= PgBouncer's pool per service; pooler instances x that pool <= the role's limit;
the roles' limits, the superuser's reserve and the operator's room <= max_connections."""

from __future__ import annotations

import os

import pytest

from tests.k8s.test_manifests import Doc, by_kind, container, env_of, one, render, shared_env
from voka import registry
from voka.config import Settings

# Connections PostgreSQL must keep beyond the roles' limits: the operator's own (status,
# backups) and the standbys' replication.
OPERATOR_ROOM = 10


def _with_tables() -> list[str]:
    return [d for d in registry.names() if registry.declaration(d).migrations is not None]


def _settings(docs: list[Doc], domain: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in [k for k in os.environ if k.startswith("VOKA_")]:
        monkeypatch.delenv(key)
    plain = {n: e["value"] for n, e in env_of(container(docs, domain)).items() if "value" in e}
    for key, value in {**shared_env(docs), **plain}.items():
        monkeypatch.setenv(key, value)
    return Settings()


def test_every_service_with_tables_has_its_database_and_role():
    docs = render("prod")
    (cluster,) = by_kind(docs, "Cluster").values()
    roles = {r["name"]: r for r in cluster["spec"]["managed"]["roles"]}
    databases = {d["spec"]["name"]: d["spec"] for d in by_kind(docs, "Database").values()}
    assert set(databases) == {f"voka_{d}" for d in _with_tables()}
    for name, database in databases.items():
        assert database["cluster"] == {"name": cluster["metadata"]["name"]}
        role = roles[database["owner"]]
        assert role["login"] is True
        assert role["passwordSecret"] == {"name": name.replace("voka_", "voka-") + "-pg"}
    (pooler,) = by_kind(docs, "Pooler").values()
    assert pooler["spec"]["cluster"] == {"name": cluster["metadata"]["name"]}
    assert pooler["spec"]["type"] == "rw"
    # Migrations hold a session advisory lock; psycopg prepares statements per connection.
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "session"
    assert by_kind(render("dev"), "Cluster") == by_kind(render("base"), "Cluster") == {}


def test_the_connection_budget_holds_at_every_step(monkeypatch: pytest.MonkeyPatch):
    docs = render("prod")
    (cluster,) = by_kind(docs, "Cluster").values()
    (pooler,) = by_kind(docs, "Pooler").values()
    pool_per_service = int(pooler["spec"]["pgbouncer"]["parameters"]["default_pool_size"])
    autoscalers = by_kind(docs, "HorizontalPodAutoscaler")
    limits = {r["name"]: r["connectionLimit"] for r in cluster["spec"]["managed"]["roles"]}
    for domain in _with_tables():
        settings = _settings(docs, domain, monkeypatch)  # the kit's own check runs here
        assert settings.max_replicas == autoscalers[domain]["spec"]["maxReplicas"], domain
        peak = (settings.database_pool_size + settings.database_max_overflow) * (
            settings.max_replicas
        )
        assert 0 < peak <= settings.database_connection_budget <= pool_per_service, domain
        assert pooler["spec"]["instances"] * pool_per_service <= limits[f"voka_{domain}"]
    parameters = cluster["spec"]["postgresql"]["parameters"]
    reserved = int(parameters["superuser_reserved_connections"]) + OPERATOR_ROOM
    assert sum(limits.values()) + reserved <= int(parameters["max_connections"])


def test_a_process_over_its_budget_refuses_to_start():
    with pytest.raises(ValueError, match="over the budget of 40"):
        Settings(
            database_pool_size=3,
            database_max_overflow=1,
            max_replicas=12,
            database_connection_budget=40,
        )
    fits = Settings(database_pool_size=3, max_replicas=12, database_max_overflow=0,
                    database_connection_budget=40)  # fmt: skip
    assert fits.pool_options == {"pool_size": 3, "max_overflow": 0}


def test_services_reach_the_pooler_and_only_the_pooler_reaches_postgres():
    docs = render("prod")
    policies = by_kind(docs, "NetworkPolicy")
    pooler = policies["postgres-pooler-ingress"]["spec"]
    (rule,) = pooler["ingress"]
    (peer,) = rule["from"]
    labels = one(docs, "Deployment", "auth")["spec"]["template"]["metadata"]["labels"]
    assert peer["podSelector"]["matchLabels"].items() <= labels.items()
    postgres = policies["postgres-ingress"]["spec"]
    sources = [peer for rule in postgres["ingress"] for peer in rule["from"]]
    assert not any(
        p.get("podSelector", {}).get("matchLabels", {}).items() <= labels.items()
        for p in sources
        if "podSelector" in p
    )
