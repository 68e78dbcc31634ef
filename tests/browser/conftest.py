"""Real headless Chromium for browser tests, driven by Playwright.

Every page runs under the portal's Content-Security-Policy, and every browser test fails on
any violation of it: an inline script or style, an on* handler, a style="" attribute, or a
resource from elsewhere. The page reports each ``securitypolicyviolation`` event (and
Chromium's console message about it) to the test, which checks after the test that there were
none; ``csp_violations`` is the list, for a test that means to provoke one.

The browser is the system's Chromium (Debian's ``chromium`` package, or CHROMIUM_PATH); the
tests never download one. Without Chromium they skip and say why, except when
REQUIRE_BROWSER is set (CI sets it): then a missing browser is a failure, not a skip.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest

# Playwright's sync API runs an event loop in this thread; the tests still touch the database
# synchronously between browser steps, which Django would otherwise refuse.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium_path() -> str | None:
    configured = os.environ.get("CHROMIUM_PATH")
    if configured:
        return configured
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="session")
def browser() -> Iterator:
    path = _chromium_path()
    if path is None:
        message = "no Chromium installed (apt-get install chromium, or set CHROMIUM_PATH)"
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"REQUIRE_BROWSER is set but {message}")
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


# Runs in every document before its own scripts (Playwright injects it outside the page's CSP).
CSP_LISTENER = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const violation = {
    page: location.href,
    directive: event.violatedDirective,
    blocked: event.blockedURI,
    source: event.sourceFile,
    line: event.lineNumber,
    sample: event.sample,
  };
  window.__cspViolations.push(violation);
  if (window.__reportCspViolation) window.__reportCspViolation(violation);
});
"""


@pytest.fixture
def csp_violations() -> list[str]:
    """Every CSP violation the test's pages reported (the page fixture fails the test on any)."""
    return []


@pytest.fixture
def page(browser, live_server, csp_violations) -> Iterator:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)

    def record(_source, violation) -> None:
        if str(violation) not in csp_violations:
            csp_violations.append(str(violation))

    context.expose_binding("__reportCspViolation", record)
    context.add_init_script(script=CSP_LISTENER)
    page = context.new_page()
    page.on(
        "console",
        lambda message: (
            csp_violations.append(message.text)
            if "Content Security Policy" in message.text
            else None
        ),
    )
    yield page
    # The last page's events may still be on their way: read them from the page itself too.
    if not page.is_closed():
        try:
            for violation in page.evaluate("window.__cspViolations || []"):
                record(None, violation)
        except Exception:  # the page navigated away or crashed: what was reported stays
            pass
    context.close()
    assert not csp_violations, "Content-Security-Policy violations:\n" + "\n".join(csp_violations)


@pytest.fixture
def demo(transactional_db) -> None:
    """The demo data exactly as ``make run`` seeds it."""
    from io import StringIO

    from django.core.management import call_command

    call_command("seed_demo", "--force", stdout=StringIO())


def sign_in(page, username: str, password: str, *, set_up_second_factor: bool = False) -> None:
    """Sign in with the password. Staff and station admins must then set up an authenticator
    app: ``set_up_second_factor=True`` does that too and lands where the sign-in led."""
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if set_up_second_factor:
        set_up_app(page)
        page.get_by_role("link", name="I have saved them").click()


def code_for(secret: str, offset: int = 0) -> str:
    """The authenticator app's code for this key (offset in seconds from now)."""
    import time
    from base64 import b32decode

    from django_otp.oath import TOTP

    totp = TOTP(b32decode(secret.replace(" ", "")))
    totp.time = time.time() + offset
    return f"{totp.token():06d}"


def set_up_app(page) -> tuple[str, list[str]]:
    """On the set-up page: scan (read the key), confirm with a code; returns key and codes."""
    from playwright.sync_api import expect

    expect(page.get_by_role("heading", name="Set up two-factor sign-in")).to_be_visible()
    qr = page.get_by_test_id("two-factor-qr")
    expect(qr).to_be_visible()
    assert page.evaluate("el => el.naturalWidth > 50", qr.element_handle())
    secret = page.get_by_test_id("two-factor-secret").inner_text()
    page.get_by_label("Code from the app").fill(code_for(secret))
    page.get_by_role("button", name="Turn on two-factor sign-in").click()
    items = page.get_by_test_id("recovery-codes").locator("li")
    expect(items).to_have_count(10)
    return secret, items.all_inner_texts()
