"""The house rules, checked on the source: every service has the same skeleton, and the
conventions services share live in the kit alone (docs/architecture.md, "The house")."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from voka import registry

ROOT = Path(__file__).resolve().parents[2]
SKELETON = ("__init__.py", "__main__.py", "service.py", "settings.py", "convert.py",
            "validation.py", "rpcs/__init__.py")  # fmt: skip
SERVICES = registry.names()


def sources(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.py") if "migrations" not in p.parts)


def package(service: str) -> Path:
    return ROOT / "services" / service


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_the_skeleton(service: str) -> None:
    missing = [part for part in SKELETON if not (package(service) / part).is_file()]
    assert not missing, f"{service} lacks {missing}"
    servicers = [
        node.name
        for node in ast.parse((package(service) / "rpcs" / "__init__.py").read_text()).body
        if isinstance(node, ast.ClassDef) and node.name.endswith("Servicer")
    ]
    assert servicers, f"services/{service}/rpcs/__init__.py assembles no *Servicer"
    strays = [p.name for p in package(service).glob("*.py")
              if p.name == "servicer.py" or p.name.startswith("rpc_")]  # fmt: skip
    assert not strays, f"{service}: handlers outside rpcs/: {strays}"


@pytest.mark.parametrize("service", SERVICES)
def test_no_near_synonym_modules(service: str) -> None:
    """`chat.py` beside `chats.py`, `worker.py` beside `workers.py`: two names, one meaning."""
    for folder in [package(service), *[p for p in package(service).rglob("*") if p.is_dir()]]:
        stems = {p.stem for p in folder.glob("*.py")}
        twins = sorted(s for s in stems if s + "s" in stems)
        assert not twins, f"{folder.relative_to(ROOT)}: {twins} beside their plurals"


ALIAS = re.compile(
    r"^[A-Z]{1,2} = \w+_pb2(_grpc)?$|\bimport \w+_pb2(_grpc)? as [A-Z]{1,2}$", re.MULTILINE
)


@pytest.mark.parametrize("folder", ["voka", "services", "gateway", "tools", "tests", "bench"])
def test_generated_modules_go_by_their_names(folder: str) -> None:
    aliased = [f"{p.relative_to(ROOT)}: {m.group(0)}"
               for p in sources(ROOT / folder) for m in ALIAS.finditer(p.read_text())]  # fmt: skip
    assert not aliased


def test_one_spelling_of_catalogue() -> None:
    named = [str(p.relative_to(ROOT)) for p in sources(ROOT / "services") if "catalog" in p.stem
             and "catalogue" not in p.stem]  # fmt: skip
    assert not named


# Each convention, and the code that would betray a private copy of it in a service.
COPIES = {
    "Bus.listen (plain NATS subscriptions)": re.compile(r"\bnc\.subscribe\("),
    "voka.tenancy (whose records a caller sees)": re.compile(
        r"is_admin or [\w.]+ == [\w.]*subject|def _?(owner_filter|scope|visible|check_visible)\("
    ),
    "voka.pagination (page tokens)": re.compile(
        r"urlsafe_b64(en|de)code\(.*(page|token|offset)|def page_offset\(|page\.next_token"
    ),
    "voka.watch (the watch loop)": re.compile(r"asyncio\.timeout\(POLL"),
    "voka.peer_calls (which peer errors are final)": re.compile(
        r"(RETRYABLE|REFUSALS)\s*=\s*frozenset"
    ),
}


@pytest.mark.parametrize("convention", COPIES)
def test_no_service_keeps_its_own_copy_of_a_convention(convention: str) -> None:
    pattern = COPIES[convention]
    copies = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in sources(ROOT / "services")
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert not copies, f"{convention} is re-implemented at {copies}"


def test_the_kit_names_no_service() -> None:
    """Adding a service touches no kit file: no kit module lists the services."""
    names = "|".join(SERVICES)
    listing = re.compile(rf"""["']({names})["']\s*:\s*\d{{5}}|services/({names})/""")
    found = [str(p.relative_to(ROOT)) for p in sources(ROOT / "voka")
             if listing.search(p.read_text())]  # fmt: skip
    assert not found
