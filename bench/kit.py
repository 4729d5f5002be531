"""The kit's price per unary call: CPU of the hook stack and token verification (issue 16, item 1).

    PYTHONPATH=.:gen .venv/bin/python -m bench.kit [--calls 4000] [--in-flight 16] [--rounds 3]

One process serves a trivial authenticated RPC (`TranslateService.GetTranslationStats`, answered
with an empty message, so the handler costs nothing) on a grpc.aio server on loopback and calls
it with `--in-flight` concurrent callers carrying a real Ed25519 JWT. The same load runs against
servers that differ only in their interceptor:

* `bare`: no interceptor (grpc.aio alone);
* `observe`, `+ map_errors`, `+ identity`, `+ rate limit`: the kit's hooks added one at a time,
  the last being the stack every service runs (voka.server.hook_stack);

with logging and tracing set up as in a service (no exporter configured), so each row's CPU per
call minus `bare`'s is what the kit adds, and the steps say where the time
goes. The client's CPU is in every row alike and cancels out. Rounds alternate the servers and
the best round of each counts (the least disturbed by the rest of the machine). Token
verification is also timed alone: a fresh verification (signature, claims) against a cached one
(voka.authn.TokenVerifier keeps verified tokens until they expire).

The same stacks are also timed without gRPC: the handler wrapped by `HookInterceptor` as a server
wraps it, called in a tight loop with a stand-in context carrying the same token and a
`traceparent` (`no gRPC µs`). Free of gRPC's and the client's share, and of the scheduling of
16 callers on a shared machine, it moves far less between runs than the rows through gRPC.

The budget (issue 16): the full stack minus `bare` at most 150 µs of CPU per call on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

from tests.fixtures.tokens import TokenFactory
from voka import authn, hooks, telemetry
from voka.calls import Hook, HookInterceptor
from voka.config import Settings
from voka.latency import LatencyWindow
from voka.ratelimit import RateLimiter, rate_limit_hook
from voka.server import hook_stack
from voka.translate.v1 import translate_pb2, translate_pb2_grpc

BUDGET_US = 150.0
METHOD = "GetTranslationStats"
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TIGHT_LOOP_CALLS = 20_000


class Stats(translate_pb2_grpc.TranslateServiceServicer):
    """The cheapest authenticated handler: the kit's work is all there is."""

    async def GetTranslationStats(
        self, request: Any, context: Any
    ) -> translate_pb2.GetTranslationStatsResponse:
        return translate_pb2.GetTranslationStatsResponse()


def stacks(verifier: authn.Verifier) -> dict[str, list[Hook]]:
    """Each server's hooks, in the order the kit stacks them."""
    window = LatencyWindow(60.0)
    unlimited = RateLimiter(1e9, 1_000_000_000)  # costs its lookups, never refuses
    observe = hooks.observe(window)
    identity = authn.identity_hook(verifier)
    settings = Settings(rate_limit_per_second=1e9, rate_limit_burst=1_000_000_000)
    return {
        "bare": [],
        "observe": [observe],
        "+ map_errors": [observe, hooks.map_errors],
        "+ identity": [observe, hooks.map_errors, identity],
        "+ rate limit": [observe, hooks.map_errors, identity, rate_limit_hook(unlimited)],
        "kit (hook_stack)": hook_stack(settings, verifier, window),
    }


