"""The portal's pages, and the Django admin, run under the CSP without a single violation.

The page fixture (tests/browser/conftest.py) fails any browser test whose pages violate the
Content-Security-Policy; these tests walk pages that no other browser test opens, and prove the
check itself catches a violation.
"""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import set_up_app, sign_in

pytestmark = pytest.mark.browser


def test_an_inline_style_is_caught_as_a_violation(page, demo, csp_violations):
    page.goto("/accounts/login/")
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("window.__cspViolations.length > 0")
    page.wait_for_timeout(200)  # let the console message and the binding call arrive
    assert any("style-src" in v for v in csp_violations), csp_violations
    # This test provoked it on purpose: clear it so that the fixture's check passes.
    page.evaluate("window.__cspViolations = []")
    csp_violations.clear()


def test_an_injected_inline_script_is_refused(page, demo, csp_violations):
    page.goto("/accounts/login/")
    page.evaluate(
        "const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
        "document.head.appendChild(s)"
    )
    page.wait_for_function("window.__cspViolations.length > 0")
    assert page.evaluate("window.ran") is None
    page.wait_for_timeout(200)
    assert any("script-src" in v for v in csp_violations), csp_violations
    page.evaluate("window.__cspViolations = []")
    csp_violations.clear()


def test_dealer_pages_and_htmx_run_without_violations(page, demo):
    sign_in(page, "demo-owner", "demo-owner-pass")
    expect(page).to_have_url("/dealer/")
    for url in ["/customers/", "/dealer/stations/", "/dealer/team/"]:
        page.goto(url)
        expect(page.locator("main")).to_be_visible()
    # Bootstrap's JavaScript (dropdowns) works under the policy.
    page.get_by_role("button", name="demo-owner").or_(
        page.get_by_role("link", name="demo-owner")
    ).first.click()
    expect(page.get_by_role("link", name="Change password")).to_be_visible()
    assert page.evaluate("typeof htmx") == "object"


def test_the_django_admin_runs_without_violations(page, demo):
    page.goto("/admin/login/")
    page.get_by_label("Username").fill("demo-admin")
    page.get_by_label("Password").fill("demo-admin-pass")
    page.get_by_role("button", name="Log in").click()
    set_up_app(page)  # staff must use a second factor; this page is under the policy too
    page.get_by_role("link", name="I have saved them").click()
    expect(page.get_by_role("heading", name="Site administration")).to_be_visible()
    for url in [
        "/admin/auth/user/",
        "/admin/auth/user/add/",
        "/admin/customers/customer/",
        "/admin/signals/signal/",
        "/admin/stations/receiver/add/",
    ]:
        page.goto(url)
        expect(page.locator("#content")).to_be_visible()
    # The admin's own JavaScript works: the change list's filter and action controls.
    page.goto("/admin/customers/customer/")
    page.locator("#content a").filter(has_text="Corner Pharmacy").first.click()
    expect(page.locator("#customer_form")).to_be_visible()
