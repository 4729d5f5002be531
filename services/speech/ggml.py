"""CTranslate2 Whisper → whisper.cpp ggml, with numpy alone.

A CTranslate2 Whisper `model.bin` holds the same weights as the ggml file whisper.cpp loads, in
other names and with the attention projections merged. This writes the file the way whisper.cpp's
own `models/convert-pt-to-ggml.py` does:

* header: magic `ggml`, eleven int32 hparams (vocabulary, audio and text context, width, heads,
  layers, mel bins, ftype = 1 for f16);
* mel filterbank: Whisper's own (librosa's Slaney-style filters for 16 kHz, n_fft 400), as
  float32 rows;
* vocabulary: the byte-level BPE tokens below `<|endoftext|>`, as raw bytes (whisper.cpp makes
  the special tokens itself from the vocabulary size);
* tensors under PyTorch Whisper's names, dims reversed, f16 for 2-D and 3-D weights, f32 for
  vectors, conv biases and positional embeddings; the merged `q|k|v` (self-attention) and
  `k|v` (cross-attention) weights split back, dropping the key bias CTranslate2 pads with zeros.

Only float CTranslate2 models convert (a quantized int8 one has lost precision ggml f16 expects).
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import BinaryIO

import numpy as np

GGML_MAGIC = 0x67676D6C
SAMPLE_RATE = 16_000
N_FFT = 400
_CT2_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}
_F32_MATRICES = (
    "encoder.conv1.bias",
    "encoder.conv2.bias",
    "encoder.positional_embedding",
    "decoder.positional_embedding",
)


class GgmlError(ValueError):
    """A file that is not what the conversion or the loader expects."""


@dataclass(frozen=True)
class Hparams:
    """The header of a ggml Whisper file, in file order."""

    n_vocab: int
    n_audio_ctx: int
    n_audio_state: int
    n_audio_head: int
    n_audio_layer: int
    n_text_ctx: int
    n_text_state: int
    n_text_head: int
    n_text_layer: int
    n_mels: int
    ftype: int

    def pack(self) -> bytes:
        values = [getattr(self, f.name) for f in fields(self)]
        return struct.pack(f"<{1 + len(values)}i", GGML_MAGIC, *values)


def read_hparams(path: Path) -> Hparams:
    """The header of a ggml file; GgmlError when it is not one (the bindings would not say)."""
    count = len(fields(Hparams))
    with path.open("rb") as f:
        head = f.read(4 * (1 + count))
    if len(head) < 4 * (1 + count):
        raise GgmlError(f"{path} is too short for a ggml header")
    magic, *values = struct.unpack(f"<{1 + count}i", head)
    if magic != GGML_MAGIC:
        raise GgmlError(f"{path} is not a ggml file (magic {magic:#x})")
    return Hparams(*values)


# --- reading CTranslate2 -------------------------------------------------------------------


def read_ct2(model_bin: Path) -> dict[str, np.ndarray]:
    """Every variable of a CTranslate2 `model.bin` (memory-mapped), aliases resolved."""
    raw = np.memmap(model_bin, dtype=np.uint8, mode="r")
    with model_bin.open("rb") as f:
        version = _u32(f)
        if version < 5:
            raise GgmlError(f"CTranslate2 binary version {version} is too old to convert")
        spec = _string(f)
        if spec != "WhisperSpec":
            raise GgmlError(f"{model_bin} holds a {spec}, not a Whisper model")
        _u32(f)  # spec revision
        variables = dict(_variable(f, raw) for _ in range(_u32(f)))
        for _ in range(_u32(f)):
            alias, target = _string(f), _string(f)
            variables[alias] = variables[target]
    return variables


def _u32(f: BinaryIO) -> int:
    return int(struct.unpack("<I", f.read(4))[0])


def _string(f: BinaryIO) -> str:
    (length,) = struct.unpack("<H", f.read(2))
    return f.read(length)[:-1].decode("utf-8")


def _variable(f: BinaryIO, raw: np.ndarray) -> tuple[str, np.ndarray]:
    name = _string(f)
    rank = f.read(1)[0]
    shape = struct.unpack(f"<{rank}I", f.read(4 * rank))
    dtype = _CT2_DTYPES.get(f.read(1)[0])
    if dtype is None:
        raise GgmlError(f"variable {name} has a data type this converter does not know")
    size = _u32(f)
    offset = f.tell()
    f.seek(size, os.SEEK_CUR)
    return name, raw[offset : offset + size].view(dtype).reshape(shape)


# --- mel filters (librosa.filters.mel, Slaney scale and norm, as Whisper ships them) --------


def _hz_to_mel(hz: np.ndarray) -> np.ndarray:
    linear = hz / (200.0 / 3)
    log_part = 15.0 + np.log(np.maximum(hz, 1e-10) / 1000.0) / (np.log(6.4) / 27.0)
    return np.where(hz >= 1000.0, log_part, linear)


def _mel_to_hz(mel: np.ndarray) -> np.ndarray:
    linear = mel * (200.0 / 3)
    log_part = 1000.0 * np.exp((np.log(6.4) / 27.0) * (mel - 15.0))
    return np.where(mel >= 15.0, log_part, linear)


def mel_filters(n_mels: int, sample_rate: int = SAMPLE_RATE, n_fft: int = N_FFT) -> np.ndarray:
    """The (n_mels, n_fft/2 + 1) triangular filterbank Whisper computes its log-mel with."""
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    edges = _mel_to_hz(
        np.linspace(_hz_to_mel(np.array(0.0)), _hz_to_mel(np.array(sample_rate / 2)), n_mels + 2)
    )
    widths = np.diff(edges)
    ramps = edges[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (edges[2:] - edges[:-2]))[:, None]
    filters: np.ndarray = weights.astype(np.float32)
    return filters


# --- vocabulary ----------------------------------------------------------------------------


def _byte_decoder() -> dict[str, int]:
    """GPT-2's map from the printable characters byte-level BPE uses back to bytes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAD), *range(0xAE, 0x100)]
    chars = list(printable)
    shifted = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            chars.append(256 + shifted)
            shifted += 1
    return {chr(c): b for b, c in zip(printable, chars, strict=True)}


