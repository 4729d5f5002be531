"""The drift check that keeps gen/ honest: it must pass on the tree as committed and fail as
soon as a contract changes without `make gen`."""

from __future__ import annotations

import shutil
from pathlib import Path

from tools import protogen


def _copy_protos(tmp_path: Path) -> Path:
    copy = tmp_path / "protos"
    shutil.copytree(protogen.PROTOS, copy)
    return copy


def test_committed_gen_matches_protos(tmp_path: Path):
    assert protogen.check(_copy_protos(tmp_path), protogen.GEN) == []


def test_changed_proto_without_regeneration_is_drift(tmp_path: Path):
    protos = _copy_protos(tmp_path)
    ops = protos / "voka" / "ops" / "v1" / "ops.proto"
    ops.write_text(
        ops.read_text().replace(
            "message GetHealthResponse {",
            "message GetHealthResponse {\n  // Added without make gen.\n  string note = 2;",
        )
    )
    drift = protogen.check(protos, protogen.GEN)
    assert "voka/ops/v1/ops_pb2.py (changed)" in drift
    assert "voka.binpb (changed)" in drift


def test_new_proto_without_regeneration_is_drift(tmp_path: Path):
    protos = _copy_protos(tmp_path)
    extra = protos / "voka" / "ops" / "v1" / "extra.proto"
    extra.write_text('syntax = "proto3";\npackage voka.ops.v1;\nmessage Extra {}\n')
    drift = protogen.check(protos, protogen.GEN)
    assert "voka/ops/v1/extra_pb2.py (only in fresh output)" in drift


def test_deleted_proto_leaves_stale_stubs(tmp_path: Path):
    protos = _copy_protos(tmp_path)
    (protos / "voka" / "ops" / "v1" / "events.proto").unlink()
    drift = protogen.check(protos, protogen.GEN)
    assert "voka/ops/v1/events_pb2.py (stale, not generated any more)" in drift
