"""Translate throughput: the service's batched path vs. a naive one-sentence-at-a-time loop.

    PYTHONPATH=.:gen .venv/bin/python -m bench.translate [--sentences N] [--model-dir PATH]

Every path translates the same N distinct sentences (deterministic, built from a fixed
vocabulary, so the result cache never helps) with the same model, in the same run:

* naive: one `model.generate` per sentence with the plain transformers API;
* engine+batcher: the service's own MarianEngine and Batcher, N concurrent requests
  (`asyncio.gather`, as concurrent callers would send them);
* gRPC TranslateText: the running service in process (auth, validation, routing, sentence
  splitting, history, stats, events), N concurrent calls on one channel;
* gRPC BatchTranslateText: the same, 128 texts per call;
* ctranslate2: the same model converted once (int8) and run by the CTranslate2 engine, through
  the engine+batcher path and the two gRPC paths.

The model is the tests' tiny random MarianMT (tests/services/translate/tiny_marian.py) unless
`--model-dir` names a real opus-mt directory. Apertium (a separate program) is measured too when
installed, with the pair given by `--apertium-pair`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc
import transformers

from services.translate.batching import Batcher
from services.translate.catalogue import ENGINE_NAMES
from services.translate.engines.apertium import ApertiumEngine
from services.translate.engines.base import Engine
from services.translate.engines.ctranslate2 import SUBDIR, CTranslate2Engine, convert
from services.translate.engines.marian import MAX_INPUT_TOKENS, MarianEngine
from services.translate.service import SPEC
from services.translate.settings import TranslateSettings
from tests.fixtures.tokens import TokenFactory
from tests.services.translate import tiny_marian
from tools.processes import NatsServer
from voka.server import start
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

transformers.logging.set_verbosity_error()  # type: ignore[no-untyped-call]
transformers.logging.disable_progress_bar()  # type: ignore[no-untyped-call]
warnings.filterwarnings("ignore", message="Recommended: pip install sacremoses")

SUBJECTS = ["The cat", "My brother", "The children", "She", "We", "The train", "Our neighbour"]
VERBS = ["sleeps on", "reads", "likes", "needs", "is near", "opens", "waits for", "sees"]
OBJECTS = [
    "the sofa",
    "a new book",
    "the big house",
    "the quiet street",
    "the station",
    "the window",
    "the hot coffee",
    "the park",
    "a hospital",
]
ENDINGS = ["", " today", " again", " at nine", " in the morning", " every night"]
GRPC_BATCH = 128  # BatchTranslateText's limit
# Helsinki-NLP opus-mt "base" Marian dimensions (e.g. opus-mt-en-de: 74 M parameters).
OPUS_MT_BASE: dict[str, Any] = {
    "vocab_size": 58101,
    "d_model": 512,
    "encoder_layers": 6,
    "decoder_layers": 6,
    "encoder_attention_heads": 8,
    "decoder_attention_heads": 8,
    "encoder_ffn_dim": 2048,
    "decoder_ffn_dim": 2048,
    "max_position_embeddings": 512,
}


def sentences(count: int) -> list[str]:
    """`count` distinct short sentences, always the same ones for the same count."""
    combos = itertools.product(ENDINGS, OBJECTS, VERBS, SUBJECTS)
    out = [f"{s} {v} {o}{e}." for e, o, v, s in itertools.islice(combos, count)]
    if len(out) < count:
        raise SystemExit(f"at most {len(out)} distinct sentences")
    return out


class Result:
    def __init__(self, name: str, count: int, seconds: float, note: str = "") -> None:
        self.name, self.count, self.seconds, self.note = name, count, seconds, note

    @property
    def rate(self) -> float:
        return self.count / self.seconds


def build_model(directory: Path, shape: str) -> str:
    """The tests' tiny model; with shape `base`, its vocabulary with random weights of
    opus-mt-base's size (real compute per token, gibberish output), for a size-true ratio."""
    tiny_marian.build(directory)
    shutil.rmtree(directory.parent / f".{directory.name}-spm", ignore_errors=True)
    if shape == "tiny":
        return "tiny random MarianMT (tests/services/translate/tiny_marian.py)"
    from transformers import MarianConfig, MarianMTModel  # noqa: PLC0415

    tiny = MarianConfig.from_pretrained(str(directory))
    pad = widen_vocabulary(directory, OPUS_MT_BASE["vocab_size"])
    eos = tiny.eos_token_id
    config = MarianConfig(
        **OPUS_MT_BASE,
        pad_token_id=pad,
        decoder_start_token_id=pad,
        eos_token_id=eos,
        forced_eos_token_id=eos,
    )
    model = MarianMTModel(config)
    # Output ids beyond the tiny vocabulary cannot be decoded: bias them out (the output layer
    # still computes all 58101 logits, as the real model's does).
    model.final_logits_bias[:, tiny.vocab_size - 1 : pad] = -1e9
    model.save_pretrained(directory)
    return "random MarianMT of opus-mt-base size (tiny vocab, 58101-token output layer)"


