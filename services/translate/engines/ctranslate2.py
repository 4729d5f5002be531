"""The same opus-mt models run by CTranslate2: converted once (`python -m services.translate
models convert es-en`) into `<models_dir>/ctranslate2/es-en/` (model.bin, shared vocabulary,
the source sentencepiece model and the generation config copied beside it). int8 on CPU; several
times faster than transformers' generate at the same batch (`bench/translate.py` measures it).

Tokenisation is sentencepiece alone, as Marian itself does it: no torch, no transformers at run
time.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.translate.engines.base import EngineError
from services.translate.engines.cache import Loaded
from services.translate.engines.marian import MAX_INPUT_TOKENS
from services.translate.engines.neural import NeuralEngine
from voka.translate.v1 import translate_pb2

SUBDIR = "ctranslate2"
# Files of the Marian directory the converted model needs beside model.bin.
CARRIED = ("source.spm", "generation_config.json")
EOS = "</s>"
SPECIAL = frozenset({EOS, "<unk>", "<pad>", "<s>"})
WORD_START = "\u2581"  # sentencepiece's ▁


@dataclass(frozen=True)
class Ct2Model:
    translator: Any  # ctranslate2.Translator
    source: Any  # sentencepiece.SentencePieceProcessor
    beam_size: int


class CTranslate2Engine(NeuralEngine[Ct2Model]):
    """Loads converted models from `models_dir/ctranslate2/<source>-<target>/`."""

    MARKER = "model.bin"

    def __init__(
        self, models_dir: Path, memory_budget: int, compute_type: str = "int8", threads: int = 0
    ) -> None:
        super().__init__(models_dir / SUBDIR, memory_budget)
        self._compute_type = compute_type
        self._threads = threads

    @property
    def kind(self) -> int:
        return translate_pb2.ENGINE_CTRANSLATE2

    def _load(self, path: Path) -> Loaded[Ct2Model]:
        import ctranslate2  # noqa: PLC0415 (only services that serve converted models load it)
        import sentencepiece as spm  # noqa: PLC0415

        try:
            translator = ctranslate2.Translator(
                str(path),
                device="cpu",
                compute_type=self._compute_type,
                intra_threads=self._threads,
            )
            source = spm.SentencePieceProcessor(model_file=str(path / "source.spm"))
        except (OSError, RuntimeError, ValueError) as exc:
            raise EngineError(f"cannot load the CTranslate2 model in {path}: {exc}") from exc
        model = Ct2Model(translator, source, _beam_size(path))
        return Loaded(model, size=(path / "model.bin").stat().st_size)

    def _run(self, model: Ct2Model, texts: list[str]) -> list[str]:
        return _translate(model, texts)


def _beam_size(path: Path) -> int:
    """The beam the model's authors chose for generate (opus-mt: 4), so both engines search
    alike; 1 when the model says nothing."""
    config = path / "generation_config.json"
    if not config.is_file():
        return 1
    return int(json.loads(config.read_text()).get("num_beams") or 1)


def _translate(model: Ct2Model, texts: Sequence[str]) -> list[str]:
    tokens = [[*model.source.encode(t, out_type=str)[: MAX_INPUT_TOKENS - 1], EOS] for t in texts]
    longest = max((len(t) for t in tokens), default=1)
    results = model.translator.translate_batch(
        tokens,
        beam_size=model.beam_size,
        # Marian's cap, less the end-of-sentence token it forces into the last place.
        max_decoding_length=min(MAX_INPUT_TOKENS, 2 * longest + 8) - 1,
    )
    return [detokenize(r.hypotheses[0]) for r in results]


def detokenize(pieces: Sequence[str]) -> str:
    """Pieces back to text as transformers' Marian tokenizer does with skip_special_tokens: the
    shared vocabulary may yield pieces only the source model knows, which the target model
    would decode as ⁇, so this joins pieces instead of asking sentencepiece."""
    text = "".join(p for p in pieces if p not in SPECIAL)
    return text.replace(WORD_START, " ").strip()


def convert(marian_dir: Path, destination: Path, quantization: str = "int8") -> Path:
    """Convert an installed opus-mt directory; written beside `destination` and renamed into
    place, so the service sees a complete model or none."""
    from ctranslate2.converters import TransformersConverter  # noqa: PLC0415

    partial = destination.with_name(f".{destination.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    TransformersConverter(str(marian_dir)).convert(str(partial), quantization=quantization)
    for name in CARRIED:
        if (marian_dir / name).is_file():
            shutil.copy2(marian_dir / name, partial / name)
    shutil.rmtree(destination, ignore_errors=True)
    partial.rename(destination)
    return destination
