"""The kinect service through Envoy's REST mapping, as `make up` runs it: no Kinect and no
recording here, so the synthetic stand-in answers and says so. One fresh user makes at most
five kinect calls (the mesh gives kinect a burst of 5, see conftest.py)."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from tests.e2e.conftest import sign_in
from tests.e2e.test_webhooks import admin
from tools.mesh import Mesh

pytestmark = pytest.mark.integration


def test_status_snapshot_stream_and_tilt_over_rest(rest: httpx.Client, mesh: Mesh):
    headers = admin(rest, mesh)  # frame streams and the motor are for operators and admins
    status = rest.get("/api/v1/kinect/status", headers=headers)
    assert status.status_code == 200, status.text
    assert status.json()["source"] == "FRAME_SOURCE_SYNTHETIC"
    assert status.json()["fallbackReason"]

    snapshot = rest.get("/api/v1/kinect/snapshot", params={"downsample": 4}, headers=headers)
    assert snapshot.status_code == 200
    assert snapshot.headers["content-type"] == "image/png"
    assert snapshot.content.startswith(b"\x89PNG")

    params = {"maxFrames": 2, "fps": 10, "downsample": 8}
    stream = rest.get("/api/v1/kinect/stream", params=params, headers=headers)
    assert stream.status_code == 200, stream.text
    events = [json.loads(line[5:]) for line in stream.text.splitlines() if line.startswith("data:")]
    frames = [event["frame"] for event in events]
    assert [f["sequence"] for f in frames] == ["1", "2"]
    assert {f["source"] for f in frames} == {"FRAME_SOURCE_SYNTHETIC"}
    assert len(base64.b64decode(frames[0]["data"])) == 80 * 60 * 2  # DEPTH_MM, 640/8 x 480/8

    tilt = rest.post("/api/v1/kinect/tilt", json={"tiltDegrees": 40}, headers=headers)
    assert tilt.status_code == 400
    assert tilt.json()["details"][0]["fieldViolations"][0]["field"] == "tilt_degrees"


def test_the_motor_is_not_for_every_user(rest: httpx.Client):
    tilt = rest.post("/api/v1/kinect/tilt", json={"tiltDegrees": 5}, headers=sign_in(rest))
    assert tilt.status_code == 403, tilt.text


def test_kinect_refuses_anonymous_callers(rest: httpx.Client):
    assert rest.get("/api/v1/kinect/snapshot").status_code == 401
