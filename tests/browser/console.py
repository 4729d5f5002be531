"""What every browser test does with the console: sign up through its form, and save what a
page shows as a screenshot (docs/screenshots/ with `make screenshots`)."""

from __future__ import annotations

import asyncio
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image
from playwright.sync_api import Page, expect

from services.auth.cli import create_admin
from services.auth.settings import AuthSettings
from tools.mesh import Mesh

# `make screenshots` saves them into docs/screenshots (committed); any other run into
# var/screenshots, so that a test run leaves the checkout as it was.
SCREENSHOTS = Path(
    os.environ.get("VOKA_SCREENSHOTS_DIR")
    or Path(__file__).resolve().parents[2] / "var" / "screenshots"
)
# A console screenshot has few colours: a 64-colour palette keeps text crisp and the PNG at a
# third of its size (docs/screenshots is committed).
SCREENSHOT_COLOURS = 64


@dataclass(frozen=True)
class Account:
    username: str
    password: str


def new_account() -> Account:
    return Account(f"web{uuid.uuid4().hex[:10]}", f"pw-{uuid.uuid4().hex}")


def new_admin(mesh: Mesh) -> Account:
    """An admin made the way an operator makes one (the CLI's function, on auth's database). In
    a thread of its own: Playwright's sync API keeps an event loop running in this one."""
    account = new_account()
    settings = AuthSettings(service="auth", data_dir=mesh.var)
    email = f"{account.username}@example.com"
    made = create_admin(settings, account.username, email, account.password)
    with ThreadPoolExecutor(max_workers=1) as thread:
        thread.submit(asyncio.run, made).result()
    return account


def sign_in(page: Page, account: Account) -> None:
    """Sign `account` in through the sign-in form."""
    page.goto("/#/signin")
    page.get_by_test_id("signin-username").fill(account.username)
    page.get_by_test_id("signin-password").fill(account.password)
    page.get_by_test_id("signin-submit").click()
    expect(page.get_by_test_id("signed-in-as")).to_be_visible()


def sign_up(page: Page, account: Account | None = None, *, shot: str | None = None) -> Account:
    """Register `account` (a fresh one by default) through the sign-up form and land on the
    first page of a signed-in user; `shot` saves the filled form under that name."""
    account = account or new_account()
    page.goto("/#/signup")
    form = page.get_by_test_id("signup-form")
    expect(form).to_be_visible()
    page.get_by_test_id("signup-username").fill(account.username)
    page.get_by_test_id("signup-email").fill(f"{account.username}@example.com")
    page.get_by_test_id("signup-display-name").fill(account.username.capitalize())
    page.get_by_test_id("signup-password").fill(account.password)
    if shot:
        screenshot(page, shot)
    page.get_by_test_id("signup-submit").click()
    expect(page.get_by_test_id("signed-in-as")).to_contain_text(account.username.capitalize())
    return account


def open_page(page: Page, route: str) -> None:
    """Follow the navigation link to `route`, as a user does (no reload)."""
    page.get_by_test_id(f"nav-{route}").click()
    expect(page.get_by_test_id(f"{route}-page")).to_be_visible()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Save what `page` shows as <SCREENSHOTS>/<name>.png: the whole page, or the viewport
    only for a long one."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page, animations="disabled", caret="hide")
    with Image.open(path) as shot:
        palette = shot.convert("RGB").quantize(
            SCREENSHOT_COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    palette.save(path, optimize=True)
    return path
