"""voka.registry: services declare themselves; the kit keeps no list of them."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from voka import db, registry
from voka.config import Settings

WITH_DATABASE = {"auth", "translate", "speech", "assistant", "tasks", "meetings", "vision"}


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    registry.declarations.cache_clear()
    yield
    registry.declarations.cache_clear()


def test_every_service_package_declares_itself() -> None:
    declared = registry.declarations()
    assert set(declared) >= {"auth", "translate", "speech", "assistant", "tasks", "kinect",
                             "meetings", "vision"}  # fmt: skip
    assert len({d.port for d in declared.values()}) == len(declared)
    for name in WITH_DATABASE:
        migrations = declared[name].migrations
        assert migrations == Path("services", name, "migrations", "versions").resolve()
    assert declared["kinect"].migrations is None


def test_settings_and_migrations_come_from_the_declaration() -> None:
    settings = Settings(service="tasks")
    assert settings.grpc_port == registry.declaration("tasks").port
    assert settings.prometheus_port == settings.grpc_port + registry.METRICS_PORT_OFFSET
    assert settings.address_of("auth") == f"127.0.0.1:{registry.declaration('auth').port}"
    assert db.version_locations("tasks")[-1] == registry.declaration("tasks").migrations
    assert db.version_locations("a-test-of-the-kit") == [db.KIT_MIGRATIONS / "versions"]


def test_an_unknown_service_is_a_clear_error() -> None:
    with pytest.raises(LookupError, match="no service named 'nope'"):
        registry.declaration("nope")


def test_a_new_service_needs_no_kit_change(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    """A ninth service in its own package is found by scanning: settings know its port."""
    package = tmp_path / "more_services" / "gallery"
    (package / "migrations" / "versions").mkdir(parents=True)
    (tmp_path / "more_services" / "__init__.py").write_text("")
    (package / "__init__.py").write_text(
        textwrap.dedent("""
        from voka.registry import declare
        DECLARATION = declare("gallery", 50059, __file__)
    """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(registry.SERVICE_PACKAGES_VARIABLE, "services,more_services")
    try:
        assert registry.names()[-1] == "gallery"
        assert Settings(service="gallery").grpc_port == 50059
        assert registry.declaration("gallery").migrations == package / "migrations" / "versions"
    finally:
        for module in ("more_services", "more_services.gallery"):
            sys.modules.pop(module, None)


def test_two_services_on_one_port_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_registry: None
) -> None:
    (tmp_path / "clashing").mkdir()
    (tmp_path / "clashing" / "__init__.py").write_text("")
    (tmp_path / "clashing" / "echo").mkdir()
    (tmp_path / "clashing" / "echo" / "__init__.py").write_text(
        "from voka.registry import declare\nDECLARATION = declare('echo', 50051, __file__)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(registry.SERVICE_PACKAGES_VARIABLE, "services,clashing")
    try:
        with pytest.raises(ValueError, match="same port: 50051"):
            registry.declarations()
    finally:
        for module in ("clashing", "clashing.echo"):
            sys.modules.pop(module, None)
