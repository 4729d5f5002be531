"""The web console's built assets (`web/dist`, from `npm run build`), answered by Envoy itself.

Each file becomes one exact-path GET route with a `direct_response` whose body is the file
(`filename`: Envoy reads it when it loads the config, so nothing beside Envoy serves files):
`/` answers `index.html`, every other file its own path. The console routes with the URL's
fragment (`/#/translate`), so no page path can shadow an API path such as LibreTranslate's
`/translate`; to keep it so, only `index.html`, files under `/assets/` and dotted top-level files
(`/favicon.svg`) are accepted, and anything else in the build is refused.

Caching: Vite names everything under `assets/` after its content hash, so those are immutable
for a year; `index.html` and the top-level files are revalidated on every load, so a new build
is picked up at once. Every answer carries `nosniff`, and the page a strict CSP: scripts, styles
and connections from this origin only (the gRPC-Web calls and the voice WebSocket), media and
images also from `blob:`/`data:` (recorded audio, synthesized speech, Kinect frames).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
WEB_DIST = ROOT / "web" / "dist"
INDEX_FILE = "index.html"
ASSETS_DIR = "assets"
# Envoy's route config raises the direct-response limit to 4 MiB (gateway/config.py); a bigger
# file is a build gone wrong (an unsplit bundle, a stray media file), refused here, not at load.
MAX_FILE_BYTES = 4 * 1024 * 1024
# A console build is a handful of files; thousands would be a wrong directory.
MAX_FILES = 200
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".wav": "audio/wav",
    ".txt": "text/plain; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' data: blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


@dataclass(frozen=True)
class WebAssets:
    """The built console in `dist`; Envoy reads the files from `mount` when given (the pod's
    unpacked copy, tools/k8s_gateway.py), else from `dist` itself."""

    dist: Path = WEB_DIST
    mount: PurePosixPath | None = None

    def built(self) -> bool:
        """Whether `npm run build` has written the console (its index page)."""
        return (self.dist / INDEX_FILE).is_file()


def asset_files(dist: Path) -> list[PurePosixPath]:
    """Every file of the build, relative to `dist`, sorted; ValueError for a file the console's
    routes must not carry (see the module's docstring) or one over the bounds."""
    if not (dist / INDEX_FILE).is_file():
        raise ValueError(f"no {INDEX_FILE} in {dist}: run `npm run build` in web/")
    files = sorted(PurePosixPath(p.relative_to(dist).as_posix()) for p in dist.rglob("*"))
    files = [f for f in files if (dist / f).is_file()]
    if len(files) > MAX_FILES:
        raise ValueError(f"{dist} holds {len(files)} files, more than {MAX_FILES}")
    for relative in files:
        _check(dist, relative)
    return files


def _check(dist: Path, relative: PurePosixPath) -> None:
    top_level = len(relative.parts) == 1
    if not (relative.parts[0] == ASSETS_DIR or (top_level and "." in relative.name)):
        raise ValueError(f"{relative}: the console serves only assets/ and top-level files")
    if relative.suffix not in CONTENT_TYPES:
        raise ValueError(f"{relative}: no content type known for {relative.suffix or 'no suffix'}")
    size = (dist / relative).stat().st_size
    if size > MAX_FILE_BYTES:
        raise ValueError(f"{relative} is {size} bytes, more than {MAX_FILE_BYTES}")


def url_path(relative: PurePosixPath) -> str:
    """Where a file is served: the index at `/`, anything else at its own path."""
    return "/" if str(relative) == INDEX_FILE else f"/{relative}"


class ServedFile(NamedTuple):
    """One file of the build as Envoy answers it: at `path`, read from `filename`, with
    `headers`."""

    path: str
    filename: str
    headers: dict[str, str]


def served_files(assets: WebAssets) -> list[ServedFile]:
    """Every file of the build with where and how Envoy answers it."""
    source = assets.mount or PurePosixPath(assets.dist.resolve().as_posix())
    return [
        ServedFile(url_path(relative), str(source / relative), _headers(relative))
        for relative in asset_files(assets.dist)
    ]


def _headers(relative: PurePosixPath) -> dict[str, str]:
    immutable = relative.parts[0] == ASSETS_DIR
    headers = {
        "content-type": CONTENT_TYPES[relative.suffix],
        "cache-control": IMMUTABLE if immutable else REVALIDATE,
        "x-content-type-options": "nosniff",
    }
    if relative.suffix == ".html":
        headers |= {
            "content-security-policy": CONTENT_SECURITY_POLICY,
            "referrer-policy": "no-referrer",
            "permissions-policy": "microphone=(self), camera=()",
        }
    return headers
