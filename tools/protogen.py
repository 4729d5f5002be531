"""Generate the Python stubs, Envoy's descriptor set and the OpenAPI document from the
contracts, or check for drift.

Generated code is committed so services import it without a build step; `--check` regenerates
into a scratch directory and compares byte for byte, which is what CI runs.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gateway import openapi

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GOOGLEAPIS = ROOT / "third_party" / "googleapis"
GEN = ROOT / "gen"
DESCRIPTOR_SET = "voka.binpb"
OPENAPI_DOCUMENT = "openapi.json"
# Types Envoy must know to render error details as JSON, though no contract imports them.
EXTRA_DESCRIPTOR_INPUTS = ("google/rpc/error_details.proto", "google/rpc/status.proto")


def proto_files(proto_root: Path) -> list[str]:
    """Our own contracts, relative to the proto root, in a stable order."""
    return sorted(str(p.relative_to(proto_root)) for p in proto_root.rglob("*.proto"))


def generate(proto_root: Path, out: Path) -> None:
    """Write stubs, type stubs, the descriptor set and the OpenAPI document (read from the
    descriptor set, so its comments come from `--include_source_info`) for every contract."""
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    files = proto_files(proto_root)
    includes = [f"-I{proto_root}", f"-I{GOOGLEAPIS}"]
    _protoc(
        *includes,
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        *_mypy_plugins(out),
        *files,
    )
    _protoc(
        *includes,
        f"--descriptor_set_out={out / DESCRIPTOR_SET}",
        "--include_imports",
        "--include_source_info",
        *files,
        *EXTRA_DESCRIPTOR_INPUTS,
    )
    openapi.write(out / DESCRIPTOR_SET, out / OPENAPI_DOCUMENT)


def _mypy_plugins(out: Path) -> list[str]:
    """mypy-protobuf's `.pyi` for messages and gRPC stubs: typed servicers, stubs for both the
    sync and the asyncio channel, and the contracts' comments as docstrings."""
    bin_dir = Path(sys.executable).parent
    return [
        f"--plugin=protoc-gen-mypy={bin_dir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bin_dir / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={out}",
        f"--mypy_grpc_out={out}",
    ]


def _protoc(*args: str) -> None:
    cmd = [sys.executable, "-m", "grpc_tools.protoc", *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"protoc failed:\n{result.stderr}")


def drift(expected: Path, actual: Path) -> list[str]:
    """Paths that differ between two generated trees (missing, extra or changed)."""
    diffs: list[str] = []

    def walk(cmp: filecmp.dircmp[str], prefix: str) -> None:
        diffs.extend(f"{prefix}{n} (only in fresh output)" for n in cmp.left_only)
        diffs.extend(f"{prefix}{n} (stale, not generated any more)" for n in cmp.right_only)
        diffs.extend(f"{prefix}{n} (changed)" for n in cmp.diff_files)
        for name, sub in cmp.subdirs.items():
            walk(sub, f"{prefix}{name}/")

    # Fresh files never share an mtime with committed ones, so dircmp compares their bytes.
    walk(filecmp.dircmp(expected, actual, ignore=["__pycache__"]), "")
    return sorted(diffs)


def check(proto_root: Path, gen_dir: Path) -> list[str]:
    """Regenerate into a scratch dir and report drift against gen_dir."""
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "gen"
        generate(proto_root, fresh)
        if not gen_dir.exists():
            return [f"{gen_dir} is missing"]
        return drift(fresh, gen_dir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if gen/ is out of date")
    args = parser.parse_args(argv)
    if not args.check:
        generate(PROTOS, GEN)
        print(f"generated {GEN.relative_to(ROOT)}/ from {len(proto_files(PROTOS))} protos")
        return 0
    diffs = check(PROTOS, GEN)
    if diffs:
        print("gen/ is out of date with protos/ — run `make gen` and commit:", file=sys.stderr)
        for d in diffs:
            print(f"  {d}", file=sys.stderr)
        return 1
    print("gen/ matches protos/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
