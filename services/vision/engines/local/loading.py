"""A model loaded once, on first use, in the worker thread that first needs it: the service
starts at once, loading never blocks the event loop, and a missing model refuses the calls that
need it (FAILED_PRECONDITION) rather than the whole service."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from services.vision.engines.local.assets import ModelMissing

M = TypeVar("M")


class Lazy(Generic[M]):
    """`load()` once; its model shared by every later call. Holds a lock for the model's own
    calls too, as none of the runtimes promises thread safety for one model object."""

    def __init__(self, load: Callable[[], M]) -> None:
        self._load = load
        self._model: M | None = None
        self.lock = threading.Lock()

    def get(self) -> M:
        """The model (call with `lock` held); a missing one raises its refusal."""
        if self._model is None:
            try:
                self._model = self._load()
            except ModelMissing as exc:
                raise exc.refusal() from exc
        return self._model

    @property
    def loaded(self) -> bool:
        return self._model is not None
