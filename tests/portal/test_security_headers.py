"""Content-Security-Policy and Permissions-Policy on every page, and templates that obey them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# What a CSP without 'unsafe-inline' blocks, as it would be written in a template.
INLINE = {
    "inline <script> (code must live in static/js/)": re.compile(
        r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/(?:ld\+)?json\")[^>]*>", re.I
    ),
    "<style> block (CSS must live in static/css/)": re.compile(r"<style[\s>]", re.I),
    'style="" attribute': re.compile(r"<[^>]*\sstyle\s*=", re.I),
    "on* event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def _templates() -> list[Path]:
    return sorted(p for p in (ROOT / "templates").rglob("*") if p.suffix in {".html", ".txt"})


def test_templates_exist_to_scan():
    assert len(_templates()) > 20


@pytest.mark.parametrize("template", _templates(), ids=lambda p: str(p.relative_to(ROOT)))
def test_template_has_no_inline_script_or_style(template):
    text = template.read_text()
    found = [what for what, pattern in INLINE.items() if pattern.search(text)]
    assert not found, f"{template.relative_to(ROOT)}: {', '.join(found)}"


@pytest.mark.parametrize(
    "snippet",
    [
        '<div style="color:red">',
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        '<a onclick="x()">',
    ],
)
def test_the_scan_finds_inline_code(snippet):
    assert any(pattern.search(snippet) for pattern in INLINE.values())


def _policy(response) -> dict[str, list[str]]:
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *values = part.split()
        directives[name] = values
    return directives


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/accounts/login/", "/admin/login/", "/no-such-page/"])
def test_every_page_has_a_strict_content_security_policy(client, url):
    response = client.get(url)
    policy = _policy(response)
    assert policy["default-src"] == ["'self'"]
    assert policy["script-src"] == ["'self'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]


@pytest.mark.django_db
def test_every_page_has_a_permissions_policy(client):
    response = client.get("/accounts/login/")
    policy = response["Permissions-Policy"]
    assert "camera=()" in policy
    assert "microphone=()" in policy
    assert "geolocation=()" in policy


@pytest.mark.django_db
def test_htmx_is_told_not_to_inject_its_indicator_style(client, owner):
    client.force_login(owner)
    html = client.get("/dealer/").content.decode()
    assert '<meta name="htmx-config" content=\'{"includeIndicatorStyles":false}\'>' in html
