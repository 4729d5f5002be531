"""The kinect service through gRPC: which source answers, recorded frames through the real
libfreenect adapter, the synthetic scene, stream rate, limits and cancellation, snapshots,
tilt and LED validation, and access (driving the device needs the operator role)."""

from __future__ import annotations

import asyncio
import io
import time

import grpc
import numpy as np
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from PIL import Image

from tests.fixtures.tokens import TokenFactory
from tests.services.kinect.conftest import MAX_STREAMS, MAX_STREAMS_PER_USER
from voka.kinect.v1 import kinect_pb2

pytestmark = pytest.mark.integration


def fields(err: grpc.aio.AioRpcError) -> list[str]:
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad = error_details_pb2.BadRequest()
    assert rpc_status.from_call(err).details[0].Unpack(bad)
    return [v.field for v in bad.field_violations]


def operator(tokens: TokenFactory, who: str = "operator") -> tuple[tuple[str, str]]:
    """A caller an admin made an operator: it may tilt, light and stream."""
    return tokens.metadata(subject=f"users/{who}", roles=("operator",))


async def frames(stub, tokens, **ask) -> list[kinect_pb2.Frame]:
    stream = stub.StreamFrames(kinect_pb2.StreamFramesRequest(**ask), metadata=operator(tokens))
    return [reply.frame async for reply in stream]


# --- which source ------------------------------------------------------------------------------


async def test_auto_without_kinect_or_recording_says_synthetic_and_why(synthetic, tokens):
    status = await synthetic.GetStatus(kinect_pb2.GetStatusRequest(), metadata=tokens.metadata())
    assert status.source == kinect_pb2.FRAME_SOURCE_SYNTHETIC
    assert status.connected
    assert status.device_count == 1
    assert status.driver_available  # libfreenect loads here; there is just no Kinect
    assert "no Kinect found" in status.fallback_reason
    assert status.device.name == "devices/0"
    assert status.device.serial == "synthetic"
    assert status.device.source == kinect_pb2.FRAME_SOURCE_SYNTHETIC


async def test_recording_says_recorded(recorded, recording, tokens):
    status = await recorded.GetStatus(kinect_pb2.GetStatusRequest(), metadata=tokens.metadata())
    assert status.source == kinect_pb2.FRAME_SOURCE_RECORDED
    assert status.fallback_reason == "configured: VOKA_KINECT_SOURCE=recorded"
    assert status.device.serial == f"recorded:{recording[0].resolve()}"
    listed = await recorded.ListDevices(kinect_pb2.ListDevicesRequest(), metadata=tokens.metadata())
    assert [d.name for d in listed.devices] == ["devices/0"]
    assert listed.total_size == 1


# --- recorded frames through libfreenect -------------------------------------------------------


async def test_recorded_frames_arrive_with_their_recorded_values(recorded, recording, tokens):
    """More frames than the recording holds: fakenect 0.5.3 plays once, the service loops it."""
    _, scenes, stamps = recording
    got = await frames(
        recorded,
        tokens,
        types=[kinect_pb2.FRAME_TYPE_DEPTH, kinect_pb2.FRAME_TYPE_RGB],
        depth_format=kinect_pb2.FRAME_FORMAT_DEPTH_11BIT,
        max_frames=10,
    )
    assert {f.source for f in got} == {kinect_pb2.FRAME_SOURCE_RECORDED}
    depths = [f for f in got if f.type == kinect_pb2.FRAME_TYPE_DEPTH]
    assert len(depths) >= 4  # beyond the 3 recorded: the replay looped
    for frame in got:
        scene = scenes[stamps.index(frame.device_timestamp)]
        expected = scene.depth if frame.type == kinect_pb2.FRAME_TYPE_DEPTH else scene.rgb
        assert (frame.width, frame.height) == (640, 480)
        assert (
            frame.data
            == np.ascontiguousarray(expected).astype(expected.dtype.newbyteorder("<")).tobytes()
        )


async def test_recorded_depth_in_millimetres_has_no_reading_as_zero(recorded, tokens):
    (frame,) = await frames(recorded, tokens, max_frames=1, downsample=4)
    assert frame.format == kinect_pb2.FRAME_FORMAT_DEPTH_MM
    assert (frame.width, frame.height) == (160, 120)
    mm = np.frombuffer(frame.data, "<u2").reshape(120, 160)
    assert mm[0, 0] == 0  # 2047 in the recording
    assert 300 < mm[10, 10] < 10_000


