"""The history: each analysis is its caller's (NOT_FOUND to anyone else, like a missing one),
admins see everyone's, lists page with the kit's tokens and filter by kind; on SQLite and
PostgreSQL. It keeps what was found and the image's facts, never the image."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from services.vision.analyses.store import analyses
from tests.fixtures.tokens import TokenFactory
from tests.services.vision.conftest import (
    User,
    body,
    coffee_photo,
    encoded,
    failure,
    start_vision,
    violations,
    vision_settings,
)
from voka.vision.v1 import vision_pb2, vision_pb2_grpc

pytestmark = pytest.mark.integration


@pytest.fixture
async def users(
    tokens: TokenFactory, tmp_path: Path, database_url: str
) -> AsyncIterator[dict[str, User]]:
    running = await start_vision(vision_settings(tokens, tmp_path, database_url=database_url))
    async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
        stub = vision_pb2_grpc.VisionServiceStub(channel)
        yield {
            who: User(stub, tokens.metadata(subject=f"users/{who}", roles=roles))
            for who, roles in [("alice", ("user",)), ("bob", ("user",)),
                               ("root", ("user", "admin"))]
        }  # fmt: skip
    await running.stop()


def blank(size: int = 48) -> bytes:
    import numpy as np

    return encoded(np.full((size, size, 3), 200, dtype=np.uint8))


async def hands(user: User, size: int = 48) -> vision_pb2.Analysis:
    request = vision_pb2.DetectHandsRequest(body=body(blank(size)))
    analysis: vision_pb2.Analysis = (await user.DetectHands(request)).analysis
    return analysis


async def test_history_is_the_callers_own(users: dict[str, User]) -> None:
    alice, bob, root = users["alice"], users["bob"], users["root"]
    mine = [await hands(alice, 40 + i) for i in range(3)]
    analyze = vision_pb2.AnalyzeImageRequest(body=body(coffee_photo()), max_results=2)
    image = (await alice.AnalyzeImage(analyze)).analysis
    theirs = await hands(bob)

    got = (await alice.GetAnalysis(vision_pb2.GetAnalysisRequest(name=image.name))).analysis
    assert got == image  # what the history shows is what the call answered
    assert got.objects[0].label == "Coffee cup"
    assert got.caption.engine == "composed-from-labels"
    await failure(bob.GetAnalysis(vision_pb2.GetAnalysisRequest(name=image.name)),
                  grpc.StatusCode.NOT_FOUND)  # fmt: skip
    await failure(alice.GetAnalysis(vision_pb2.GetAnalysisRequest(name=f"analyses/{'0' * 32}")),
                  grpc.StatusCode.NOT_FOUND)  # fmt: skip
    assert await root.GetAnalysis(vision_pb2.GetAnalysisRequest(name=image.name))

    names, token = [], ""
    while True:
        request = vision_pb2.ListAnalysesRequest(page_size=2, page_token=token)
        page = await alice.ListAnalyses(request)
        assert page.total_size == 4
        names += [a.name for a in page.analyses]
        token = page.next_page_token
        if not token:
            break
    assert names == [image.name, *[a.name for a in reversed(mine)]]  # newest first

    only_hands = await alice.ListAnalyses(
        vision_pb2.ListAnalysesRequest(kind=vision_pb2.ANALYSIS_KIND_HANDS)
    )
    assert [a.name for a in only_hands.analyses] == [a.name for a in reversed(mine)]
    # Bob naming alice sees his own; an admin may name anyone, or everyone.
    named = await bob.ListAnalyses(vision_pb2.ListAnalysesRequest(owner="users/alice"))
    assert [a.name for a in named.analyses] == [theirs.name]
    everyone = await root.ListAnalyses(vision_pb2.ListAnalysesRequest(owner="-"))
    assert everyone.total_size == 5
    of_alice = await root.ListAnalyses(vision_pb2.ListAnalysesRequest(owner="users/alice"))
    assert of_alice.total_size == 4


async def test_bad_names_and_tokens_are_invalid(users: dict[str, User]) -> None:
    alice = users["alice"]
    bad = await violations(alice.GetAnalysis(vision_pb2.GetAnalysisRequest(name="analyses/x")))
    assert [f for f, _ in bad] == ["name"]
    await hands(alice)
    await hands(alice)
    first = await alice.ListAnalyses(vision_pb2.ListAnalysesRequest(page_size=1))
    other_filter = vision_pb2.ListAnalysesRequest(
        page_token=first.next_page_token, kind=vision_pb2.ANALYSIS_KIND_IMAGE)  # fmt: skip
    assert [f for f, _ in await violations(alice.ListAnalyses(other_filter))] == ["page_token"]
    garbage = vision_pb2.ListAnalysesRequest(page_token="nonsense", page_size=-1, kind=9)  # type: ignore[arg-type]
    assert {f for f, _ in await violations(alice.ListAnalyses(garbage))} == {
        "page_token", "page_size", "kind"}  # fmt: skip


def test_no_image_bytes_are_kept() -> None:
    kept = {column.name for column in analyses.columns}
    assert kept.isdisjoint({"data", "image", "pixels", "thumbnail"})
    assert {"sha256", "width", "height", "size_bytes", "findings"} <= kept
