"""Refusals on screen: a wrong password is shown as the API's message, and the refusal that
locks the account after too many wrong passwords (RESOURCE_EXHAUSTED: REST's 429) as its
message and the wait the API gave (RetryInfo)."""

from __future__ import annotations

import httpx
import pytest
from playwright.sync_api import Page, expect

from services.auth.settings import AuthSettings
from tests.browser.console import Account, new_account, screenshot

pytestmark = [pytest.mark.integration, pytest.mark.browser]

WRONG = "wrong username or password"  # services/auth/rpcs/signin.py
LOCKED = "account locked after too many failed logins"


def register(rest: httpx.Client, account: Account) -> None:
    body = {
        "username": account.username,
        "email": f"{account.username}@example.com",
        "password": account.password,
    }
    reply = rest.post("/api/v1/auth/register", json=body)
    assert reply.status_code == 200, reply.text


def sign_in(page: Page, username: str, password: str) -> None:
    page.get_by_test_id("signin-username").fill(username)
    page.get_by_test_id("signin-password").fill(password)
    page.get_by_test_id("signin-submit").click()


def test_a_wrong_password_then_a_locked_account_are_shown_as_messages(
    page: Page, rest: httpx.Client
):
    account = new_account()
    register(rest, account)
    page.goto("/#/signin")
    problem = page.get_by_test_id("signin-problem")

    sign_in(page, account.username, "not-the-password")
    expect(problem).to_have_text(WRONG)
    expect(page.get_by_test_id("signin-form")).to_be_visible()  # still signed out
    screenshot(page, "signin-refused")

    # The failures before the one that locks, over REST (each hashes a password: slow).
    threshold = AuthSettings.model_fields["auth_lockout_threshold"].default
    login = {"username": account.username, "password": "not-the-password"}
    for _ in range(threshold - 2):
        assert rest.post("/api/v1/auth/login", json=login).status_code == 401
    sign_in(page, account.username, "still-not-the-password")
    expect(problem).to_contain_text(LOCKED)
    expect(problem).to_contain_text("Try again in")
    assert rest.post("/api/v1/auth/login", json=login).status_code == 429

    # Locked: even the right password is refused (the banner is the answer to this attempt).
    with page.expect_response(lambda response: response.url.endswith("/Login")):
        sign_in(page, account.username, account.password)
    expect(problem).to_contain_text(LOCKED)
    expect(page.get_by_test_id("signed-in-as")).to_have_count(0)
    screenshot(page, "signin-locked")