async def test_recorded_motor_is_read_through_libfreenect(recorded, tokens):
    """A frame first, so the replay has passed an accelerometer entry. fakenect plays a
    recording once, and the service restarts the capture process to loop it: a motor read
    that lands just after such a restart sees no entry yet (zeros), so read again after the
    next frame, a few times at most."""

    async def device() -> kinect_pb2.Device:
        await frames(recorded, tokens, max_frames=1)
        request = kinect_pb2.GetDeviceRequest(name="devices/0")
        return (await recorded.GetDevice(request, metadata=tokens.metadata())).device

    for _ in range(5):
        got = await device()
        if got.accelerometer.y:
            break
    assert got.connected, got
    assert got.accelerometer.y == pytest.approx(9.80665, abs=0.01)
    assert got.tilt_degrees == 5.0  # 10 half-degrees


# --- synthetic scene and streams ---------------------------------------------------------------


async def test_synthetic_stream_keeps_the_asked_rate(synthetic, tokens):
    started = time.monotonic()
    got = await frames(synthetic, tokens, fps=5, max_frames=4, downsample=8)
    elapsed = time.monotonic() - started
    assert [f.sequence for f in got] == [1, 2, 3, 4]
    assert 0.5 < elapsed < 3.0  # three intervals of 0.2 s, not four frames at 30 fps
    assert {(f.width, f.height, f.source) for f in got} == {
        (80, 60, kinect_pb2.FRAME_SOURCE_SYNTHETIC)
    }
    mm = np.frombuffer(got[0].data, "<u2")
    assert 1000 < np.median(mm) < 4000  # the wall, 2.5 to 3.8 m


async def test_cancelled_stream_is_released(synthetic, tokens):
    stream = synthetic.StreamFrames(
        kinect_pb2.StreamFramesRequest(fps=30), metadata=operator(tokens)
    )
    await stream.read()
    device = await synthetic.GetDevice(
        kinect_pb2.GetDeviceRequest(name="devices/0"), metadata=tokens.metadata()
    )
    assert device.device.active_streams == 1
    stream.cancel()
    for _ in range(50):
        device = await synthetic.GetDevice(
            kinect_pb2.GetDeviceRequest(name="devices/0"), metadata=tokens.metadata()
        )
        if device.device.active_streams == 0:
            break
        await asyncio.sleep(0.05)
    assert device.device.active_streams == 0


async def test_streams_beyond_the_limit_are_resource_exhausted(synthetic, tokens):
    opened = [
        synthetic.StreamFrames(
            kinect_pb2.StreamFramesRequest(fps=1, downsample=8),
            metadata=operator(tokens, f"operator{i}"),  # one stream each: no user's own limit
        )
        for i in range(MAX_STREAMS)
    ]
    try:
        for stream in opened:
            await stream.read()
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await frames(synthetic, tokens, max_frames=1)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    finally:
        for stream in opened:
            stream.cancel()


async def test_one_user_cannot_hold_every_stream_slot(synthetic, tokens):
    assert MAX_STREAMS_PER_USER < MAX_STREAMS
    opened = [
        synthetic.StreamFrames(
            kinect_pb2.StreamFramesRequest(fps=1, downsample=8), metadata=operator(tokens, "hog")
        )
        for _ in range(MAX_STREAMS_PER_USER)
    ]
    try:
        for stream in opened:
            await stream.read()
        hog = operator(tokens, "hog")
        ask = kinect_pb2.StreamFramesRequest(max_frames=1, downsample=8)
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            async for _ in synthetic.StreamFrames(ask, metadata=hog):
                pass
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "per user" in (refused.value.details() or "")
        # Another operator still finds a slot.
        ask = kinect_pb2.StreamFramesRequest(max_frames=1, downsample=8)
        other = [r async for r in synthetic.StreamFrames(ask, metadata=operator(tokens, "other"))]
        assert len(other) == 1
    finally:
        for stream in opened:
            stream.cancel()


async def test_stream_request_is_validated_field_by_field(synthetic, tokens):
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await frames(
            synthetic, tokens, fps=31, downsample=3, depth_format=kinect_pb2.FRAME_FORMAT_JPEG
        )
    assert fields(bad.value) == ["downsample", "fps", "depth_format"]


# --- snapshots ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ask", "content_type", "mode", "size"),
    [
        ({}, "image/png", "I;16", (640, 480)),
        ({"colorize": True, "downsample": 2}, "image/png", "RGB", (320, 240)),
        ({"type": kinect_pb2.FRAME_TYPE_RGB}, "image/png", "RGB", (640, 480)),
        (
            {"type": kinect_pb2.FRAME_TYPE_RGB, "format": kinect_pb2.FRAME_FORMAT_JPEG},
            "image/jpeg",
            "RGB",
            (640, 480),
        ),
    ],
)
async def test_snapshot_is_a_valid_image(synthetic, tokens, ask, content_type, mode, size):
    body = await synthetic.GetSnapshot(
        kinect_pb2.GetSnapshotRequest(**ask), metadata=tokens.metadata()
    )
    assert body.content_type == content_type
    image = Image.open(io.BytesIO(body.data))
    image.load()
    assert (image.mode, image.size) == (mode, size)


