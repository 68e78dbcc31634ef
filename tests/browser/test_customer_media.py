"""The dealer's customer page in real Chromium: the demo's simulated bridge uploads an alarm's
snapshots and clip over HTTP, and the owner sees the bridge online, the snapshot drawn and
the clip playing, all through signed portal URLs under the page's CSP."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from customers.models import Customer
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_the_owner_sees_the_bridge_online_and_the_alarms_media(page, demo, live_server, settings):
    settings.DEBUG = True  # the simulator is for the demo only
    call_command("run_bridge_simulator", "--once", "--base-url", live_server.url)
    pharmacy = Customer.objects.get(name="Corner Pharmacy")

    sign_in(page, "demo-owner", "demo-owner-pass")
    page.goto(f"/customers/{pharmacy.code}/")
    panel = page.get_by_test_id("media-panel")
    expect(panel.get_by_test_id("bridge-state")).to_contain_text("Online")
    events = panel.get_by_test_id("recent-events")
    # The first simulated alarm is on zone 017 (the demo deep link's zone).
    expect(events).to_contain_text("017")

    snapshot = events.get_by_test_id("event-snapshot").first
    expect(snapshot).to_be_visible()
    src = snapshot.get_attribute("src")
    assert src.startswith("/media/s/"), src
    page.wait_for_function(
        "img => img.complete && img.naturalWidth > 0", arg=snapshot.element_handle()
    )

    clip = events.get_by_test_id("event-clip").first
    expect(clip).to_be_visible()
    handle = clip.element_handle()
    page.evaluate("video => { video.muted = true; return video.play(); }", handle)
    page.wait_for_function("video => video.currentTime > 0.5", arg=handle, timeout=15_000)
