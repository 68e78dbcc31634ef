"""The demo owner imports customers from a file with errors, corrects it and imports it; an
export opened again imports back without a change."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from customers.models import Customer, CustomerImport
from dealers.demo import DEMO_DEALER_NAME
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

ACCOUNT = "Demo Central (XML) account number"


def _upload(page, path) -> None:
    page.goto("/customers/import/")
    page.get_by_label("File").set_input_files(path)
    page.get_by_test_id("upload").click()


def test_an_import_with_errors_is_corrected_and_imported(page, demo, tmp_path):
    sign_in(page, "demo-owner", "demo-owner-pass")
    page.get_by_role("link", name="Customers").first.click()
    page.get_by_role("link", name="Import").click()
    expect(page.get_by_role("heading", name="Import customers")).to_be_visible()

    wrong = tmp_path / "sites.csv"
    wrong.write_text(
        f"Name,Time zone,{ACCOUNT}\n"
        "Browser Bistro,America/Chicago,9901\n"
        "Browser Barn,Mars/Olympus,99 02\n"
    )
    _upload(page, wrong)
    expect(page.get_by_test_id("has-errors")).to_be_visible()
    line = page.locator('[data-testid="preview-row"][data-line="3"]')
    expect(line.get_by_test_id("row-error")).to_have_count(2)
    expect(line).to_contain_text("Time zone")
    expect(line).to_contain_text(ACCOUNT)
    expect(page.get_by_test_id("commit")).to_have_count(0)
    assert not Customer.objects.filter(name__startswith="Browser B").exists()

    right = tmp_path / "sites-corrected.csv"
    right.write_text(
        f"Name,Time zone,{ACCOUNT}\n"
        "Browser Bistro,America/Chicago,9901\n"
        "Browser Barn,Europe/Berlin,9902\n"
    )
    _upload(page, right)
    expect(page.get_by_test_id("ready")).to_contain_text("2 new")
    page.get_by_test_id("commit").click()
    expect(page.get_by_test_id("imported")).to_contain_text("2 new")
    barn = Customer.objects.get(name="Browser Barn")
    assert barn.time_zone == "Europe/Berlin"
    assert barn.accounts.get().account_number == "9902"
    page.get_by_role("link", name="Your customers").click()
    expect(page.get_by_test_id("customer-list")).to_contain_text("Browser Barn")


@pytest.mark.parametrize("button", ["export-xlsx", "export-csv"])
def test_an_export_imports_back_unchanged(page, demo, tmp_path, button):
    sign_in(page, "demo-owner", "demo-owner-pass")
    page.goto("/customers/")
    with page.expect_download() as download:
        page.get_by_test_id(button).click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    # demo-owner works for "Demo Alarm Co" first (its other dealer comes later by name).
    shown = Customer.objects.filter(status="active", dealer__name=DEMO_DEALER_NAME).count()

    _upload(page, path)
    expect(page.get_by_test_id("ready")).to_contain_text(f"0 new, 0 to update, {shown} unchanged")
    expect(page.get_by_test_id("commit")).to_be_disabled()
    assert CustomerImport.objects.get().file_name == path.name
