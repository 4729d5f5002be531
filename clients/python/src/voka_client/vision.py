"""Vision: an image analysed (objects, labels, a caption with the engine that wrote it) or its
hands detected, and the caller's history of analyses."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from google.api import httpbody_pb2

from voka.vision.v1 import vision_pb2, vision_pb2_grpc
from voka_client.pagination import PAGE_SIZE, iter_pages

# The service sniffs the image's format from its bytes; the declared type is for logs and people.
UNDECLARED = "application/octet-stream"


def image_body(image: bytes, content_type: str = UNDECLARED) -> httpbody_pb2.HttpBody:
    return httpbody_pb2.HttpBody(content_type=content_type, data=image)


class Vision:
    """`voka.vision.v1.VisionService`, through the client's channel."""

    def __init__(self, channel: grpc.Channel) -> None:
        self.stub = vision_pb2_grpc.VisionServiceStub(channel)

    def analyze_image(
        self,
        image: bytes,
        *,
        content_type: str = UNDECLARED,
        max_results: int = 0,
        min_score: float = 0.0,
    ) -> vision_pb2.Analysis:
        """Objects, labels and a caption of `image` (PNG, JPEG or WebP bytes); 0 keeps the
        service's defaults for `max_results` and `min_score`."""
        request = vision_pb2.AnalyzeImageRequest(
            body=image_body(image, content_type), max_results=max_results, min_score=min_score
        )
        return self.stub.AnalyzeImage(request).analysis

    def detect_hands(
        self, image: bytes, *, content_type: str = UNDECLARED, max_hands: int = 0
    ) -> vision_pb2.Analysis:
        """The hands in `image`: handedness, gesture and 21 landmarks each."""
        request = vision_pb2.DetectHandsRequest(
            body=image_body(image, content_type), max_hands=max_hands
        )
        return self.stub.DetectHands(request).analysis

    def get_analysis(self, name: str) -> vision_pb2.Analysis:
        """One of the caller's analyses, `analyses/...`."""
        return self.stub.GetAnalysis(vision_pb2.GetAnalysisRequest(name=name)).analysis

    def iter_analyses(self) -> Iterator[vision_pb2.Analysis]:
        """The caller's analyses, newest first, fetched a page at a time."""

        def page(token: str) -> tuple[list[vision_pb2.Analysis], str]:
            request = vision_pb2.ListAnalysesRequest(page_size=PAGE_SIZE, page_token=token)
            reply = self.stub.ListAnalyses(request)
            return list(reply.analyses), reply.next_page_token

        return iter_pages(page)
