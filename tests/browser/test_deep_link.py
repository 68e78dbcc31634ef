"""An operator follows a deep link while signed out, signs in, and lands on the camera."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_operator_signs_in_from_a_deep_link_and_sees_the_zone_camera_first(page, demo):
    page.goto("/monitoring?act=3444&zone=017")
    expect(page).to_have_url("/accounts/login/?next=/monitoring%3Fact%3D3444%26zone%3D017")
    page.get_by_label("Username").fill("demo-operator")
    page.get_by_label("Password").fill("demo-operator-pass")
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url("/monitoring?act=3444&zone=017")
    expect(page.get_by_test_id("site-name")).to_have_text("Corner Pharmacy")
    first = page.get_by_test_id("camera").first
    expect(first).to_contain_text("Stock room")
    expect(first).to_have_attribute("data-zone-camera", "true")
    expect(page.get_by_test_id("camera")).to_have_count(4)
