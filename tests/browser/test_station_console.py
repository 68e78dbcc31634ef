"""A station admin runs the station console in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from stations.demo import DEMO_PASSKEY
from stations.models import DealerStation, Receiver
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def _sign_out(page) -> None:
    page.context.clear_cookies()


def test_admin_adds_a_receiver_rotates_its_passkey_and_a_dealer_needs_the_new_one(page, demo):
    sign_in(page, "demo-station", "demo-station-pass", set_up_second_factor=True)
    page.goto("/station/")
    expect(page.get_by_test_id("console-station")).to_contain_text("Demo Central Station")
    page.get_by_role("link", name="Receivers", exact=True).click()
    page.get_by_role("link", name="Add receiver").click()
    page.get_by_label("Name").fill("Night shift XML")
    page.get_by_label("Visibility").select_option(label="Every dealer who has the passkey")
    page.get_by_label("Passkey").fill("first-passkey-123")
    primary = page.get_by_test_id("primary-path")
    primary.get_by_label("Host").fill("127.0.0.1")
    primary.get_by_role("spinbutton", name="Port").fill("9100")
    primary.get_by_label("Use TLS").uncheck()
    page.get_by_role("button", name="Save receiver").click()
    receivers = page.get_by_test_id("receivers")
    expect(receivers.get_by_role("row", name="Night shift XML")).to_be_visible()
    receiver = Receiver.objects.get(name="Night shift XML")
    assert receiver.check_passkey("first-passkey-123")

    receivers.get_by_role("row", name="Night shift XML").get_by_role(
        "link", name="New passkey"
    ).click()
    page.locator("input[name=passkey]").fill("second-passkey-456")
    page.locator("input[name=confirm]").fill("second-passkey-456")
    page.get_by_role("button", name="Change passkey").click()
    expect(page.get_by_text("existing records keep working")).to_be_visible()

    # A dealer adding a record now: the old passkey is refused, the new one opens it.
    _sign_out(page)
    sign_in(page, "demo-owner", "demo-owner-pass")
    page.goto("/dealer/stations/add/")
    page.get_by_label("Name").fill("Night shift")
    page.get_by_label("Monitoring station").select_option(label="Demo Central Station")
    receiver_field = page.get_by_label("Alarm receiver")
    expect(receiver_field.locator("option", has_text="Night shift XML")).to_have_count(1)
    receiver_field.select_option(label="Night shift XML")
    page.get_by_label("Passkey").fill("first-passkey-123")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("This passkey does not match the receiver")).to_be_visible()
    page.get_by_label("Passkey").fill("second-passkey-456")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url("/dealer/stations/")
    assert DealerStation.objects.get(name="Night shift").receiver == receiver
    # The demo's record made with the demo passkey long before still uses its receiver.
    assert DealerStation.objects.get(name="Demo Central (XML)").receiver.check_passkey(DEMO_PASSKEY)


def test_admin_copies_a_deep_link_template(page, demo, live_server, settings):
    settings.PORTAL_BASE_URL = "https://portal.example.com"
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    sign_in(page, "demo-station", "demo-station-pass", set_up_second_factor=True)
    page.goto("/station/")
    page.get_by_role("link", name="Deep links").click()
    form = page.get_by_test_id("link-form").first
    template = form.get_by_test_id("link-template").inner_text()
    assert template.startswith("https://portal.example.com/monitoring?")
    form.get_by_test_id("copy-template").click()
    expect(form.get_by_test_id("copy-template")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == template


def test_admin_approves_directions_and_the_operator_sees_them_on_the_deep_link_page(page, demo):
    # The dealer writes directions and a call list for the pharmacy.
    sign_in(page, "demo-owner", "demo-owner-pass")
    page.goto("/customers/")
    page.get_by_role("link", name="Corner Pharmacy").click()
    page.get_by_role("link", name="Directions & call list").click()
    page.get_by_role("link", name="Edit directions").click()
    page.get_by_label("Site-wide note").fill("Key holder lives next door. Dog in the stock room.")
    page.get_by_test_id("camera-direction").filter(has_text="Stock room").get_by_role(
        "textbox"
    ).fill("Motion at night is a break-in.")
    page.get_by_role("button", name="Save directions").click()
    expect(page.get_by_test_id("directions-status")).to_contain_text("Waiting for the station")
    page.get_by_role("link", name="Add contact").click()
    page.get_by_label("Name").fill("Dana Pharmacist")
    page.get_by_label("Phone", exact=False).first.fill("+1 217 555 0142")
    page.get_by_label("Verbal passcode").fill("marigold")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("contacts")).to_contain_text("Dana Pharmacist")
    expect(page.get_by_test_id("contacts")).not_to_contain_text("marigold")

    # Before approval the operator sees the call list, not the directions.
    _sign_out(page)
    sign_in(page, "demo-operator", "demo-operator-pass")
    page.goto("/monitoring?act=3444&zone=017")
    expect(page.get_by_test_id("no-directions")).to_be_visible()
    expect(page.get_by_test_id("call-list")).to_contain_text("marigold")

    # The station admin approves them.
    _sign_out(page)
    sign_in(page, "demo-station", "demo-station-pass", set_up_second_factor=True)
    page.goto("/station/")
    page.get_by_role("link", name="Directions", exact=True).click()
    page.get_by_test_id("pending-directions-item").filter(has_text="Corner Pharmacy").click()
    expect(page.get_by_test_id("directions-draft")).to_contain_text("Dog in the stock room")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("operators see them now")).to_be_visible()

    # The operator lands from the deep link with the directions pinned.
    _sign_out(page)
    sign_in(page, "demo-operator", "demo-operator-pass")
    page.goto("/monitoring?act=3444&zone=017")
    pinned = page.get_by_test_id("pinned-directions")
    expect(pinned.get_by_test_id("directions-note")).to_contain_text("Dog in the stock room")
    expect(pinned.get_by_test_id("camera-directions")).to_contain_text(
        "Motion at night is a break-in."
    )
    expect(pinned.get_by_test_id("call-list")).to_contain_text("Dana Pharmacist")
