"""The vision service as the assistant asks it to describe an image for a model that cannot
see. Calls carry the assistant's own identity (`voka.service_identity`) and name the user they
are for (`voka.peer_calls.on_behalf_of`), so the vision service keeps the analysis in that
user's history. Describing is best effort: when the vision service is down, refuses or has no
identity to be called with, the description says the image could not be described and the
turn goes on."""

from __future__ import annotations

import functools
import logging
from typing import Any

import grpc
from google.api import httpbody_pb2

from voka import peer_calls, service_identity
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

log = logging.getLogger(__name__)

PEER = "vision"
MAX_RESULTS = 5  # objects and labels named in the prompt at most
FAILURES = (
    grpc.aio.AioRpcError, peer_calls.RefusedError, service_identity.NoIdentityError, TimeoutError,
)  # fmt: skip


def described(analysis: vision_pb2.Analysis) -> str:
    """What the model is told the vision service saw."""
    engines = dict.fromkeys(
        e for e in (analysis.caption.engine, analysis.object_engine, analysis.label_engine) if e
    )
    objects = ", ".join(f"{o.label} ({o.score:.2f})" for o in analysis.objects) or "none"
    labels = ", ".join(f"{label.label} ({label.score:.2f})" for label in analysis.labels) or "none"
    return (
        f"The user attached an image. Vision service (engine: {', '.join(engines)}) saw: "
        f"{analysis.caption.text or 'no caption'}; objects: {objects}; labels: {labels}."
    )


def undescribed(reason: str) -> str:
    return f"The user attached an image, but it could not be described ({reason})."


class VisionClient:
    """AnalyzeImage of the vision service, on a channel carrying the assistant's identity."""

    def __init__(self, channels: service_identity.PeerChannels, timeout: float) -> None:
        self._channels = channels
        self._timeout = timeout

    async def describe(self, data: bytes, for_user: str) -> str:
        """The image's description for the prompt; says so when it could not be had."""
        try:
            stub: Any = vision_pb2_grpc.VisionServiceStub(self._channels.channel(PEER))
            request = vision_pb2.AnalyzeImageRequest(
                body=httpbody_pb2.HttpBody(data=data), max_results=MAX_RESULTS
            )
            rpc = functools.partial(stub.AnalyzeImage, metadata=peer_calls.on_behalf_of(for_user))
            answer: vision_pb2.AnalyzeImageResponse = await peer_calls.call(
                rpc, request, timeout=self._timeout
            )
        except FAILURES as exc:
            log.warning("image of %s not described: %s", for_user, exc)
            return undescribed(f"the vision service is unavailable: {_reason(exc)}")
        return described(answer.analysis)

    async def close(self) -> None:
        await self._channels.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
