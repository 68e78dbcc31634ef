"""The demo library and the PORTAL_BASE_URL system check."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from dealers.models import Dealer
from signals.apps import check_portal_base_url
from signals.lib import DEFAULT_CODES
from signals.models import EventCode


@pytest.mark.django_db
def test_the_demo_dealer_gets_the_built_in_library_once():
    for _ in range(2):
        call_command("seed_demo", "--force", stdout=StringIO())
    dealer = Dealer.objects.get(name="Demo Alarm Co")
    library = dict(EventCode.objects.for_dealer(dealer).values_list("trigger", "event_code"))
    assert library == DEFAULT_CODES


@pytest.mark.parametrize(
    ("url", "warns"),
    [
        ("https://portal.example.com", False),
        ("http://127.0.0.1:8000", False),
        ("portal.example.com", True),
        ("", True),
        ("ftp://portal.example.com", True),
    ],
)
def test_portal_base_url_must_be_http(settings, url, warns):
    settings.PORTAL_BASE_URL = url
    messages = check_portal_base_url()
    assert [m.id for m in messages] == (["signals.W001"] if warns else [])
