"""AnalyzeImage and DetectHands: validate → the image (body or Kinect frame) → the engines →
kept in the caller's history → the analysis."""

from __future__ import annotations

from services.vision import validation
from services.vision.rpcs.base import Context, RpcBase, check
from voka.vision.v1 import vision_pb2


class ImagesRpcs(RpcBase):
    async def AnalyzeImage(
        self, request: vision_pb2.AnalyzeImageRequest, context: Context
    ) -> vision_pb2.AnalyzeImageResponse:
        source, max_results, min_score, violations = validation.analyze(request)
        check(violations)
        object_min = min_score or self._settings.vision_min_score
        label_min = min_score or self._settings.vision_min_label_score
        with self._pipeline.admitted():
            picture = await self._picture(source)
            findings = await self._pipeline.analyze(picture, max_results, object_min, label_min)
        analysis = await self._keep(vision_pb2.ANALYSIS_KIND_IMAGE, source, picture, findings)
        return vision_pb2.AnalyzeImageResponse(analysis=analysis)

    async def DetectHands(
        self, request: vision_pb2.DetectHandsRequest, context: Context
    ) -> vision_pb2.DetectHandsResponse:
        source, max_hands, violations = validation.hands(request)
        check(violations)
        with self._pipeline.admitted():
            picture = await self._picture(source)
            findings = await self._pipeline.hands(picture, max_hands)
        analysis = await self._keep(vision_pb2.ANALYSIS_KIND_HANDS, source, picture, findings)
        return vision_pb2.DetectHandsResponse(analysis=analysis)
