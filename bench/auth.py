"""Logins/s and token verifications/s: in the service (voka.authn) vs at Envoy's edge (jwt_authn).

    PYTHONPATH=.:gen .venv/bin/python -m bench.auth [--seconds 4] [--clients 8]

Starts the whole mesh (tools.mesh.Mesh, as `make up` runs it) on free ports in a temporary
directory, with Envoy's edge rate limit lifted so the benchmark measures work rather than the
token bucket, then measures in one run, each phase bounded by time:

* logins/s: REST `POST /api/v1/auth/login` through Envoy and gRPC `AuthService.Login` straight to
  the service, `--clients` concurrent callers each;
* verifications/s in a service: `TokenVerifier.verify` in a loop with a warm JWKS cache, the check
  every service runs on every call;
* verifications/s at the edge: requests/s of `GET /api/v1/users/me` refused by Envoy itself,
  once with no token (no crypto: "Jwt is missing") and once with a token under the ring's `kid`
  but signed by another key (Envoy parses it and checks the Ed25519 signature, then refuses), so
  the difference is jwt_authn's own cost with no upstream involved; plus the same route with a
  valid token (edge check, auth service check, database) and a public route for scale;
* API keys at another service: `GET /api/v1/translate/translations` with an `x-api-key` (the
  edge lets it through, translate's kit resolves it through auth once and then from its cache)
  against the same route with a JWT (edge check, kit check).

Loopback only; load comes from `--workers` processes so the Python client is less of a ceiling
(on a 2-core machine the client and Envoy still share the CPU: read edge figures as lower
bounds). Stops the mesh by itself.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.auth.keys import KeyRing
from tools.mesh import Mesh, Ports
from voka.auth.v1 import auth_pb2, auth_pb2_grpc
from voka.authn import AUDIENCE, ISSUER, JwksCache, TokenVerifier, jwks_from_auth_service

# High enough that Envoy's token bucket never refuses a benchmark request.
UNLIMITED = (1_000_000, 1.0)
ME = "/api/v1/users/me"
TRANSLATIONS = "/api/v1/translate/translations"
NO_TOKEN = "edge: no token (401, no crypto)"
FORGED = "edge: verify + refuse (401, Ed25519)"
IN_SERVICE = "verify, in-service (voka.authn)"
# (label, path, headers, the status that counts)
EdgeCase = tuple[str, str, Mapping[str, str], int]


@dataclass(frozen=True)
class Figure:
    """One measured rate."""

    label: str
    count: int
    seconds: float
    note: str = ""

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


@dataclass(frozen=True)
class Account:
    username: str
    password: str
    access_token: str
    api_key: str


# --- logins ------------------------------------------------------------------------------------


def register(rest_url: str) -> Account:
    """One fresh account (per-address registration limits allow a few per window)."""
    name = f"bench{uuid.uuid4().hex[:10]}"
    password = f"pw-{uuid.uuid4().hex}"
    with httpx.Client(base_url=rest_url, timeout=30) as client:
        body = {"username": name, "email": f"{name}@example.com", "password": password}
        client.post("/api/v1/auth/register", json=body).raise_for_status()
        login = client.post("/api/v1/auth/login", json={"username": name, "password": password})
        login.raise_for_status()
        token = login.json()["accessToken"]
        key = client.post(
            "/api/v1/users/me/api-keys",
            json={"displayName": "bench"},
            headers={"authorization": f"Bearer {token}"},
        )
        key.raise_for_status()
        return Account(name, password, token, key.json()["secret"])


async def _for(seconds: float, clients: int, once: Callable[[], Awaitable[bool]]) -> int:
    """Successful calls of `once` by `clients` concurrent callers until the deadline."""
    deadline = time.monotonic() + seconds

    async def caller() -> int:
        done = 0
        while time.monotonic() < deadline:
            done += await once()
        return done

    return sum(await asyncio.gather(*(caller() for _ in range(clients))))


async def rest_logins(rest_url: str, account: Account, seconds: float, clients: int) -> Figure:
    body = {"username": account.username, "password": account.password}
    limits = httpx.Limits(max_connections=clients)
    async with httpx.AsyncClient(base_url=rest_url, timeout=30, limits=limits) as client:

        async def once() -> bool:
            return (await client.post("/api/v1/auth/login", json=body)).status_code == 200

        start = time.monotonic()
        count = await _for(seconds, clients, once)
        return Figure("logins, REST via Envoy", count, time.monotonic() - start, "argon2 verify")


async def grpc_logins(address: str, account: Account, seconds: float, clients: int) -> Figure:
    request = auth_pb2.LoginRequest(username=account.username, password=account.password)
    async with grpc.aio.insecure_channel(address) as channel:
        stub = auth_pb2_grpc.AuthServiceStub(channel)

        async def once() -> bool:
            await stub.Login(request, timeout=30)
            return True

        start = time.monotonic()
        count = await _for(seconds, clients, once)
        return Figure("logins, gRPC direct", count, time.monotonic() - start, "argon2 verify")


# --- verification in the service ---------------------------------------------------------------


async def in_service_verifications(auth_address: str, token: str, seconds: float) -> Figure:
    """voka.authn's check, one core, JWKS cache warmed by a first verify."""
    verifier = TokenVerifier(JwksCache(jwks_from_auth_service(auth_address)))
    await verifier.verify(token)
    count, start = 0, time.monotonic()
    deadline = start + seconds
    while time.monotonic() < deadline:
        for _ in range(100):
            await verifier.verify(token)
        count += 100
    return Figure(IN_SERVICE, count, time.monotonic() - start, "1 core")


