"""`python -m services.translate models pull <pair>`, `models convert <pair>` and `models list`.

`pull` fetches a Helsinki-NLP opus-mt model from the Hugging Face hub once into the models
directory, where the service finds it when it next plans its routes (within 10 s, no restart).
Machines without hub access get a clear error and exit status 1. `convert` turns an installed
model into its CTranslate2 form, which the service then prefers for that pair.
"""

from __future__ import annotations

import argparse
import shutil
import sys

from huggingface_hub import snapshot_download

from services.translate.catalogue import ENGINE_NAMES, LANGUAGES, Catalogue, parse_engines
from services.translate.engines import every_engine
from services.translate.engines.ctranslate2 import SUBDIR, convert
from services.translate.engines.neural import hub_model
from services.translate.settings import TranslateSettings

_NAMES = {kind: name for name, kind in ENGINE_NAMES.items()}
# The files an opus-mt model needs (weights in either format).
MODEL_FILES = [
    "config.json",
    "generation_config.json",
    "*.safetensors",
    "pytorch_model.bin",
    "source.spm",
    "target.spm",
    "vocab.json",
    "tokenizer_config.json",
]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.translate")
    commands = parser.add_subparsers(dest="group", required=True)
    models = commands.add_parser("models", help="install and list translation models")
    action = models.add_subparsers(dest="action", required=True)
    pull = action.add_parser("pull", help="download a pair's opus-mt model from the hub")
    pull.add_argument("pair", help="source-target, e.g. es-en")
    pull.add_argument("--timeout", type=int, default=30, help="seconds per hub request")
    convert = action.add_parser("convert", help="convert an installed model for CTranslate2")
    convert.add_argument("pair", help="source-target, e.g. es-en")
    convert.add_argument("--quantization", default="int8", help="int8, int8_float32, float32")
    action.add_parser("list", help="every pair: engine, route and whether installed")
    args = parser.parse_args(argv)
    settings = TranslateSettings()
    if args.action == "pull":
        return pull_model(settings, args.pair, args.timeout)
    if args.action == "convert":
        return convert_model(settings, args.pair, args.quantization)
    return list_models(settings)


def parse_pair(pair: str) -> tuple[str, str] | None:
    source, _, target = pair.partition("-")
    if source not in LANGUAGES or target not in LANGUAGES or source == target:
        print(f"unknown pair {pair!r}: use two catalogue codes, e.g. es-en", file=sys.stderr)
        return None
    return source, target


def convert_model(settings: TranslateSettings, pair: str, quantization: str) -> int:
    if parse_pair(pair) is None:
        return 2
    marian = settings.models_dir / pair
    if not (marian / "config.json").is_file():
        print(f"no Marian model for {pair} in {marian}: pull it first", file=sys.stderr)
        return 1
    destination = convert(marian, settings.models_dir / SUBDIR / pair, quantization)
    print(f"converted {marian} for CTranslate2 ({quantization}) into {destination}")
    return 0


def pull_model(settings: TranslateSettings, pair: str, timeout: int) -> int:
    parsed = parse_pair(pair)
    if parsed is None:
        return 2
    source, target = parsed
    destination = settings.models_dir / pair
    partial = destination.with_name(f".{pair}.partial")
    try:
        download(hub_model(source, target), partial, timeout)
    except Exception as exc:  # any hub/network failure: one clear line, no traceback
        shutil.rmtree(partial, ignore_errors=True)
        print(
            f"cannot download {hub_model(source, target)} from the Hugging Face hub "
            f"({type(exc).__name__}: {exc}); on a machine with hub access run this command "
            f"there and copy {destination} here",
            file=sys.stderr,
        )
        return 1
    shutil.rmtree(destination, ignore_errors=True)
    partial.rename(destination)  # the service sees a complete model or none
    print(f"installed {hub_model(source, target)} in {destination}")
    return 0


def download(repo: str, into: object, timeout: int) -> None:
    snapshot_download(
        repo_id=repo, local_dir=str(into), allow_patterns=MODEL_FILES, etag_timeout=timeout
    )


def list_models(settings: TranslateSettings) -> int:
    catalogue = Catalogue(every_engine(settings), parse_engines(settings.translate_engines))
    for route in catalogue.routes():
        legs = " → ".join(
            f"{leg.source}-{leg.target} {_NAMES[leg.engine]} ({leg.model})" for leg in route.legs
        )
        state = "installed" if route.installed else "missing: " + "; ".join(route.install_commands)
        print(f"{route.source}-{route.target}\t{legs}\t{state}")
    return 0
