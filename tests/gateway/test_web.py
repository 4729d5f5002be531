"""The web console's routes (gateway/web.py): which files of a build Envoy answers, where, with
which headers, and that Envoy accepts the routes. The console itself, served by the mesh's real
Envoy, is tested in tests/e2e/test_web_console.py."""

from __future__ import annotations

import json
from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from gateway.config import build_config
from gateway.web import (
    CONTENT_SECURITY_POLICY,
    IMMUTABLE,
    REVALIDATE,
    WebAssets,
    asset_files,
    served_files,
)
from tests.gateway.test_config import DESCRIPTOR_SET, UPSTREAMS, envoy_validate, free_port

INDEX = "<!doctype html><title>Voka</title><script type=module src=/assets/index-abc.js></script>"


def a_build(dist: Path, extra: dict[str, str] | None = None) -> Path:
    """A build shaped like Vite's: index.html, hashed assets, a top-level public file."""
    files = {
        "index.html": INDEX,
        "assets/index-abc.js": "console.log('voka')",
        "assets/index-def.css": "body{}",
        "favicon.svg": "<svg/>",
        **(extra or {}),
    }
    for name, content in files.items():
        path = dist / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return dist


def web_routes(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (listener,) = config["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    (host,) = hcm["route_config"]["virtual_hosts"]
    return {r["match"]["path"]: r for r in host["routes"] if r["name"].startswith("web ")}


def headers_of(route: dict[str, Any]) -> dict[str, str]:
    return {h["header"]["key"]: h["header"]["value"] for h in route["response_headers_to_add"]}


def test_a_vite_build_is_served_file_by_file(tmp_path: Path):
    dist = a_build(tmp_path)
    assert asset_files(dist) == [
        PurePosixPath("assets/index-abc.js"),
        PurePosixPath("assets/index-def.css"),
        PurePosixPath("favicon.svg"),
        PurePosixPath("index.html"),
    ]
    served = {f.path: f for f in served_files(WebAssets(dist))}
    assert sorted(served) == ["/", "/assets/index-abc.js", "/assets/index-def.css", "/favicon.svg"]
    assert served["/"].filename == str(dist.resolve() / "index.html")
    assert served["/assets/index-abc.js"].headers["content-type"].startswith("text/javascript")


def test_hashed_assets_are_immutable_and_the_page_is_revalidated_under_a_csp(tmp_path: Path):
    served = {f.path: f.headers for f in served_files(WebAssets(a_build(tmp_path)))}
    assert served["/assets/index-abc.js"]["cache-control"] == IMMUTABLE
    assert served["/"]["cache-control"] == REVALIDATE
    assert served["/favicon.svg"]["cache-control"] == REVALIDATE
    assert served["/"]["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY
    assert "'unsafe-inline'" not in CONTENT_SECURITY_POLICY
    assert "content-security-policy" not in served["/assets/index-abc.js"]
    assert all(h["x-content-type-options"] == "nosniff" for h in served.values())


def test_a_mount_directory_replaces_where_envoy_reads_the_files(tmp_path: Path):
    served = served_files(WebAssets(a_build(tmp_path), mount=PurePosixPath("/etc/envoy-web")))
    assert {f.filename for f in served} == {
        "/etc/envoy-web/index.html",
        "/etc/envoy-web/assets/index-abc.js",
        "/etc/envoy-web/assets/index-def.css",
        "/etc/envoy-web/favicon.svg",
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("translate", "only assets/ and top-level files"),  # would shadow LibreTranslate's path
        ("api/v1/x.js", "only assets/ and top-level files"),
        ("assets/tool.exe", "no content type known"),
        ("assets/README", "no content type known"),
    ],
)
def test_files_that_could_shadow_the_api_or_have_no_type_are_refused(
    tmp_path: Path, name: str, reason: str
):
    with pytest.raises(ValueError, match=reason):
        asset_files(a_build(tmp_path, {name: "x"}))


def test_a_directory_without_an_index_is_not_a_build(tmp_path: Path):
    (tmp_path / "assets").mkdir()
    assert not WebAssets(tmp_path).built()
    with pytest.raises(ValueError, match="npm run build"):
        asset_files(tmp_path)


def test_without_a_build_no_route_answers_the_root():
    assert web_routes(build_config(DESCRIPTOR_SET, UPSTREAMS)) == {}


def test_the_console_routes_come_first_and_match_get_only(tmp_path: Path):
    config = build_config(DESCRIPTOR_SET, UPSTREAMS, web=WebAssets(a_build(tmp_path)))
    routes = web_routes(config)
    assert sorted(routes) == ["/", "/assets/index-abc.js", "/assets/index-def.css", "/favicon.svg"]
    for route in routes.values():
        assert route["match"]["headers"] == [{"name": ":method", "string_match": {"exact": "GET"}}]
        assert route["direct_response"]["status"] == 200
    assert headers_of(routes["/"])["content-type"] == "text/html; charset=utf-8"
    (listener,) = config["static_resources"]["listeners"]
    hcm = listener["filter_chains"][0]["filters"][0]["typed_config"]
    names = [r["name"] for r in hcm["route_config"]["virtual_hosts"][0]["routes"]]
    last_web = max(i for i, name in enumerate(names) if name.startswith("web "))
    first_service = min(i for i, name in enumerate(names) if not name.startswith(("web ", "docs ")))
    assert last_web < first_service


def test_envoy_accepts_the_console_routes(tmp_path: Path):
    config = build_config(
        DESCRIPTOR_SET,
        UPSTREAMS,
        listen_port=free_port(),
        admin_port=free_port(),
        web=WebAssets(a_build(tmp_path / "dist")),
    )
    path = tmp_path / "envoy.json"
    path.write_text(json.dumps(config))
    result = envoy_validate(path)
    assert result.returncode == 0, result.stdout + result.stderr
