"""The CTranslate2 → ggml converter, on the packaged models, checked against whisper.cpp."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from services.speech import ggml
from services.speech.engines.base import WHISPER_CPP, TranscribeOptions
from services.speech.models import ModelCatalogue, ct2_path, ggml_path
from tests.services.speech.conftest import Clip
from tests.services.speech.wer import wer


def read_tensors(path: Path) -> dict[str, tuple[int, tuple[int, ...], np.ndarray]]:
    """Reads a ggml file back the way whisper.cpp's loader walks it: name → (ftype, dims, data)."""
    blob = path.read_bytes()
    offset = 4 * 12
    n_mel, n_fft = struct.unpack_from("<2i", blob, offset)
    offset += 8 + 4 * n_mel * n_fft
    (n_tokens,) = struct.unpack_from("<i", blob, offset)
    offset += 4
    for _ in range(n_tokens):
        (length,) = struct.unpack_from("<i", blob, offset)
        offset += 4 + length
    tensors = {}
    while offset < len(blob):
        n_dims, name_length, ftype = struct.unpack_from("<3i", blob, offset)
        offset += 12
        dims = struct.unpack_from(f"<{n_dims}i", blob, offset)
        offset += 4 * n_dims
        name = blob[offset : offset + name_length].decode()
        offset += name_length
        dtype = np.float16 if ftype == 1 else np.float32
        count = int(np.prod(dims))
        data = np.frombuffer(blob, dtype=dtype, count=count, offset=offset)
        offset += count * np.dtype(dtype).itemsize
        tensors[name] = (ftype, dims, data.reshape(tuple(reversed(dims))))
    return tensors


def expected_names(hp: ggml.Hparams) -> set[str]:
    """The tensors whisper.cpp's loader asks for (whisper.cpp `whisper_model_load`)."""
    names = {
        "encoder.positional_embedding", "encoder.conv1.weight", "encoder.conv1.bias",
        "encoder.conv2.weight", "encoder.conv2.bias", "encoder.ln_post.weight",
        "encoder.ln_post.bias", "decoder.positional_embedding", "decoder.token_embedding.weight",
        "decoder.ln.weight", "decoder.ln.bias",
    }  # fmt: skip
    block = [
        "mlp_ln.weight", "mlp_ln.bias", "mlp.0.weight", "mlp.0.bias", "mlp.2.weight",
        "mlp.2.bias", "attn_ln.weight", "attn_ln.bias", "attn.query.weight", "attn.query.bias",
        "attn.key.weight", "attn.value.weight", "attn.value.bias", "attn.out.weight",
        "attn.out.bias",
    ]  # fmt: skip
    cross = [name.replace("attn", "cross_attn") for name in block if "attn" in name]
    names |= {f"encoder.blocks.{i}.{n}" for i in range(hp.n_audio_layer) for n in block}
    names |= {f"decoder.blocks.{i}.{n}" for i in range(hp.n_text_layer) for n in block + cross}
    return names


def test_mel_filters_are_whispers() -> None:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=80), which Whisper ships as mel_80."""
    filters = ggml.mel_filters(80)
    assert filters.shape == (80, 201)
    assert filters.dtype == np.float32
    assert filters[0, 1] == pytest.approx(0.02486259, rel=1e-5)
    assert filters[1, :4].tolist() == pytest.approx([0.0, 0.00199082, 0.02287177, 0.0], abs=1e-7)
    assert (filters >= 0).all()
    assert (filters.argmax(axis=1)[1:] >= filters.argmax(axis=1)[:-1]).all()  # rising centres
    assert ggml.mel_filters(128).shape == (128, 201)


def test_tiny_en_converts_to_whisper_cpp_layout(models_dir: Path) -> None:
    path = ggml_path(models_dir, "tiny.en")
    hp = ggml.read_hparams(path)
    assert hp == ggml.Hparams(51864, 1500, 384, 6, 4, 448, 384, 6, 4, 80, 1)
    tensors = read_tensors(path)
    assert set(tensors) == expected_names(hp)
    ftype, dims, _ = tensors["encoder.conv1.bias"]
    assert (ftype, dims) == (0, (1, 384))
    assert tensors["decoder.token_embedding.weight"][:2] == (1, (384, 51864))
    assert tensors["encoder.blocks.0.mlp_ln.weight"][0] == 0
    assert tensors["decoder.positional_embedding"][0] == 0


def test_merged_attention_is_split_back(models_dir: Path) -> None:
    source = ggml.read_ct2(ct2_path(models_dir, "tiny.en") / "model.bin")
    tensors = read_tensors(ggml_path(models_dir, "tiny.en"))
    merged = source["encoder/layer_2/self_attention/linear_0/weight"]
    for part, rows in zip(("query", "key", "value"), np.split(merged, 3), strict=True):
        assert np.array_equal(tensors[f"encoder.blocks.2.attn.{part}.weight"][2], rows)
    kv = source["decoder/layer_1/attention/linear_1/weight"]
    assert np.array_equal(tensors["decoder.blocks.1.cross_attn.value.weight"][2], kv[384:])
    assert not np.any(source["encoder/layer_2/self_attention/linear_0/bias"][384:768])


def test_vocabulary_is_byte_level_bpe_below_endoftext(models_dir: Path) -> None:
    english = ggml.text_tokens(ct2_path(models_dir, "tiny.en"))
    multilingual = ggml.text_tokens(ct2_path(models_dir, "base"))
    assert len(english) == 50256
    assert len(multilingual) == 50257
    assert english[:3] == [b"!", b'"', b"#"]
    assert b" the" in english  # `Ġthe` decoded to its bytes


def test_converted_file_transcribes_in_pywhispercpp(
    model_catalogue: ModelCatalogue, piper_clip: Clip
) -> None:
    transcript = model_catalogue.get("tiny.en", WHISPER_CPP).transcribe(
        piper_clip.audio.samples, TranscribeOptions(language="en")
    )
    assert wer(piper_clip.text, transcript.text) <= 0.10, transcript.text


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_multilingual_model_converts_and_hears_spanish(
    models_dir: Path, espeak_spanish_clip: Clip
) -> None:
    """The language is given, so whisper.cpp runs its encoder once (detection would add one
    more pass over 30 s of audio, which base on two busy cores makes minutes)."""
    target = ggml.convert(ct2_path(models_dir, "base"), ggml_path(models_dir, "base"))
    hp = ggml.read_hparams(target)
    assert (hp.n_vocab, hp.n_audio_layer, hp.n_audio_state) == (51865, 6, 512)
    transcript = (
        ModelCatalogue(models_dir)
        .get("base", WHISPER_CPP)
        .transcribe(espeak_spanish_clip.audio.samples, TranscribeOptions(language="es"))
    )
    assert wer(espeak_spanish_clip.text, transcript.text) <= 0.40, transcript.text


def test_non_whisper_or_non_ggml_files_are_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.bin"
    name = b"TransformerSpec\x00"
    header = struct.pack("<IH", 6, len(name)) + name + struct.pack("<II", 1, 0)
    fake.write_bytes(header + bytes(64))
    with pytest.raises(ggml.GgmlError, match="not a Whisper model"):
        ggml.read_ct2(fake)
    with pytest.raises(ggml.GgmlError, match="not a ggml file"):
        ggml.read_hparams(fake)