def text_tokens(model_dir: Path) -> list[bytes]:
    """The regular tokens (ids below `<|endoftext|>`) as bytes, from `vocabulary.txt`."""
    vocabulary = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
    try:
        end = vocabulary.index("<|endoftext|>")
    except ValueError as exc:
        raise GgmlError(f"{model_dir}/vocabulary.txt has no <|endoftext|>") from exc
    decoder = _byte_decoder()
    try:
        return [bytes(decoder[c] for c in token) for token in vocabulary[:end]]
    except KeyError as exc:
        raise GgmlError(f"{model_dir}/vocabulary.txt is not a byte-level BPE vocabulary") from exc


# --- tensors -------------------------------------------------------------------------------


def _layers(variables: dict[str, np.ndarray], side: str) -> int:
    pattern = re.compile(rf"^{side}/layer_(\d+)/")
    return 1 + max(int(m.group(1)) for name in variables if (m := pattern.match(name)))


def hparams_of(variables: dict[str, np.ndarray]) -> Hparams:
    embeddings = variables["decoder/embeddings/weight"]
    return Hparams(
        n_vocab=embeddings.shape[0],
        n_audio_ctx=variables["encoder/position_encodings/encodings"].shape[0],
        n_audio_state=variables["encoder/conv1/weight"].shape[0],
        n_audio_head=int(variables["encoder/num_heads"]),
        n_audio_layer=_layers(variables, "encoder"),
        n_text_ctx=variables["decoder/position_encodings/encodings"].shape[0],
        n_text_state=embeddings.shape[1],
        n_text_head=int(variables["decoder/num_heads"]),
        n_text_layer=_layers(variables, "decoder"),
        n_mels=variables["encoder/conv1/weight"].shape[1],
        ftype=1,
    )


def _linear(v: dict[str, np.ndarray], src: str, dst: str) -> Iterator[tuple[str, np.ndarray]]:
    yield f"{dst}.weight", v[f"{src}/weight"]
    yield f"{dst}.bias", v[f"{src}/bias"]


def _norm(v: dict[str, np.ndarray], src: str, dst: str) -> Iterator[tuple[str, np.ndarray]]:
    yield f"{dst}.weight", v[f"{src}/gamma"]
    yield f"{dst}.bias", v[f"{src}/beta"]


