"""The demo owner creates a customer and meets the duplicate account number rule."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from customers.models import MonitoringAccount
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def _add_customer(page, name: str) -> None:
    page.get_by_role("link", name="Customers").first.click()
    page.get_by_role("link", name="Add customer").click()
    page.get_by_label("Name").fill(name)
    page.get_by_label("Street address").fill("1 Test Lane")
    page.get_by_label("City").fill("Springfield")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=name)).to_be_visible()


def _assign(page, number: str) -> None:
    page.get_by_role("link", name="Add monitoring station account").click()
    page.get_by_label("Monitoring station").select_option(
        label="Demo Central (XML) (Demo Central Station)"
    )
    page.get_by_label("Account number").fill(number)
    page.get_by_role("button", name="Save").click()


def test_duplicate_account_number_is_shown_on_the_field(page, demo):
    sign_in(page, "demo-owner", "demo-owner-pass")
    _add_customer(page, "Browser Bakery")
    _assign(page, "8801")
    expect(page.get_by_test_id("accounts").get_by_text("8801")).to_be_visible()

    _add_customer(page, "Browser Butcher")
    _assign(page, " 8801 ")
    field = page.get_by_label("Account number")
    expect(field).to_have_attribute("aria-invalid", "true")
    # crispy's bootstrap5 pack puts the field's error right under it.
    expect(page.locator("#error_1_id_account_number")).to_contain_text(
        "already uses this account number"
    )
    assert MonitoringAccount.objects.filter(account_number="8801").count() == 1