async def cpu_per_call(hook_list: list[Hook], token: str, calls: int, in_flight: int) -> float:
    """Seconds of this process's CPU per call, the server and its client together."""
    interceptors = [HookInterceptor(hook_list)] if hook_list else []
    server = grpc.aio.server(interceptors=interceptors)
    # The other RPCs stay the generated base's (UNIMPLEMENTED): the bench calls only this one.
    translate_pb2_grpc.add_TranslateServiceServicer_to_server(Stats(), server)  # type: ignore[abstract]
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    metadata = (("authorization", f"Bearer {token}"),)
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            stub = translate_pb2_grpc.TranslateServiceStub(channel)
            request = translate_pb2.GetTranslationStatsRequest()

            async def caller(count: int) -> None:
                for _ in range(count):
                    await stub.GetTranslationStats(request, metadata=metadata)

            await caller(50)  # connect and warm up
            start = time.process_time()
            await asyncio.gather(*(caller(calls // in_flight) for _ in range(in_flight)))
            return (time.process_time() - start) / (calls // in_flight * in_flight)
    finally:
        await server.stop(None)


@dataclass
class _Details:  # what grpc.aio hands an interceptor
    method: str
    invocation_metadata: tuple[tuple[str, str | bytes], ...]


class _Context:
    """What the hooks ask of a servicer context on a successful call."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def invocation_metadata(self) -> tuple[tuple[str, str], ...]:
        return self._metadata

    def code(self) -> None:
        return None


async def cpu_without_grpc(hook_list: list[Hook], token: str, calls: int) -> float:
    """Seconds of CPU per call of the hooks around the no-op handler, no server or client."""
    method = f"/{translate_pb2.DESCRIPTOR.services_by_name['TranslateService'].full_name}/{METHOD}"

    async def handler(request: Any, context: Any) -> translate_pb2.GetTranslationStatsResponse:
        return translate_pb2.GetTranslationStatsResponse()

    async def served(details: grpc.HandlerCallDetails) -> Any:
        return grpc.unary_unary_rpc_method_handler(handler)

    wrapped = await HookInterceptor(hook_list).intercept_service(served, _Details(method, ()))
    assert wrapped is not None
    behavior: Any = wrapped.unary_unary  # grpc.aio calls it with the real context
    context = _Context((("authorization", f"Bearer {token}"), ("traceparent", TRACEPARENT)))
    for _ in range(200):
        await behavior(None, context)
    start = time.process_time()
    for _ in range(calls):
        await behavior(None, context)
    return (time.process_time() - start) / calls


async def verify_cost(
    verifier: authn.TokenVerifier, tokens: TokenFactory, n: int
) -> tuple[float, float]:
    """µs of CPU per fresh verification (a new token each time) and per cached one."""
    fresh = [tokens.mint(f"users/u{i}") for i in range(n)]
    start = time.process_time()
    for token in fresh:
        await verifier.verify(token)
    cold = (time.process_time() - start) / n
    start = time.process_time()
    for token in fresh:
        await verifier.verify(token)
    return cold * 1e6, (time.process_time() - start) / n * 1e6


def like_a_service() -> None:
    """Logging and tracing as every service sets them up (voka.server.run), the log lines going
    to /dev/null instead of stderr: their cost counts, their text does not matter."""
    telemetry.setup_logging("bench", "INFO")
    handler = logging.getLogger().handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - open as long as the process
    telemetry.setup_tracing("bench", "bench")


async def main(calls: int, in_flight: int, rounds: int) -> None:
    like_a_service()
    with tempfile.TemporaryDirectory() as directory:
        tokens = TokenFactory.in_directory(Path(directory))
        jwks = authn.JwksCache(authn.jwks_from_file(tokens.jwks_file))
        verifier = authn.TokenVerifier(jwks)
        token = tokens.mint("users/bench")
        servers = stacks(verifier)
        best: dict[str, float] = {}
        alone: dict[str, float] = {}
        for _ in range(rounds):
            for name, hook_list in servers.items():
                seconds = await cpu_per_call(hook_list, token, calls, in_flight)
                best[name] = min(best.get(name, seconds), seconds)
                seconds = await cpu_without_grpc(hook_list, token, TIGHT_LOOP_CALLS)
                alone[name] = min(alone.get(name, seconds), seconds)
        cold, cached = await verify_cost(authn.TokenVerifier(jwks), tokens, 500)
    report(best, alone, (cold, cached), calls, in_flight, rounds)


def report(
    best: dict[str, float], alone: dict[str, float], verification: tuple[float, float],
    calls: int, in_flight: int, rounds: int,
) -> None:  # fmt: skip
    bare = best["bare"]
    print(f"{calls} unary {METHOD} calls, {in_flight} in flight, best of {rounds} rounds")
    print(
        f"{'server':<18} {'CPU/call µs':>12} {'kit adds µs':>12} {'step µs':>9} {'no gRPC µs':>11}"
    )
    previous = bare
    for name, seconds in best.items():
        step = "" if name in ("bare", "kit (hook_stack)") else f"{(seconds - previous) * 1e6:9.1f}"
        if name not in ("bare", "kit (hook_stack)"):
            previous = seconds
        print(
            f"{name:<18} {seconds * 1e6:12.1f} {(seconds - bare) * 1e6:12.1f} {step:>9}"
            f" {alone[name] * 1e6:11.1f}"
        )
    added = (best["kit (hook_stack)"] - bare) * 1e6
    verdict = "within" if added <= BUDGET_US else "OVER"
    print(f"kit per call: {added:.1f} µs of CPU, {verdict} the {BUDGET_US:.0f} µs budget")
    print(f"kit per call without gRPC: {(alone['kit (hook_stack)'] - alone['bare']) * 1e6:.1f} µs")
    cold, cached = verification
    print(f"token verification: fresh {cold:.1f} µs, cached {cached:.1f} µs ({cold / cached:.0f}x)")


def _args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=4000)
    parser.add_argument("--in-flight", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    return parser.parse_args(argv)


if __name__ == "__main__":
    arguments = _args()
    asyncio.run(main(arguments.calls, arguments.in_flight, arguments.rounds))
