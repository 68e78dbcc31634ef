"""A person signs in to the portal in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_demo_owner_signs_in_and_sees_the_dashboard(page, demo):
    sign_in(page, "demo-owner", "demo-owner-pass")
    expect(page).to_have_url("/dealer/")
    expect(page.get_by_role("heading", name="Demo Alarm Co")).to_be_visible()
    expect(page.get_by_text("Signed in as demo-owner")).to_be_visible()


def test_wrong_password_is_rejected(page, demo):
    sign_in(page, "demo-owner", "not-the-password")
    expect(page.get_by_text("Please enter a correct username and password")).to_be_visible()
    expect(page).to_have_url("/accounts/login/")
