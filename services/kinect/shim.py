"""The fakenect shim (fakenect_shim.c, the one symbol Debian's fakenect lacks), compiled with gcc.

The kinect image compiles it in its build stage, beside this source (`python
services/kinect/shim.py DIR`, Dockerfile), so a pod needs no gcc and never writes code; a checkout
compiles it into the data directory on first use. Either file is named by the source's hash, so a
changed source never loads a stale build, and later starts skip gcc."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).with_name("fakenect_shim.c")


def library_name() -> str:
    """The compiled shim's file name, which changes with the source."""
    digest = hashlib.sha256(SOURCE.read_bytes()).hexdigest()[:12]
    return f"fakenect-shim-{digest}.so"


def build(directory: Path) -> Path:
    """The compiled shim: the image's beside the source, else the one in `directory`, compiling
    it there when this source has not been yet."""
    prebuilt = SOURCE.with_name(library_name())
    return prebuilt if prebuilt.exists() else compile_into(directory)


def compile_into(directory: Path) -> Path:
    """The shim compiled into `directory` (nothing to do when it already is). Written under a
    temporary name and renamed, so concurrent starts never load half a file."""
    target = directory / library_name()
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


if __name__ == "__main__":
    # Run as a script, not `-m`: the image's build stage has this file and the C source only.
    print(compile_into(Path(sys.argv[1])))
