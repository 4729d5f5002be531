"""The console's files compressed by Envoy (gateway/compression.py): through a real Envoy, an
asset asked for with `Accept-Encoding: gzip` comes back gzip-encoded with `Vary`, and the same
bytes once decompressed; brotli when preferred; as is when asked for identity or too small;
and only the console's and the docs' routes switch the compressors on."""

from __future__ import annotations

import gzip
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.compression import BROTLI_FILTER, GZIP_FILTER, MIN_CONTENT_BYTES
from gateway.config import build_config
from gateway.web import WebAssets
from tests.gateway.envoy import envoy_in_front
from tests.gateway.test_config import DESCRIPTOR_SET, UPSTREAMS, free_port
from tests.gateway.test_web import a_build

pytestmark = pytest.mark.integration

ASSET = "/assets/index-abc.js"
# A bundle-like script: repetitive enough to compress well, varied enough to be real work.
SCRIPT = "\n".join(
    f"export const value{n} = {random.Random(n).randint(0, 10**6)}; // voka console"
    for n in range(2000)
)


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Envoy serving a build with a 100 KB script; no service behind it is needed."""
    dist = a_build(tmp_path_factory.mktemp("dist"), {ASSET.lstrip("/"): SCRIPT})
    var = tmp_path_factory.mktemp("envoy")
    with envoy_in_front(
        DESCRIPTOR_SET, ["auth"], free_port(), var, web=WebAssets(dist)
    ) as url:  # fmt: skip
        yield url


def _get(url: str, accept_encoding: str) -> tuple[httpx.Headers, bytes]:
    """The answer's headers and its body as Envoy sent it (httpx would decode it on read)."""
    headers = {"accept-encoding": accept_encoding}  # else httpx asks for gzip by itself
    with httpx.Client(timeout=10) as http, http.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        return response.headers, b"".join(response.iter_raw())


def test_an_asset_asked_for_gzip_comes_back_gzip_and_decompresses_to_the_same_bytes(console: str):
    headers, raw = _get(console + ASSET, "gzip")
    assert headers["content-encoding"] == "gzip"
    assert "accept-encoding" in headers["vary"].lower()
    assert gzip.decompress(raw) == SCRIPT.encode()
    assert len(raw) < len(SCRIPT) / 2
    assert headers["cache-control"].startswith("public, max-age=31536000")


def test_brotli_is_chosen_when_the_browser_prefers_it(console: str):
    headers, raw = _get(console + ASSET, "gzip;q=0.5, br")
    assert headers["content-encoding"] == "br"
    assert 0 < len(raw) < len(SCRIPT) / 2  # no brotli decoder here: its size says it is encoded


def test_asked_for_identity_the_asset_comes_as_is(console: str):
    headers, raw = _get(console + ASSET, "identity")
    assert "content-encoding" not in headers
    assert raw == SCRIPT.encode()


def test_a_file_below_the_threshold_is_not_compressed(console: str):
    headers, raw = _get(console + "/favicon.svg", "gzip")
    assert len("<svg/>") < MIN_CONTENT_BYTES
    assert "content-encoding" not in headers
    assert raw == b"<svg/>"


def test_only_the_console_and_docs_routes_switch_the_compressors_on(tmp_path: Path):
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, web=WebAssets(a_build(tmp_path)))
    (listener,) = config["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    filters = {f["name"]: f for f in hcm["http_filters"]}
    assert filters[BROTLI_FILTER]["disabled"]
    assert filters[GZIP_FILTER]["disabled"]
    for route in hcm["route_config"]["virtual_hosts"][0]["routes"]:
        on = route.get("typed_per_filter_config", {}).get(GZIP_FILTER, {}).get("disabled") is False
        assert on == route["name"].startswith(("web ", "docs ")), route["name"]
