"""What every VisionService handler shares: the dependencies the service builds once (the
history's sessions and outbox, the pipeline, the kinect peer, settings), how a request's checks end
(INVALID_ARGUMENT naming every bad field), and how an image is fetched and its analysis kept."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import grpc
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.vision import convert
from services.vision.analyses.pipeline import Pipeline
from services.vision.analyses.store import AnalysisStore
from services.vision.images.decode import Picture
from services.vision.peers import Kinect
from services.vision.records import AnalysisRecord, Findings, ImageFacts
from services.vision.settings import VisionSettings
from services.vision.validation import ImageSource
from voka import authn, errors
from voka.errors import FieldViolation
from voka.outbox import Outbox
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

Context = grpc.aio.ServicerContext[Any, Any]
ANALYSIS = "vision.voka.dev/Analysis"


def check(violations: list[FieldViolation]) -> None:
    if violations:
        raise errors.invalid_argument(violations)


class RpcBase(vision_pb2_grpc.VisionServiceServicer):
    """The dependencies of every handler, and the helpers that need them."""

    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], outbox: Outbox | None,
        pipeline: Pipeline, kinect: Kinect, settings: VisionSettings,
    ) -> None:  # fmt: skip
        self._sessions = sessions
        self._outbox = outbox
        self._pipeline = pipeline
        self._kinect = kinect
        self._settings = settings

    @asynccontextmanager
    async def _analyses(self) -> AsyncIterator[AnalysisStore]:
        """The history in one transaction, committed when the block ends."""
        async with self._sessions() as session, session.begin():
            yield AnalysisStore(session)

    async def _picture(self, source: ImageSource) -> Picture:
        """The request's image, decoded within bounds: its body, or the Kinect's frame."""
        data = source.data
        if source.kinect_device:
            data = await self._kinect.colour_frame(source.kinect_device, authn.caller().subject)
        return await self._pipeline.picture(data)

    async def _keep(
        self, kind: vision_pb2.AnalysisKind.ValueType, source: ImageSource, picture: Picture,
        findings: Findings,
    ) -> vision_pb2.Analysis:  # fmt: skip
        """The analysis, added to the caller's history, as the contract shows it."""
        origin = vision_pb2.IMAGE_SOURCE_KINECT if source.kinect_device else (
            vision_pb2.IMAGE_SOURCE_UPLOAD)  # fmt: skip
        image = ImageFacts(origin, source.kinect_device, picture.content_type, picture.width,
                           picture.height, len(picture.data), picture.sha256)  # fmt: skip
        record = AnalysisRecord(uuid.uuid4().hex, authn.caller().subject, kind, image,
                                datetime.now(UTC), findings)  # fmt: skip
        async with self._sessions() as session, session.begin():
            await AnalysisStore(session).add(record)
            if self._outbox is not None:  # published once the row commits (voka.outbox)
                await self._outbox.add(session, convert.created_event(record), event_id=record.id)
        return convert.analysis(record)
