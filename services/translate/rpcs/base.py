"""What the TranslateService mixins share: the translator, the recorder that commits history,
usage and events in transactions shared by concurrent calls, the history store, and which
models are loaded (for the catalogue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from services.translate.recorder import Recorder
from services.translate.store import TranslationStore
from services.translate.translator import Translator
from voka.translate.v1 import translate_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
# Whether (engine, source, target)'s model is in memory now.
Loaded = Callable[[int, str, str], bool]


class TranslateRpcs(translate_pb2_grpc.TranslateServiceServicer):
    """The dependencies of every TranslateService RPC."""

    def __init__(
        self,
        translator: Translator,
        recorder: Recorder,
        store: TranslationStore,
        loaded: Loaded,
    ) -> None:
        self._translator = translator
        self._recorder = recorder
        self._store = store
        self._loaded = loaded
