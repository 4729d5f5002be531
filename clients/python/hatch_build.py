"""Puts the repository's generated stubs (gen/voka: the `*_pb2.py`, `*_pb2_grpc.py` and their
`.pyi`) into the wheel as portions of the `voka` namespace package, so an installed client needs
no PYTHONPATH. They are taken from `../../gen/voka` in a checkout of the repository, or from
`gen/voka` in an unpacked sdist, which carries its own copy.

No `voka/__init__.py` is ever written: `voka` stays a namespace package, which the repository's
kit (`voka/` at its root, also without `__init__.py`) and gen/voka already are, so the three
coexist on one sys.path (README.md, "Layout")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

STUBS_IN_CHECKOUT = Path("..", "..", "gen", "voka")
STUBS_IN_SDIST = Path("gen", "voka")
STUB_SUFFIXES = frozenset({".py", ".pyi"})


class GeneratedStubs(BuildHookInterface):  # type: ignore[type-arg]  # generic in its config
    """Adds the stubs (and a PEP 561 marker for them) to the wheel and the sdist."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        root = Path(self.root)
        checkout = (root / STUBS_IN_CHECKOUT).resolve()
        stubs = checkout if checkout.is_dir() else root / STUBS_IN_SDIST
        if not (stubs / "api").is_dir():
            raise FileNotFoundError(
                f"generated stubs not found at {checkout} or {root / STUBS_IN_SDIST}: "
                "build from a checkout of the repository (run `make gen` there first)"
            )
        if self.target_name == "sdist":
            if stubs == checkout:  # an sdist made from an sdist already carries them
                self._include(stubs, STUBS_IN_SDIST, build_data)
            return
        self._include(stubs, Path("voka"), build_data)
        # mypy reads an installed namespace package as typed when a py.typed marker sits in
        # it; the stubs come with their .pyi files. (The marker has a file of its own here: a
        # force-included source is left out of its normal place, so voka_client's cannot be it.)
        build_data["force_include"][str(root / "py.typed")] = "voka/py.typed"

    @staticmethod
    def _include(stubs: Path, destination: Path, build_data: dict[str, Any]) -> None:
        """File by file, so nothing but the stubs goes in (no __pycache__ of a checkout)."""
        for module in sorted(stubs.rglob("*")):
            if module.suffix in STUB_SUFFIXES:
                target = destination / module.relative_to(stubs)
                build_data["force_include"][str(module)] = target.as_posix()