def _split(
    v: dict[str, np.ndarray], src: str, dst: str, parts: tuple[str, ...]
) -> Iterator[tuple[str, np.ndarray]]:
    """A merged projection split back into its parts; keys have no bias in Whisper."""
    weights = np.split(v[f"{src}/weight"], len(parts))
    biases = np.split(v[f"{src}/bias"], len(parts))
    for part, weight, bias in zip(parts, weights, biases, strict=True):
        yield f"{dst}.{part}.weight", weight
        if part != "key":
            yield f"{dst}.{part}.bias", bias


def _block(v: dict[str, np.ndarray], side: str, i: int) -> Iterator[tuple[str, np.ndarray]]:
    src, dst = f"{side}/layer_{i}", f"{side}.blocks.{i}"
    yield from _split(v, f"{src}/self_attention/linear_0", f"{dst}.attn", ("query", "key", "value"))
    yield from _linear(v, f"{src}/self_attention/linear_1", f"{dst}.attn.out")
    yield from _norm(v, f"{src}/self_attention/layer_norm", f"{dst}.attn_ln")
    if side == "decoder":
        yield from _linear(v, f"{src}/attention/linear_0", f"{dst}.cross_attn.query")
        yield from _split(v, f"{src}/attention/linear_1", f"{dst}.cross_attn", ("key", "value"))
        yield from _linear(v, f"{src}/attention/linear_2", f"{dst}.cross_attn.out")
        yield from _norm(v, f"{src}/attention/layer_norm", f"{dst}.cross_attn_ln")
    yield from _linear(v, f"{src}/ffn/linear_0", f"{dst}.mlp.0")
    yield from _linear(v, f"{src}/ffn/linear_1", f"{dst}.mlp.2")
    yield from _norm(v, f"{src}/ffn/layer_norm", f"{dst}.mlp_ln")


def ggml_tensors(v: dict[str, np.ndarray], hp: Hparams) -> Iterator[tuple[str, np.ndarray]]:
    """Every tensor whisper.cpp expects, under its name, as CTranslate2 stores it."""
    yield "encoder.positional_embedding", v["encoder/position_encodings/encodings"]
    for conv in ("conv1", "conv2"):
        yield f"encoder.{conv}.weight", v[f"encoder/{conv}/weight"]
        yield f"encoder.{conv}.bias", v[f"encoder/{conv}/bias"].reshape(-1, 1)
    for i in range(hp.n_audio_layer):
        yield from _block(v, "encoder", i)
    yield from _norm(v, "encoder/layer_norm", "encoder.ln_post")
    yield "decoder.positional_embedding", v["decoder/position_encodings/encodings"]
    yield "decoder.token_embedding.weight", v["decoder/embeddings/weight"]
    for i in range(hp.n_text_layer):
        yield from _block(v, "decoder", i)
    yield from _norm(v, "decoder/layer_norm", "decoder.ln")


def _write_tensor(out: BinaryIO, name: str, data: np.ndarray) -> None:
    if data.dtype.kind != "f":
        raise GgmlError(f"{name} is {data.dtype}: only float CTranslate2 models convert")
    f32 = data.ndim < 2 or name in _F32_MATRICES
    array = np.ascontiguousarray(data, dtype=np.float32 if f32 else np.float16)
    encoded = name.encode("utf-8")
    out.write(struct.pack("<3i", array.ndim, len(encoded), 0 if f32 else 1))
    out.write(struct.pack(f"<{array.ndim}i", *reversed(array.shape)))
    out.write(encoded)
    out.write(array.tobytes())


# --- conversion ----------------------------------------------------------------------------


def convert(model_dir: Path, out_path: Path) -> Path:
    """Write `out_path` from the CTranslate2 Whisper model in `model_dir` (atomically)."""
    variables = read_ct2(model_dir / "model.bin")
    hp = hparams_of(variables)
    filters = mel_filters(hp.n_mels)
    tokens = text_tokens(model_dir)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(out_path.name + ".partial")
    with partial.open("wb") as out:
        out.write(hp.pack())
        out.write(struct.pack("<2i", *filters.shape))
        out.write(filters.astype("<f4").tobytes())
        out.write(struct.pack("<i", len(tokens)))
        for token in tokens:
            out.write(struct.pack("<i", len(token)) + token)
        for name, data in ggml_tensors(variables, hp):
            _write_tensor(out, name, data)
    os.replace(partial, out_path)
    return out_path