# --- the edge ---------------------------------------------------------------------------------


def _hammer(port: int, path: str, headers: Mapping[str, str], seconds: float) -> dict[int, int]:
    """One keep-alive HTTP/1.1 connection in a loop; counts by status. Runs in a worker."""
    statuses: dict[int, int] = {}
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        connection.request("GET", path, headers=dict(headers))
        response = connection.getresponse()
        response.read()
        statuses[response.status] = statuses.get(response.status, 0) + 1
    connection.close()
    return statuses


def edge_rate(
    pool: ProcessPoolExecutor,
    port: int,
    case: tuple[str, str, Mapping[str, str], int],
    **run: float,
) -> Figure:
    """Requests/s of one case over `workers` processes; only the expected status counts."""
    label, path, headers, expected = case
    workers, seconds = int(run["workers"]), run["seconds"]
    start = time.monotonic()
    futures = [pool.submit(_hammer, port, path, headers, seconds) for _ in range(workers)]
    results = [f.result() for f in futures]
    elapsed = time.monotonic() - start
    count = sum(r.get(expected, 0) for r in results)
    others = sum(n for r in results for s, n in r.items() if s != expected)
    note = f"HTTP {expected}" + (f", {others} other" if others else "")
    return Figure(label, count, elapsed, note)


def foreign_token(keys_dir: Path) -> str:
    """Well-formed, unexpired, under the ring's current kid, but signed by another key."""
    kid = KeyRing.open(keys_dir, retire_after=900).current.kid
    now = int(time.time())
    claims: dict[str, str | int] = {"iss": ISSUER, "aud": AUDIENCE, "sub": "users/x"}
    claims |= {"jti": "bench", "iat": now, "exp": now + 600}
    key = Ed25519PrivateKey.generate()
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid})


def edge_cases(account: Account, keys_dir: Path) -> list[EdgeCase]:
    bearer = {"authorization": f"Bearer {account.access_token}"}
    forged = {"authorization": f"Bearer {foreign_token(keys_dir)}"}
    return [
        (NO_TOKEN, ME, {}, 401),
        (FORGED, ME, forged, 401),
        ("edge: valid token -> auth service", ME, bearer, 200),
        ("public route -> service (no JWT)", "/api/v1/health/auth", {}, 200),
        ("JWT -> translate (edge + kit verify)", TRANSLATIONS, bearer, 200),
        ("API key -> translate (kit cache)", TRANSLATIONS, {"x-api-key": account.api_key}, 200),
    ]


# --- the run ------------------------------------------------------------------------------------


def table(figures: Sequence[Figure]) -> str:
    width = max(len(f.label) for f in figures)
    rows = [f"{'measure':<{width}}  {'count':>7}  {'seconds':>7}  {'per s':>9}  note"]
    rows += [
        f"{f.label:<{width}}  {f.count:>7}  {f.seconds:>7.2f}  {f.rate:>9.1f}  {f.note}"
        for f in figures
    ]
    return "\n".join(rows)


def edge_cost_us(missing: Figure, verified: Figure) -> float:
    """Extra microseconds per request that signature verification costs at the edge."""
    if not missing.rate or not verified.rate:
        return 0.0
    return (1 / verified.rate - 1 / missing.rate) * 1e6


async def measure(mesh: Mesh, args: argparse.Namespace) -> list[Figure]:
    account = register(mesh.rest_url)
    auth = mesh.service_address("auth")
    figures = [
        await rest_logins(mesh.rest_url, account, args.seconds, args.clients),
        await grpc_logins(auth, account, args.seconds, args.clients),
        await in_service_verifications(auth, account.access_token, args.seconds),
    ]
    run = {"workers": float(args.workers), "seconds": args.seconds}
    with ProcessPoolExecutor(args.workers) as pool:
        for case in edge_cases(account, mesh.var / "auth" / "keys"):
            figures.append(edge_rate(pool, mesh.ports.envoy, case, **run))
    return figures


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="per phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent login callers")
    parser.add_argument("--workers", type=int, default=2, help="edge load processes")
    parser.add_argument("--json", action="store_true", help="also print figures as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = parse(argv)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="voka-bench-auth-") as var:
        print("starting the mesh ...", flush=True)
        with Mesh(
            Path(var),
            Ports.free(),
            {"VOKA_RATE_LIMIT_PER_SECOND": "0"},  # the kit's per-user limit too
            envoy_options={"rate_limit": UNLIMITED},
        ) as mesh:
            figures = asyncio.run(measure(mesh, args))
    print(table(figures))
    by_label = {f.label: f for f in figures}
    cost = edge_cost_us(by_label[NO_TOKEN], by_label[FORGED])
    verify = by_label[IN_SERVICE]
    print(f"\nin-service verify: {1e6 / verify.rate:.0f} us per token (Python, PyJWT)")
    print(f"edge verify: ~{cost:.0f} us extra per request over a no-token refusal (Envoy)")
    if args.json:
        print(json.dumps([{"label": f.label, "per_s": round(f.rate, 1)} for f in figures]))
    print(f"total {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
