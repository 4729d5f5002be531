"""Builds fakenect_shim.c (the one symbol Debian's fakenect lacks) into the data directory on
first use, with the machine's gcc; later starts find it by the source's hash and skip gcc."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

SOURCE = Path(__file__).with_name("fakenect_shim.c")


def build(directory: Path) -> Path:
    """The compiled shim in `directory`, compiling it when this source has not been yet.
    Written under a temporary name and renamed, so concurrent starts never load half a file."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    target = directory / f"fakenect-shim-{digest}.so"
    if target.exists():
        return target
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f".{target.name}.{os.getpid()}"
    try:
        subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O2", "-o", str(partial), str(SOURCE)],
            check=True,
            capture_output=True,
            text=True,
        )
    except (OSError, subprocess.CalledProcessError) as exc:
        detail = getattr(exc, "stderr", "") or exc
        raise RuntimeError(f"cannot build the fakenect shim with gcc: {detail}") from exc
    partial.replace(target)
    return target
