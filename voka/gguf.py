"""Loading a GGUF model through llama-cpp-python, the one way this code base does it: the
assistant's local providers, translate's LLM engine and the benchmarks all call `load_llama`.

llama_cpp is imported here, so a service whose image lacks it imports this module only when it
has a model to load.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import llama_cpp
import llama_cpp.llama_cpp as llama_lib

_PARAMS_LOCK = threading.Lock()


def load_llama(
    path: Path,
    *,
    context_size: int,
    threads: int = 0,
    extra_buffers: bool = False,
    vocab_only: bool = False,
) -> llama_cpp.Llama:
    """A quiet Llama on `path`; the one way this code base loads a GGUF (the bench uses it too)."""
    with _model_params(extra_buffers=extra_buffers):
        return llama_cpp.Llama(
            model_path=str(path),
            n_ctx=context_size,
            n_threads=threads or None,
            vocab_only=vocab_only,
            verbose=False,
        )


@contextmanager
def _model_params(*, extra_buffers: bool) -> Generator[None, None, None]:
    """Load with llama.cpp's extra weight buffers (AMX, repacked layouts) on or off.

    llama-cpp-python has no argument for `use_extra_bufts`; it builds model parameters from
    `llama_model_default_params()` inside the constructor, so that function is wrapped for the
    duration of one load. Off by default: on virtualised CPUs that advertise AMX, decoding a
    batch of more than one token with those buffers segfaults.
    """
    original = llama_lib.llama_model_default_params

    def params() -> Any:
        chosen = original()
        chosen.use_extra_bufts = extra_buffers
        return chosen

    with _PARAMS_LOCK:
        llama_lib.llama_model_default_params = params
        try:
            yield
        finally:
            llama_lib.llama_model_default_params = original
