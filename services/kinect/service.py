"""The kinect service's wiring: the frame source chosen from configuration, the hub sharing
its capture loops, the device registry, the servicer, and the connected/disconnected events.

No Kinect has ever been attached to the machines this runs on in development or CI: there it
serves the synthetic scene, or a recording replayed through Debian's fakenect and the real
libfreenect adapter (docs/kinect.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from google.protobuf.message import Message

from services.kinect.devices import Devices, name_of
from services.kinect.hub import FrameHub
from services.kinect.selection import select
from services.kinect.servicer import KinectServicer
from services.kinect.settings import KinectSettings
from voka.bus import Bus
from voka.kinect.v1 import events_pb2
from voka.server import Registration, Resources, ServiceSpec, registration

log = logging.getLogger("voka.kinect")
EVENT_TIMEOUT = 5.0


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(KinectSettings)
    selection = await select(settings)
    camera = selection.camera
    hub = FrameHub(
        camera,
        settings.kinect_max_fps,
        settings.kinect_max_streams,
        settings.kinect_stream_buffer,
    )
    devices = Devices(selection, hub)
    log.info(
        "kinect frames from %s (%d device(s)); %s",
        camera.source,
        devices.count,
        selection.fallback_reason or "hardware",
    )
    names = [name_of(i) for i in range(devices.count)]
    await _announce(resources.bus, [
        events_pb2.DeviceConnectedEvent(device=name, source=camera.source, serial=info.serial)
        for name, info in zip(names, camera.devices, strict=True)
    ])  # fmt: skip

    async def stop() -> None:
        await hub.close()
        await camera.close()
        await _announce(resources.bus, [
            events_pb2.DeviceDisconnectedEvent(
                device=name, source=camera.source, reason="the service stopped"
            )
            for name in names
        ])  # fmt: skip

    resources.on_stop.append(stop)
    return [registration(KinectServicer(devices, hub, settings.kinect_max_fps))]


async def _announce(bus: Bus | None, events: list[Message]) -> None:
    """Publish device events; they inform, so a slow or absent NATS never blocks the service."""
    if bus is None:
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(EVENT_TIMEOUT):
            for event in events:
                await bus.publish(event)


SPEC = ServiceSpec(name="kinect", build=build)
