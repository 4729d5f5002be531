"""Build the Voka images with podman: `make image` (README, "Images").

One image per target of the Dockerfile: `voka-<domain>` for every declared service and `voka` (the
kit and the code, for jobs), tagged `--tag` (default `dev`, what k8s/overlays/dev runs).

1. A wheelhouse of every runtime requirement (`var/image/wheelhouse`), downloaded with this
   machine's own pip settings. Inside the build pip sees none of them, and they are where the
   CPU-only torch wheel comes from (`torch==...+cpu`: PyTorch's CPU index, or a local folder).
2. The base: `--base` (python:3.11-slim-bookworm) when it is here or can be pulled, else a Debian
   bookworm made with debootstrap and imported once (`localhost/debian:bookworm-minbase`); the
   Dockerfile installs Debian's Python 3.11 into a base that has none.
3. `podman build --target` for each image; the layers they share are built once. pip trusts the
   machine's CA bundle, passed as a build secret so that no image keeps it.
4. Each image's size.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from voka import registry

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "var" / "image"
DEFAULT_BASE = "python:3.11-slim-bookworm"
DEBOOTSTRAP_BASE = "localhost/debian:bookworm-minbase"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")  # Debian's, what pip trusts here
KIT_IMAGE = "voka"
DEV_REQUIREMENTS = "requirements-dev.txt"
# podman's own defaults for these two may exceed what the machine allows a process to raise.
ULIMIT_CAPS = {"nofile": (resource.RLIMIT_NOFILE, 1048576), "nproc": (resource.RLIMIT_NPROC, 32768)}


def images() -> dict[str, str]:
    """Dockerfile target -> image name: each declared service, then the kit image."""
    services = {domain: f"{KIT_IMAGE}-{domain}" for domain in registry.names()}
    return {**services, KIT_IMAGE: KIT_IMAGE}


def runtime_requirements() -> list[Path]:
    """The requirements files the images install: every requirements*.txt but development's."""
    return sorted(p for p in ROOT.glob("requirements*.txt") if p.name != DEV_REQUIREMENTS)


def wheelhouse() -> Path:
    """Every runtime requirement as a wheel or source archive, with this machine's pip settings
    (pip skips what is already there)."""
    directory = WORK / "wheelhouse"
    files = [arg for path in runtime_requirements() for arg in ("-r", str(path))]
    run([sys.executable, "-m", "pip", "download", "--quiet", "--dest", str(directory), *files])
    return directory


def base_image(wanted: str) -> str:
    """`wanted` when podman has it or can pull it; else, for the default, the debootstrap base."""
    if podman_quiet("image", "exists", wanted) or podman_quiet("pull", "--quiet", wanted):
        return wanted
    if wanted != DEFAULT_BASE:
        raise SystemExit(f"image: cannot pull the base image {wanted}")
    if not podman_quiet("image", "exists", DEBOOTSTRAP_BASE):
        print(f"image: {wanted} cannot be pulled; making {DEBOOTSTRAP_BASE} with debootstrap")
        import_debootstrap_base()
    return DEBOOTSTRAP_BASE


def import_debootstrap_base() -> None:
    """A minimal Debian bookworm (no Python), imported into podman as DEBOOTSTRAP_BASE."""
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as rootfs:
        run(["debootstrap", "--variant=minbase", "bookworm", rootfs, DEBIAN_MIRROR])
        # What apt downloaded and cached: every stage updates the lists it needs.
        run(["chroot", rootfs, "apt-get", "clean"])
        for cached in [
            *Path(rootfs, "var/lib/apt/lists").glob("*_*"),
            *Path(rootfs, "var/cache/apt").glob("*.bin"),
        ]:
            cached.unlink()
        tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
        run(["podman", "import", "-", DEBOOTSTRAP_BASE], stdin=tar.stdout)
        if tar.wait() != 0:
            raise SystemExit("image: tar of the debootstrap root failed")


def ulimits() -> list[str]:
    """`--ulimit` options within this machine's hard limits."""
    options = []
    for name, (which, cap) in ULIMIT_CAPS.items():
        hard = resource.getrlimit(which)[1]
        limit = cap if hard == resource.RLIM_INFINITY else min(hard, cap)
        options += ["--ulimit", f"{name}={limit}:{limit}"]
    return options


def build(target: str, image: str, base: str, wheels: Path) -> None:
    run([
        "podman", "build", "--target", target, "--tag", image,
        "--build-arg", f"BASE_IMAGE={base}",
        # The wheelhouse holds the CPU torch; PyTorch's index may not be reachable from here.
        "--build-arg", "PIP_EXTRA_INDEX_URL=",
        "--build-context", f"wheelhouse={wheels}",
        "--secret", f"id=ca,src={CA_BUNDLE}",
        *ulimits(), str(ROOT),
    ])  # fmt: skip


def size_mb(image: str) -> float:
    size = subprocess.run(
        ["podman", "image", "inspect", "--format", "{{.Size}}", image],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    return int(size) / 1e6


def podman_quiet(*args: str) -> bool:
    """Whether a podman command succeeds; its output is not wanted."""
    return subprocess.run(["podman", *args], check=False, capture_output=True).returncode == 0


def run(command: list[str], stdin: IO[bytes] | None = None) -> None:
    """A step of the build; its failure ends the build with the step named."""
    if subprocess.run(command, check=False, stdin=stdin).returncode != 0:
        raise SystemExit(f"image: failed: {' '.join(command)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.image",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("targets", nargs="*", metavar="TARGET", help="Dockerfile targets (all)")
    parser.add_argument("--tag", default="dev", help="every image's tag (dev)")
    parser.add_argument("--base", default=DEFAULT_BASE, help=f"base image ({DEFAULT_BASE})")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.targets) - set(images()))
    if unknown:
        parser.error(f"no such target: {', '.join(unknown)}")
    if shutil.which("podman") is None:
        raise SystemExit("image: podman not found (Debian: apt-get install podman runc)")
    if not CA_BUNDLE.is_file():
        raise SystemExit(f"image: no CA bundle at {CA_BUNDLE} (Debian: ca-certificates)")
    base = base_image(args.base)
    wheels = wheelhouse()
    built = {}
    for target in args.targets or list(images()):
        started = time.monotonic()
        image = f"{images()[target]}:{args.tag}"
        build(target, image, base, wheels)
        built[image] = time.monotonic() - started
    print(f"\n{'image':<28}{'size':>10}{'built in':>10}")
    for image, seconds in built.items():
        print(f"{image:<28}{size_mb(image):>7.0f} MB{seconds:>9.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
