"""Signing in in a real browser: password, authenticator app, recovery code, lockout."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import code_for, set_up_app, sign_in

pytestmark = pytest.mark.browser


def test_owner_turns_on_the_app_and_signs_in_with_a_code(page, demo):
    sign_in(page, "demo-owner", "demo-owner-pass")
    expect(page).to_have_url("/dealer/")
    page.get_by_role("button", name="demo-owner").click()
    page.get_by_role("link", name="Two-factor sign-in").click()
    secret, _ = set_up_app(page)
    page.get_by_role("link", name="I have saved them").click()

    expect(page).to_have_url("/dealer/")
    page.get_by_role("button", name="demo-owner").click()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url("/accounts/login/")
    sign_in(page, "demo-owner", "demo-owner-pass")
    expect(page.get_by_role("heading", name="Enter your code")).to_be_visible()
    page.get_by_label("Code").fill(code_for(secret, offset=30))
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url("/dealer/")
    expect(page.get_by_role("heading", name="Demo Alarm Co")).to_be_visible()


def test_a_recovery_code_signs_in_once(page, demo):
    sign_in(page, "demo-tech", "demo-tech-pass")
    page.goto("/accounts/two-factor/")
    _, codes = set_up_app(page)
    page.get_by_role("link", name="I have saved them").click()
    page.context.clear_cookies()

    sign_in(page, "demo-tech", "demo-tech-pass")
    page.get_by_label("Code").fill(codes[3])
    page.get_by_role("button", name="Verify").click()
    expect(page).to_have_url("/dealer/")
    expect(page.get_by_text("You signed in with a recovery code; 9 left")).to_be_visible()

    page.context.clear_cookies()
    sign_in(page, "demo-tech", "demo-tech-pass")
    page.get_by_label("Code").fill(codes[3])
    page.get_by_role("button", name="Verify").click()
    expect(page.get_by_text("That code is not right, or was used already")).to_be_visible()


def test_repeated_wrong_passwords_lock_the_sign_in(page, demo):
    for _ in range(5):
        sign_in(page, "demo-viewer", "not-the-password")
    sign_in(page, "demo-viewer", "demo-viewer-pass")
    expect(page.get_by_role("heading", name="Too many failed sign-ins")).to_be_visible()
    page.goto("/dealer/")
    expect(page).to_have_url("/accounts/login/?next=/dealer/")


def test_staff_must_set_up_the_app_before_the_admin_opens(page, demo):
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("demo-admin")
    page.get_by_label("Password").fill("demo-admin-pass")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_text("Your account must sign in with an authenticator app")).to_be_visible()
    set_up_app(page)
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
