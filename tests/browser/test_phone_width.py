"""No page of the dealer side is wider than a phone: 390 px, measured in the browser.

The test signs in as the demo owner and walks every page it can reach by following links from
the dashboard (same site, the dealer side only), opening every <details> on each page (what a
signal sent, its attempts) before it measures. A table may scroll inside its own box; the
page itself must not scroll sideways.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

WIDTH = 390
# Not pages of the dealer side, or not pages at all (downloads, signing out).
SKIP_PREFIXES = ("/admin/", "/static/", "/monitoring", "/operator/", "/station/", "/accounts/")
SKIP_PARTS = ("/export/", "/logout", "/delete/", "/remove/")
MAX_PAGES = 150

MEASURE = """() => {
  document.querySelectorAll("details").forEach((d) => { d.open = true; });
  const wide = [];
  const limit = document.documentElement.clientWidth;
  document.querySelectorAll("body *").forEach((el) => {
    const box = el.getBoundingClientRect();
    if (box.right > limit + 1 && !el.closest(".table-responsive, .payload, .visually-hidden")) {
      const name = `${el.tagName.toLowerCase()}.${el.className}`.slice(0, 80);
      wide.push(`${name} right=${Math.round(box.right)}`);
    }
  });
  return {
    scroll: document.documentElement.scrollWidth,
    client: limit,
    wide: wide.slice(0, 5),
  };
}"""

LINKS = """() => Array.from(document.querySelectorAll("a[href]"), (a) => a.getAttribute("href"))"""


def _wanted(href: str) -> str | None:
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or not parts.path.startswith("/"):
        return None
    path = parts.path
    if path.startswith(SKIP_PREFIXES) or any(part in path for part in SKIP_PARTS):
        return None
    return path + (f"?{parts.query}" if parts.query else "")


def _something_on_every_page(page, tmp_path) -> None:
    """Signals with what they sent (the XML that once made the page 3,000 px wide), and an
    import whose preview lists errors, so those pages are measured full."""
    page.goto("/customers/")
    page.get_by_test_id("customer-list").get_by_role("link").first.click()
    page.get_by_test_id("send-test-signal").click()
    upload = tmp_path / "a-file-with-a-rather-long-name-for-a-phone-screen-of-customers.csv"
    upload.write_text(
        "Name,Time zone,Demo Central (XML) account number,Zones\n"
        ",Mars/Olympus,12 34 56 78 90,017 A zone with a long name [Nonsense]\n"
    )
    page.goto("/customers/import/")
    page.get_by_label("File").set_input_files(upload)
    page.get_by_test_id("upload").click()


def test_no_dealer_page_is_wider_than_a_phone(browser, live_server, demo, csp_violations, tmp_path):
    context = browser.new_context(
        base_url=live_server.url, viewport={"width": WIDTH, "height": 844}, is_mobile=True
    )
    page = context.new_page()
    try:
        sign_in(page, "demo-owner", "demo-owner-pass")
        _something_on_every_page(page, tmp_path)
        queue, seen, too_wide = ["/dealer/", "/signals/", "/customers/import/"], set(), []
        while queue and len(seen) < MAX_PAGES:
            url = queue.pop(0)
            if url in seen:
                continue
            seen.add(url)
            response = page.goto(url)
            assert response is not None and response.status < 500, url
            page.wait_for_load_state("networkidle")
            measured = page.evaluate(MEASURE)
            if measured["scroll"] > WIDTH:
                too_wide.append(f"{url}: {measured['scroll']} px wide; {measured['wide']}")
            for href in page.evaluate(LINKS):
                wanted = _wanted(href)
                if wanted and wanted not in seen:
                    queue.append(wanted)
        assert len(seen) >= 25, sorted(seen)  # the walk reached the dealer side's pages
        assert not too_wide, "\n".join(too_wide)
    finally:
        context.close()
