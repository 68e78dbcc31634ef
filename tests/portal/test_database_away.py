"""A database that is away (restarting, failing over, out of connections) answers 503 with
Retry-After, never the 500 of a bug: people see a page that says to try again, bridges get
JSON and send their event again. Any other error still answers the plain 500 page."""

from __future__ import annotations

import json

import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.db import InterfaceError, OperationalError
from django.test import Client

from dealers import access
from signals import services
from tests.factories import BridgeFactory

pytestmark = pytest.mark.django_db

GONE = OperationalError("connection to server at 127.0.0.1 failed: Connection refused")


@pytest.fixture
def quiet_owner_client(owner_client: Client) -> Client:
    owner_client.raise_request_exception = False
    return owner_client


def test_a_page_whose_query_finds_the_database_away_answers_503(quiet_owner_client, monkeypatch):
    def away(request):
        raise GONE

    monkeypatch.setattr(access, "active_membership", away)
    response = quiet_owner_client.get("/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert b"cannot reach its database" in response.content
    assert b"Try again in a few seconds" in response.content


def test_a_lost_connection_in_the_middleware_answers_503(quiet_owner_client, monkeypatch):
    """The session is read before any view runs: the database failing there is caught too."""

    def away(self):
        raise InterfaceError("connection already closed")

    monkeypatch.setattr(SessionStore, "load", away)
    response = quiet_owner_client.get("/customers/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


def test_the_device_api_answers_json_503_so_that_the_bridge_sends_again(monkeypatch, customer):
    bridge = BridgeFactory(customer=customer, serial="BR-0001")
    token = services.bridge_token_issue(bridge=bridge)
    client = Client(raise_request_exception=False)

    def away(**kwargs):
        raise GONE

    monkeypatch.setattr(services, "event_record", away)
    response = client.post(
        "/api/devices/events",
        data=json.dumps(
            {
                "serial": "BR-0001",
                "event_id": "ev-1",
                "kind": "trouble",
                "time": "2025-03-04T06:06:07+01:00",
            }
        ),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response["Content-Type"] == "application/json"
    assert "database" in response.json()["error"]


def test_any_other_error_is_still_the_plain_500_page(quiet_owner_client, monkeypatch):
    def broken(request):
        raise ValueError("a bug of ours")

    monkeypatch.setattr(access, "active_membership", broken)
    response = quiet_owner_client.get("/")
    assert response.status_code == 500
    assert "Retry-After" not in response
    assert b"Something went wrong on our side" in response.content
