"""Upload a photo of a cat on the Vision page and see it analysed: the object "Cat", and a
caption that says it was composed from labels (no model wrote it); the analysis is in the
caller's history; then a photo of a hand, its hand shown with its landmarks."""

from __future__ import annotations

from pathlib import Path

import pytest
import skimage.data
from playwright.sync_api import Page, expect

from tests.browser.console import open_page, screenshot, sign_up
from tests.services.vision.conftest import HAND_PHOTO, encoded

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def test_upload_a_photo_and_see_it_analysed(page: Page, tmp_path: Path) -> None:
    photo = tmp_path / "chelsea.png"
    photo.write_bytes(encoded(skimage.data.chelsea()))  # type: ignore[no-untyped-call]
    sign_up(page)
    open_page(page, "vision")
    expect(page.get_by_test_id("vision-submit")).to_be_disabled()  # nothing chosen yet

    page.get_by_test_id("vision-image").set_input_files(photo)
    page.get_by_test_id("vision-submit").click()

    expect(page.get_by_test_id("vision-object").first).to_contain_text("Cat")
    expect(page.get_by_test_id("vision-caption")).not_to_be_empty()
    expect(page.get_by_test_id("vision-caption-engine")).to_contain_text("composed from labels")
    history = page.get_by_test_id("vision-history-item")
    expect(history).to_have_count(1)
    screenshot(page, "vision")

    page.get_by_test_id("vision-image").set_input_files(HAND_PHOTO)
    page.get_by_test_id("vision-hands").click()
    expect(page.get_by_test_id("vision-hand")).to_have_count(1)
    expect(page.get_by_test_id("vision-hand")).to_contain_text("21 landmarks")
    expect(history).to_have_count(2)
