"""The demo owner adds a monitoring station record in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from stations.demo import DEMO_PASSKEY
from stations.models import DealerStation
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_owner_adds_a_station_record_after_a_wrong_passkey(page, demo):
    sign_in(page, "demo-owner", "demo-owner-pass")
    page.get_by_test_id("settings-menu").click()  # dealer settings are one menu
    page.get_by_role("link", name="Monitoring stations").click()
    page.get_by_role("link", name="Add monitoring station").click()
    page.get_by_label("Name").fill("Backup central")
    page.get_by_label("Monitoring station").select_option(label="Demo Central Station")
    # htmx fills the receiver field for the chosen station without a reload.
    receiver = page.get_by_label("Alarm receiver")
    expect(receiver.locator("option", has_text="Demo XML receiver")).to_have_count(1)
    receiver.select_option(label="Demo XML receiver")
    page.get_by_label("Passkey").fill("not-the-passkey")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("This passkey does not match the receiver")).to_be_visible()
    assert not DealerStation.objects.filter(name="Backup central").exists()

    page.get_by_label("Passkey").fill(DEMO_PASSKEY)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url("/dealer/stations/")
    table = page.get_by_test_id("station-records")
    expect(table.get_by_role("row", name="Backup central")).to_be_visible()
    assert DealerStation.objects.get(name="Backup central").receiver.name == "Demo XML receiver"
