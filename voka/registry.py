"""Which services the mesh has, as each declares itself in its own package.

A service package (`services/<name>/__init__.py`) holds a `DECLARATION`: its name, its default
gRPC port on one machine, when it has a database its migrations beside it, and the events of
other domains it consumes (its NATS permissions follow from them: tools/nats_auth.py). The kit
reads the declarations here and nowhere else, so adding a service touches no kit file: the
gateway, the local mesh, the settings, the migrations and the NATS users all find it by
scanning the service packages.

Scanning is a plain `pkgutil` walk of one package (`VOKA_SERVICE_PACKAGES`, default
`services`) rather than packaging entry points: the mesh runs from a checkout, not an installed
distribution, and a walk needs no install step to see a new service.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from dataclasses import dataclass
from functools import cache
from pathlib import Path

METRICS_PORT_OFFSET = 1000  # metrics listen on the gRPC port + 1000 on one machine
SERVICE_PACKAGES_VARIABLE = "VOKA_SERVICE_PACKAGES"


@dataclass(frozen=True)
class Declaration:
    """A service as the rest of the mesh needs to know it."""

    name: str
    port: int  # default gRPC port on one machine (`make up`)
    migrations: Path | None = None  # Alembic versions of its own tables, when it has any
    # Subjects (NATS patterns) of other domains' events it consumes, beyond its own domain and
    # the auth events the kit follows for every service. None: not declared yet, and then it
    # may read every domain's events (what every service could before NATS had users).
    consumes: tuple[str, ...] | None = None
    # Domains whose object buckets (voka/objects.py) it may read, by direct get only.
    reads_objects: tuple[str, ...] = ()

    @property
    def metrics_port(self) -> int:
        return self.port + METRICS_PORT_OFFSET


def declare(
    name: str,
    port: int,
    package_file: str,
    *,
    consumes: tuple[str, ...] | None = None,
    reads_objects: tuple[str, ...] = (),
) -> Declaration:
    """The declaration of the service whose `__init__.py` is `package_file`; its migrations
    are the `migrations/versions` folder beside it when there is one."""
    versions = Path(package_file).resolve().parent / "migrations" / "versions"
    return Declaration(name, port, versions if versions.is_dir() else None, consumes, reads_objects)


@cache
def declarations() -> dict[str, Declaration]:
    """Every declared service by name, in port order (the order `make up` starts them)."""
    found: list[Declaration] = []
    for root_name in os.environ.get(SERVICE_PACKAGES_VARIABLE, "services").split(","):
        root = importlib.import_module(root_name.strip())
        for module in pkgutil.iter_modules(root.__path__, prefix=f"{root.__name__}."):
            if not module.ispkg:
                continue
            declared = getattr(importlib.import_module(module.name), "DECLARATION", None)
            if isinstance(declared, Declaration):
                found.append(declared)
    _refuse_clashes(found)
    return {d.name: d for d in sorted(found, key=lambda d: d.port)}


def names() -> tuple[str, ...]:
    """The declared services' names, in port order."""
    return tuple(declarations())


def declaration(name: str) -> Declaration:
    """One service's declaration; an unknown name is a configuration error."""
    try:
        return declarations()[name]
    except KeyError:
        known = ", ".join(declarations())
        raise LookupError(f"no service named {name!r} is declared (known: {known})") from None


def _refuse_clashes(found: list[Declaration]) -> None:
    """Two services with one name or one port would shadow each other silently."""
    for attribute in ("name", "port"):
        values = [getattr(d, attribute) for d in found]
        clashes = sorted({str(v) for v in values if values.count(v) > 1})
        if clashes:
            raise ValueError(f"services declare the same {attribute}: {', '.join(clashes)}")