def widen_vocabulary(directory: Path, size: int) -> int:
    """Pad the tiny vocabulary with unused entries to `size`, `<pad>` last as in opus-mt (so
    CTranslate2 converts it), and save the tokenizer again; returns the pad id."""
    from transformers import MarianTokenizer  # noqa: PLC0415

    vocab_file = directory / "vocab.json"
    vocab: dict[str, int] = json.loads(vocab_file.read_text())
    del vocab["<pad>"]
    vocab.update({f"<unused-{i}>": i for i in range(len(vocab), size - 1)})
    vocab["<pad>"] = size - 1
    vocab_file.write_text(json.dumps(vocab))
    MarianTokenizer(
        source_spm=str(directory / "source.spm"),
        target_spm=str(directory / "target.spm"),
        vocab=str(vocab_file),
    ).save_pretrained(directory)
    return size - 1


def batching_note(settings: TranslateSettings) -> str:
    window = settings.translate_batch_window_ms
    return f"max batch {settings.translate_max_batch}, window {window:g} ms"


def rss_mb() -> float:
    """Resident memory of this process now (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --- naive -------------------------------------------------------------------------------------


def naive(model_dir: Path, texts: Sequence[str]) -> tuple[Result, dict[str, float]]:
    """One generate per sentence, plain transformers, the service's length cap (so both paths
    stop generating at the same point for a model that never emits end-of-sentence)."""
    import torch  # noqa: PLC0415 (imported after the table header is printed)
    from transformers import MarianMTModel, MarianTokenizer  # noqa: PLC0415

    before = rss_mb()
    tokenizer: Any = MarianTokenizer.from_pretrained(str(model_dir))
    model: Any = MarianMTModel.from_pretrained(str(model_dir))
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    info = {
        "params": float(params),
        "weights_mb": sum(p.numel() * p.element_size() for p in model.parameters()) / 2**20,
        "load_rss_mb": rss_mb() - before,
    }

    def one(text: str) -> str:
        batch = tokenizer([text], return_tensors="pt", truncation=True)
        limit = min(MAX_INPUT_TOKENS, 2 * int(batch["input_ids"].shape[1]) + 8)
        with torch.inference_mode():
            output = model.generate(**batch, max_new_tokens=limit)
        return str(tokenizer.decode(output[0], skip_special_tokens=True))

    for text in texts[:3]:  # warm-up
        one(text)
    started = time.perf_counter()
    for text in texts:
        one(text)
    info["generate_rss_mb"] = rss_mb() - before
    info["peak_rss_mb"] = peak_rss_mb()
    return Result("naive generate loop", len(texts), time.perf_counter() - started), info


# --- engine + batcher --------------------------------------------------------------------------


async def batched(
    name: str,
    engine: Engine,
    pair: tuple[str, str],
    texts: Sequence[str],
    settings: TranslateSettings,
) -> Result:
    """N concurrent requests through a fresh Batcher (empty cache) in front of `engine`."""
    source, target = pair
    with ThreadPoolExecutor(settings.translate_workers) as executor:
        batcher = Batcher(
            executor,
            window=settings.translate_batch_window_ms / 1000,
            max_batch=settings.translate_max_batch,
            queue_size=max(settings.translate_queue_size, len(texts)),
            cache_size=settings.translate_cache_size,
        )
        try:
            await batcher.translate(engine, source, target, ["Warm up."])  # loads the model
            started = time.perf_counter()
            await asyncio.gather(*(batcher.translate(engine, source, target, [t]) for t in texts))
            seconds = time.perf_counter() - started
        finally:
            await batcher.close()
    note = batching_note(settings)
    return Result(name, len(texts), seconds, note)


def apertium_naive(engine: ApertiumEngine, pair: tuple[str, str], texts: Sequence[str]) -> Result:
    """One `apertium` run per sentence (a few: each run costs the program's start-up)."""
    started = time.perf_counter()
    for text in texts:
        engine.translate(*pair, [text])
    return Result(
        f"apertium {'-'.join(pair)}, one run per sentence",
        len(texts),
        time.perf_counter() - started,
    )


# --- through gRPC ------------------------------------------------------------------------------


async def through_grpc(
    models_dir: Path, work: Path, pair: tuple[str, str], texts: Sequence[str], engine: str
) -> list[Result]:
    """The in-process service with every request routed to `engine`."""
    (work / engine).mkdir(parents=True, exist_ok=True)
    tokens = TokenFactory.in_directory(work / engine)
    nats = NatsServer(work / engine / "nats")
    nats.start()
    try:
        settings = TranslateSettings(
            service="translate",
            port=0,
            data_dir=work / engine / "data",
            jwks_file=tokens.jwks_file,
            nats_url=nats.url,
            log_level="WARNING",
            rate_limit_per_second=0,  # one bench user: the kit's per-user limit would cap it
            translate_models_dir=models_dir,
            translate_engines={"-".join(pair): engine},
            translate_queue_size=max(512, len(texts)),
        )
        running = await start(SPEC, settings)
        try:
            return await _grpc_runs(running.port, tokens, pair, texts, settings, engine)
        finally:
            await running.stop()
    finally:
        nats.stop()


async def _grpc_runs(
    port: int,
    tokens: TokenFactory,
    pair: tuple[str, str],
    texts: Sequence[str],
    settings: TranslateSettings,
    engine: str,
) -> list[Result]:
    source, target = pair
    expected = ENGINE_NAMES[engine]
    label = "" if engine == "marian" else f"{engine}: "
    metadata = tokens.metadata(ttl=3600)
    note = batching_note(settings)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = translate_pb2_grpc.TranslateServiceStub(channel)

        def request(text: str) -> translate_pb2.TranslateTextRequest:
            return translate_pb2.TranslateTextRequest(
                text=text, source_language_code=source, target_language_code=target
            )

        async def single(text: str) -> None:
            response = await stub.TranslateText(request(text), metadata=metadata)
            if response.engine != expected:
                raise RuntimeError(f"expected {engine}, got engine {response.engine}")

        async def in_batches(chunk: Sequence[str]) -> None:
            response = await stub.BatchTranslateText(
                translate_pb2.BatchTranslateTextRequest(requests=[request(t) for t in chunk]),
                metadata=metadata,
            )
            failed = [r for r in response.results if r.HasField("error")]
            if failed:
                raise RuntimeError(f"{len(failed)} batch items failed: {failed[0].error}")

        await single("Warm up.")  # loads the model
        # The two gRPC runs use different texts (suffixed), so the second gets no cache hits.
        runs: list[tuple[str, Callable[[Sequence[str]], Awaitable[object]], str]] = [
            ("gRPC TranslateText", lambda ts: asyncio.gather(*(single(t) for t in ts)), ""),
            (
                "gRPC BatchTranslateText",
                lambda ts: asyncio.gather(
                    *(in_batches(ts[i : i + GRPC_BATCH]) for i in range(0, len(ts), GRPC_BATCH))
                ),
                " Yes",
            ),
        ]
        results = []
        for name, run, suffix in runs:
            batch = [t[:-1] + suffix + "." if suffix else t for t in texts]
            started = time.perf_counter()
            await run(batch)
            seconds = time.perf_counter() - started
            results.append(Result(label + name, len(batch), seconds, note))
        return results


# --- CTranslate2 --------------------------------------------------------------------------------


async def ctranslate2_runs(
    models_dir: Path, work: Path, pair: tuple[str, str], texts: Sequence[str], no_grpc: bool
) -> list[Result]:
    """The same model converted (int8), through the engine and, unless skipped, the service."""
    settings = TranslateSettings(service="translate")
    name = "-".join(pair)
    started = time.perf_counter()
    convert(models_dir / name, models_dir / SUBDIR / name, quantization="int8")
    print(f"converted for CTranslate2 (int8) in {time.perf_counter() - started:.1f} s", flush=True)
    engine = CTranslate2Engine(models_dir, settings.translate_memory_budget_mb << 20, "int8")
    results = [await batched("ctranslate2: engine + batcher", engine, pair, texts, settings)]
    if not no_grpc:
        results.extend(await through_grpc(models_dir, work, pair, texts, "ctranslate2"))
    return results


# --- main --------------------------------------------------------------------------------------


def parse_pair(value: str) -> tuple[str, str] | None:
    source, _, target = value.partition("-")
    return (source, target) if source and target else None


def table(results: Sequence[Result], baseline: Result) -> str:
    lines = [f"{'path':<48} {'sentences':>9} {'seconds':>8} {'sent/s':>8} {'vs naive':>8}"]
    for r in results:
        ratio = f"{r.rate / baseline.rate:.2f}x"
        lines.append(f"{r.name:<48} {r.count:>9} {r.seconds:>8.2f} {r.rate:>8.1f} {ratio:>8}")
    notes = [f"  {r.name}: {r.note}" for r in results if r.note]
    return "\n".join(lines + (["", "notes:", *notes] if notes else []))


async def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.translate", description=__doc__)
    parser.add_argument("--sentences", type=int, default=200, help="sentences per path")
    parser.add_argument("--model-dir", type=Path, help="a real opus-mt directory (default: tiny)")
    parser.add_argument(
        "--shape",
        choices=("tiny", "base"),
        default="tiny",
        help="without --model-dir: the tests' tiny model, or random weights of opus-mt-base size",
    )
    parser.add_argument("--pair", default="en-de", help="the pair the model translates")
    parser.add_argument("--apertium-pair", default="en-es", help="'' to skip Apertium")
    parser.add_argument("--no-grpc", action="store_true", help="skip the in-process services")
    args = parser.parse_args(argv)
    pair = parse_pair(args.pair)
    if pair is None:
        parser.error("--pair is source-target, e.g. en-de")
    texts = sentences(args.sentences)
    settings = TranslateSettings(service="translate")

    with tempfile.TemporaryDirectory(prefix="voka-bench-") as tmp:
        work = Path(tmp)
        models_dir = work / "models"
        models_dir.mkdir()
        if args.model_dir:
            (models_dir / args.pair).symlink_to(args.model_dir.resolve())
            model_name = str(args.model_dir)
        else:
            model_name = build_model(models_dir / args.pair, args.shape)
        import torch  # noqa: PLC0415

        print(f"model: {model_name}, pair {args.pair}")
        print(
            f"sentences: {len(texts)} distinct, {sum(map(len, texts)) / len(texts):.0f} chars "
            f"on average; torch {torch.__version__}, {torch.get_num_threads()} threads, "
            f"{os.cpu_count()} CPUs"
        )

        baseline, info = naive(models_dir / args.pair, texts)
        print(
            f"model parameters: {info['params'] / 1e6:.2f} M, weights {info['weights_mb']:.1f} MB "
            f"(resident: +{info['load_rss_mb']:.0f} MB loaded, +{info['generate_rss_mb']:.0f} MB "
            f"after the naive loop; process peak {info['peak_rss_mb']:.0f} MB)",
            flush=True,
        )
        results = [baseline]
        marian = MarianEngine(models_dir, settings.translate_memory_budget_mb << 20)
        results.append(
            await batched("engine + batcher (asyncio.gather)", marian, pair, texts, settings)
        )
        if not args.no_grpc:
            results.extend(await through_grpc(models_dir, work, pair, texts, "marian"))
        results.extend(await ctranslate2_runs(models_dir, work, pair, texts, args.no_grpc))

        apertium = ApertiumEngine(settings.translate_apertium_binary)
        apertium_pair = parse_pair(args.apertium_pair)
        apertium_results: list[Result] = []
        if apertium_pair and apertium.installed(*apertium_pair):
            apertium_results.append(apertium_naive(apertium, apertium_pair, texts[:5]))
            apertium_results.append(
                await batched(
                    f"apertium {args.apertium_pair}, engine + batcher",
                    apertium,
                    apertium_pair,
                    texts,
                    settings,
                )
            )
        elif args.apertium_pair:
            print(f"apertium: {args.apertium_pair} not installed, skipped")

    print()
    print(table(results, baseline))
    if apertium_results:
        print()
        print(
            "Apertium (rule-based, a different engine: not comparable with the naive Marian loop)"
        )
        print(table(apertium_results, apertium_results[0]).replace("vs naive", "vs 1/run"))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
