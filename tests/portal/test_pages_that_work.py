"""The small things of issue 13: a full bridge offers no camera, an operator on a dealer page
is sent to their start page (with DEBUG on too), one "Site ID" on the customer page, the demo's
addresses follow where `make run` serves, and the demo has a second dealer."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.urls import reverse

from dealers.models import Membership
from portal.management.commands import run_all
from tests.factories import BridgeFactory, CameraFactory

pytestmark = pytest.mark.django_db


def test_a_full_bridge_offers_no_camera(owner_client, customer):
    bridge = BridgeFactory(customer=customer, model="bridge-4")
    for channel in range(1, 5):
        CameraFactory(bridge=bridge, channel=channel)
    page = owner_client.get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert reverse("customers:camera-create", args=[bridge.code]) not in page
    assert "All 4 channels in use" in page
    for method in (owner_client.get, owner_client.post):
        response = method(reverse("customers:camera-create", args=[bridge.code]))
        assert response.status_code == 302
        assert "Every channel of" in [str(m) for m in get_messages(response.wsgi_request)][-1]
    assert bridge.cameras.count() == 4


def test_a_bridge_with_a_free_channel_offers_one(owner_client, customer):
    bridge = BridgeFactory(customer=customer, model="bridge-4")
    page = owner_client.get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert reverse("customers:camera-create", args=[bridge.code]) in page


def test_an_operator_on_a_dealer_page_is_sent_to_their_start_page(client, operator, settings):
    settings.DEBUG = True  # no list of URL patterns, even then
    client.force_login(operator)
    response = client.get(reverse("customers:list"))
    assert response.status_code == 404
    text = response.content.decode()
    assert f'href="{reverse("home")}"' in text and 'data-testid="start-page"' in text
    assert "URLconf" not in text


def test_the_customer_page_has_one_site_id(owner_client, customer, record):
    from tests.factories import MonitoringAccountFactory

    MonitoringAccountFactory(customer=customer, station_record=record, reference_id="R1")
    text = owner_client.get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert ">Portal site ID<" in text
    assert ">Site ID<" not in text


def test_the_demo_prints_the_portal_address_and_has_a_second_dealer(settings):
    settings.PORTAL_BASE_URL = "http://127.0.0.1:8011"
    out = StringIO()
    call_command("seed_demo", "--force", stdout=out)
    output = out.getvalue()
    assert "Sign in at http://127.0.0.1:8011/accounts/login/" in output
    assert "http://127.0.0.1:8011/monitoring?act=" in output
    assert "127.0.0.1:8000" not in output
    dealers = Membership.objects.filter(user__username="demo-owner", role="owner")
    assert dealers.count() == 2


def test_run_all_gives_its_processes_the_address_it_serves_on(monkeypatch):
    started = []

    class Recorder:
        def __init__(self, args, **kwargs):
            started.append(kwargs["env"])
            self.stdout = iter(())

    monkeypatch.setattr(run_all.subprocess, "Popen", Recorder)
    monkeypatch.delenv("PORTAL_BASE_URL", raising=False)
    child = run_all.Child("web", ["runserver"], StringIO())
    import threading

    child.start(threading.Lock(), base_url="http://127.0.0.1:8011")
    assert started[-1]["PORTAL_BASE_URL"] == "http://127.0.0.1:8011"
    monkeypatch.setenv("PORTAL_BASE_URL", "https://portal.example.com")
    child.start(threading.Lock(), base_url="http://127.0.0.1:8011")
    assert started[-1]["PORTAL_BASE_URL"] == "https://portal.example.com"
