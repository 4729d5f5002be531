"""The vision service through Envoy's REST mapping, as `make up` runs it: the image as the raw
request body, the analysis as JSON; what is not an image within bounds is 400 naming `body`,
and the service still answers; the history through REST; a Kinect frame by reference (the
vision service asks the kinect service, which serves its synthetic scene here)."""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.conftest import sign_in
from tests.services.vision.conftest import cat_photo, hand_photo
from tests.services.vision.test_images import png_header

pytestmark = pytest.mark.integration


def test_a_photo_analysed_over_rest(rest: httpx.Client) -> None:
    headers = sign_in(rest) | {"content-type": "image/jpeg"}
    reply = rest.post("/api/v1/vision/images:analyze", content=cat_photo(), headers=headers)
    assert reply.status_code == 200, reply.text
    analysis = reply.json()["analysis"]
    assert analysis["objects"][0]["label"] == "Cat"
    assert analysis["caption"]["engine"] == "composed-from-labels"
    assert analysis["source"] == "IMAGE_SOURCE_UPLOAD"

    hands = rest.post("/api/v1/vision/images:detectHands", content=hand_photo(), headers=headers)
    assert hands.status_code == 200, hands.text
    (hand,) = hands.json()["analysis"]["hands"]
    assert len(hand["landmarks"]) == 21

    history = rest.get("/api/v1/vision/analyses", headers=headers)
    assert history.status_code == 200, history.text
    assert [a["name"] for a in history.json()["analyses"]] == [
        hands.json()["analysis"]["name"], analysis["name"]]  # fmt: skip
    one = rest.get(f"/api/v1/vision/{analysis['name']}", headers=headers)
    assert one.status_code == 200
    assert one.json()["analysis"]["objects"][0]["label"] == "Cat"
    stranger = rest.get(f"/api/v1/vision/{analysis['name']}", headers=sign_in(rest))
    assert stranger.status_code == 404


@pytest.mark.parametrize(
    "data",
    [cat_photo()[:700], b"not an image", png_header(20_000, 20_000), b"\xff\xd8\xff" * 3_600_000],
    ids=["corrupt", "not-an-image", "decompression-bomb", "oversized"],
)
def test_what_is_no_image_within_bounds_is_400(rest: httpx.Client, data: bytes) -> None:
    headers = sign_in(rest) | {"content-type": "application/octet-stream"}
    reply = rest.post("/api/v1/vision/images:analyze", content=data, headers=headers)
    assert reply.status_code == 400, reply.text
    assert reply.json()["details"][0]["fieldViolations"][0]["field"] == "body"
    still = rest.post("/api/v1/vision/images:analyze", content=cat_photo(), headers=headers)
    assert still.status_code == 200, still.text


def test_a_kinect_frame_by_reference(rest: httpx.Client) -> None:
    reply = rest.post("/api/v1/vision/devices/0:analyze", headers=sign_in(rest))
    assert reply.status_code == 200, reply.text
    analysis = reply.json()["analysis"]
    assert (analysis["source"], analysis["kinectDevice"]) == ("IMAGE_SOURCE_KINECT", "devices/0")
    assert (analysis["width"], analysis["height"]) == (640, 480)


def test_anonymous_callers_are_refused(rest: httpx.Client) -> None:
    assert rest.post("/api/v1/vision/images:analyze", content=cat_photo()).status_code == 401
