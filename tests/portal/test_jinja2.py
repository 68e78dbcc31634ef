"""The Jinja2 environment's Django filters (portal/jinja2.py) render what Django's engine
renders for the same value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.template import engines
from django.utils import timezone

WHEN = [
    datetime(2026, 11, 30, 8, 58, 12, tzinfo=UTC),
    datetime(2026, 3, 8, 6, 59, 59, tzinfo=UTC),  # New York's clocks go forward at 07:00 UTC
    datetime(2026, 11, 1, 5, 30, tzinfo=UTC),  # ... and back at 06:00 UTC
]


def _django(source: str, **context) -> str:
    return engines["django"].from_string(source).render(context)


def _jinja(source: str, **context) -> str:
    return engines["jinja2"].from_string(source).render(context)


@pytest.mark.parametrize("when", WHEN)
@pytest.mark.parametrize("zone", ["America/New_York", "Asia/Kolkata", "UTC"])
def test_date_in_a_sites_time_zone_is_djangos(when, zone):
    django = _django(
        '{% load tz %}{% timezone zone %}{{ when|date:"Y-m-d H:i:s T" }}{% endtimezone %}',
        when=when,
        zone=zone,
    )
    assert _jinja('{{ when|date("Y-m-d H:i:s T", zone) }}', when=when, zone=zone) == django


@pytest.mark.parametrize("when", WHEN)
def test_date_in_the_current_time_zone_is_djangos(when):
    with timezone.override("Europe/Berlin"):
        django = _django('{{ when|date:"Y-m-d H:i T" }}', when=when)
        assert _jinja('{{ when|date("Y-m-d H:i T") }}', when=when) == django
    assert "CET" in django or "CEST" in django


def test_no_date_is_empty():
    assert _jinja('{{ when|date("Y-m-d") }}', when=None) == ""


def test_linebreaksbr_escapes_then_breaks_lines():
    note = 'Gate <b>4411</b>\nDog & cat\r\nBack "door"'
    django = _django("{{ note|linebreaksbr }}", note=note)
    assert _jinja("{{ note|linebreaksbr }}", note=note) == django
    assert django.count("<br>") == 2 and "&lt;b&gt;" in django


def test_timesince_is_djangos():
    then = timezone.now() - timedelta(hours=3, minutes=5)
    assert _jinja("{{ then|timesince }}", then=then) == _django("{{ then|timesince }}", then=then)


def test_url_is_reverse():
    from django.urls import reverse

    code = "5f0c2b0e-0000-4000-8000-000000000000"
    assert _jinja('{{ url("monitoring:verdict", code) }}', code=code) == reverse(
        "monitoring:verdict", args=[code]
    )
