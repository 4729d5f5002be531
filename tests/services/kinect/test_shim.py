"""The fakenect shim: the image compiles it beside the source at build time and a pod then runs no
gcc; a checkout compiles it into the data directory once. Real gcc, real files."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from services.kinect import shim


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shim's sources, as the Dockerfile's build stage has them."""
    folder = tmp_path / "kinect"
    folder.mkdir()
    for name in ("shim.py", "fakenect_shim.c"):
        shutil.copy(Path(shim.__file__).with_name(name), folder / name)
    monkeypatch.setattr(shim, "SOURCE", folder / "fakenect_shim.c")
    return folder


def without_gcc(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")


def test_a_checkout_compiles_it_into_the_data_directory_once(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    data = tmp_path / "var" / "kinect"
    built = shim.build(data)
    assert built.parent == data
    assert built.name == shim.library_name()
    assert built.read_bytes().startswith(b"\x7fELF")
    without_gcc(monkeypatch)
    assert shim.build(data) == built  # later starts skip gcc


def test_the_image_build_puts_it_beside_the_source_and_a_pod_needs_no_gcc(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # What the Dockerfile's build stage runs, then copies beside the service's source.
    out = tmp_path / "shim"
    printed = subprocess.run(
        [sys.executable, str(source / "shim.py"), str(out)],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    (compiled,) = out.iterdir()
    assert printed == str(compiled)
    shutil.copy(compiled, source / compiled.name)
    without_gcc(monkeypatch)
    data = tmp_path / "var" / "kinect"
    assert shim.build(data) == source / shim.library_name()
    assert not data.exists()  # nothing written where the pod's data lives


def test_a_changed_source_never_loads_a_stale_build(
    source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    stale = shim.compile_into(source)
    (source / "fakenect_shim.c").write_text(
        (source / "fakenect_shim.c").read_text() + "\n/* changed */\n"
    )
    data = tmp_path / "var" / "kinect"
    fresh = shim.build(data)
    assert fresh.parent == data
    assert fresh.name != stale.name
    without_gcc(monkeypatch)
    with pytest.raises(RuntimeError, match="cannot build the fakenect shim with gcc"):
        shim.build(tmp_path / "elsewhere")
