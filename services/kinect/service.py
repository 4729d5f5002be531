"""The kinect service's wiring: the frame source chosen from configuration, the hub sharing
its capture loops, the device registry, the servicer (rpcs/), and the connected/disconnected
events.

No Kinect has ever been attached to the machines this runs on in development or CI: there it
serves the synthetic scene, or a recording replayed through Debian's fakenect and the real
libfreenect adapter (docs/kinect.md).
"""

from __future__ import annotations

import logging

from services.kinect import convert
from services.kinect.devices import Devices, announce
from services.kinect.hub import FrameHub
from services.kinect.rpcs import KinectServicer
from services.kinect.selection import select
from services.kinect.settings import KinectSettings
from voka.server import Registration, Resources, ServiceSpec, registration

log = logging.getLogger("voka.kinect")


async def build(resources: Resources) -> list[Registration]:
    settings = resources.settings_as(KinectSettings)
    selection = await select(settings)
    camera = selection.camera
    hub = FrameHub(
        camera,
        settings.kinect_max_fps,
        settings.kinect_max_streams,
        settings.kinect_stream_buffer,
        settings.kinect_max_streams_per_user,
    )
    devices = Devices(selection, hub)
    log.info(
        "kinect frames from %s (%d device(s)); %s",
        camera.source,
        devices.count,
        selection.fallback_reason or "hardware",
    )
    await announce(resources.bus, convert.connected_events(camera.source, camera.devices))

    async def stop() -> None:
        await hub.close()
        await camera.close()
        events = convert.disconnected_events(camera.source, devices.count, "the service stopped")
        await announce(resources.bus, events)

    resources.on_stop.append(stop)
    return [registration(KinectServicer(devices, hub, settings.kinect_max_fps))]


SPEC = ServiceSpec(name="kinect", build=build)
