"""Compressed answers for the console's files and the API reference (gateway/web.py, `/docs`).

Envoy's compressor filter, twice: brotli and gzip, each answering a request whose
`Accept-Encoding` names its encoding (the higher q-value wins when both are named; brotli is
listed first, so it wins a tie). The filters compress as the body passes, add
`Vary: Accept-Encoding`, and leave alone what is already encoded or below MIN_CONTENT_BYTES.

They are off by default and switched on per route, only on the routes whose whole body Envoy
has at hand (the direct responses of the console and the docs): a compressor holds data until
its window fills, which would stall an API's server stream (SSE, a streamed JSON array), and
gRPC has its own compression.
"""

from __future__ import annotations

from typing import Any

from gateway.web import CONTENT_TYPES

JSON = dict[str, Any]

_TYPE = "type.googleapis.com/"
BROTLI_FILTER = "envoy.filters.http.compressor.brotli"
GZIP_FILTER = "envoy.filters.http.compressor.gzip"
# Smaller bodies gain less than the encoding's own overhead.
MIN_CONTENT_BYTES = 256
# The text types of the console's files: images, fonts and audio are compressed already.
COMPRESSIBLE_TYPES = sorted(
    {
        value.split(";")[0]
        for value in CONTENT_TYPES.values()
        if value.startswith(("text/", "application/")) or value == "image/svg+xml"
    }
)
# Brotli at quality 5: 11 costs far more per request for the little it adds;
# gzip at its default level.
BROTLI_QUALITY = 5


def _compressor(name: str, library_name: str, library_type: str, **library: Any) -> JSON:
    return {
        "name": name,
        "disabled": True,
        "typed_config": {
            "@type": _TYPE + "envoy.extensions.filters.http.compressor.v3.Compressor",
            "response_direction_config": {
                "common_config": {
                    "min_content_length": MIN_CONTENT_BYTES,
                    "content_type": COMPRESSIBLE_TYPES,
                }
            },
            "compressor_library": {
                "name": library_name,
                "typed_config": {"@type": _TYPE + library_type, **library},
            },
        },
    }


def compressor_filters() -> list[JSON]:
    """The two compressor filters of the listener, brotli first, both off until a route says."""
    return [
        _compressor(
            BROTLI_FILTER,
            "brotli",
            "envoy.extensions.compression.brotli.compressor.v3.Brotli",
            quality=BROTLI_QUALITY,
        ),
        _compressor(GZIP_FILTER, "gzip", "envoy.extensions.compression.gzip.compressor.v3.Gzip"),
    ]


def compression_on() -> JSON:
    """The `typed_per_filter_config` entries that switch both compressors on for one route."""
    # Envoy refuses a FilterConfig without a config; the overrides change nothing.
    unchanged = {
        "@type": _TYPE + "envoy.extensions.filters.http.compressor.v3.CompressorPerRoute",
        "overrides": {"response_direction_config": {}},
    }
    enabled = {
        "@type": _TYPE + "envoy.config.route.v3.FilterConfig",
        "disabled": False,
        "config": unchanged,
    }
    return {BROTLI_FILTER: enabled, GZIP_FILTER: enabled}