async def test_recorded_snapshot_png_holds_the_recorded_millimetres(recorded, recording, tokens):
    body = await recorded.GetSnapshot(kinect_pb2.GetSnapshotRequest(), metadata=tokens.metadata())
    assert body.data.startswith(b"\x89PNG")
    pixels = np.array(Image.open(io.BytesIO(body.data)))
    assert pixels[0, 0] == 0
    assert pixels.shape == (480, 640)


async def test_jpeg_depth_snapshot_names_the_field(synthetic, tokens):
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await synthetic.GetSnapshot(
            kinect_pb2.GetSnapshotRequest(format=kinect_pb2.FRAME_FORMAT_JPEG),
            metadata=tokens.metadata(),
        )
    assert fields(bad.value) == ["format"]


# --- tilt and LED ------------------------------------------------------------------------------


@pytest.mark.parametrize("degrees", [27.5, -28.0, float("nan")])
async def test_tilt_outside_the_range_names_the_field(synthetic, tokens, degrees):
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await synthetic.SetTilt(
            kinect_pb2.SetTiltRequest(tilt_degrees=degrees), metadata=operator(tokens)
        )
    assert fields(bad.value) == ["tilt_degrees"]


async def test_an_operator_tilts_and_lights_the_stand_in(synthetic, tokens):
    """SetTilt and SetLed need the operator role (or admin), not the admin role."""
    user = operator(tokens)
    tilted = await synthetic.SetTilt(kinect_pb2.SetTiltRequest(tilt_degrees=-12.5), metadata=user)
    assert tilted.device.tilt_degrees == -12.5 == tilted.device.target_tilt_degrees
    assert (
        tilted.device.tilt_status == kinect_pb2.TILT_STATUS_STOPPED
    )  # a stand-in takes it at once
    lit = await synthetic.SetLed(
        kinect_pb2.SetLedRequest(led=kinect_pb2.LED_STATE_BLINK_GREEN), metadata=user
    )
    assert lit.device.led == kinect_pb2.LED_STATE_BLINK_GREEN
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await synthetic.SetLed(kinect_pb2.SetLedRequest(), metadata=user)
    assert fields(bad.value) == ["led"]


async def test_a_plain_user_may_look_but_not_drive_the_device(synthetic, tokens):
    user = tokens.metadata(subject="users/plain", roles=("user",))
    await synthetic.GetStatus(kinect_pb2.GetStatusRequest(), metadata=user)
    await synthetic.GetSnapshot(kinect_pb2.GetSnapshotRequest(downsample=8), metadata=user)
    calls = [
        synthetic.SetTilt(kinect_pb2.SetTiltRequest(tilt_degrees=5), metadata=user),
        synthetic.SetLed(kinect_pb2.SetLedRequest(led=kinect_pb2.LED_STATE_RED), metadata=user),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert "operator" in (refused.value.details() or "")
    ask = kinect_pb2.StreamFramesRequest(max_frames=1)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in synthetic.StreamFrames(ask, metadata=user):
            pass
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_an_admin_drives_the_device_without_the_operator_role(synthetic, tokens):
    admin = tokens.metadata(subject="users/root", roles=("admin",))
    tilted = await synthetic.SetTilt(kinect_pb2.SetTiltRequest(tilt_degrees=3), metadata=admin)
    assert tilted.device.tilt_degrees == 3
    ask = kinect_pb2.StreamFramesRequest(max_frames=1, downsample=8)
    assert len([r async for r in synthetic.StreamFrames(ask, metadata=admin)]) == 1


async def test_unknown_device_is_not_found_and_a_bad_name_invalid(synthetic, tokens):
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await synthetic.GetDevice(
            kinect_pb2.GetDeviceRequest(name="devices/4"), metadata=tokens.metadata()
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await synthetic.SetTilt(
            kinect_pb2.SetTiltRequest(name="cameras/0"), metadata=operator(tokens)
        )
    assert fields(bad.value) == ["name"]


# --- access ------------------------------------------------------------------------------------


async def test_anonymous_callers_are_refused_everywhere(synthetic):
    calls = [
        synthetic.GetStatus(kinect_pb2.GetStatusRequest()),
        synthetic.ListDevices(kinect_pb2.ListDevicesRequest()),
        synthetic.GetDevice(kinect_pb2.GetDeviceRequest(name="devices/0")),
        synthetic.SetTilt(kinect_pb2.SetTiltRequest(tilt_degrees=5)),
        synthetic.SetLed(kinect_pb2.SetLedRequest(led=kinect_pb2.LED_STATE_RED)),
        synthetic.GetSnapshot(kinect_pb2.GetSnapshotRequest()),
    ]
    for call in calls:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await call
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        async for _ in synthetic.StreamFrames(kinect_pb2.StreamFramesRequest(max_frames=1)):
            pass
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
