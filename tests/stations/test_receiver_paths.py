"""Receiver paths: TCP or HTTPS, and what the database refuses."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse

from stations.models import ReceiverPath
from tests.factories import ReceiverPathFactory

pytestmark = pytest.mark.django_db


def test_a_path_names_where_it_leads(receiver):
    tcp = ReceiverPathFactory(receiver=receiver, port=9100, use_tls=False)
    https = ReceiverPathFactory(
        receiver=receiver,
        role=ReceiverPath.Role.ALTERNATE,
        transport=ReceiverPath.Transport.HTTPS,
        host="receiver.example",
        port=8443,
        use_tls=True,
        url_path="/alarm-receiver/signals",
    )
    assert tcp.url == "tcp://127.0.0.1:9100"
    assert https.url == "https://receiver.example:8443/alarm-receiver/signals"
    assert str(https) == "Alternate https://receiver.example:8443/alarm-receiver/signals"
    tcp.use_tls = True
    assert tcp.url == "tls://127.0.0.1:9100"


def test_an_https_path_without_tls_is_refused(receiver):
    path = ReceiverPathFactory.build(
        receiver=receiver, transport=ReceiverPath.Transport.HTTPS, use_tls=False
    )
    with pytest.raises(ValidationError, match="always uses TLS"):
        path.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        path.save()


def test_a_relative_url_path_is_refused(receiver):
    path = ReceiverPathFactory.build(receiver=receiver, url_path="signals")
    with pytest.raises(ValidationError, match="starts with '/'"):
        path.full_clean()


def test_the_admin_adds_an_https_path(admin_client, receiver):
    url = reverse("admin:stations_receiver_change", args=[receiver.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update(
        station=receiver.station.pk,
        passkey="",
        is_active="on",
        **{
            "paths-TOTAL_FORMS": "1",
            "paths-INITIAL_FORMS": "0",
            "paths-MIN_NUM_FORMS": "0",
            "paths-MAX_NUM_FORMS": "2",
            "paths-0-role": "primary",
            "paths-0-transport": "https",
            "paths-0-host": "receiver.example",
            "paths-0-port": "443",
            "paths-0-use_tls": "on",
            "paths-0-url_path": "/alarm-receiver/signals",
            "paths-0-connect_timeout": "5",
            "paths-0-reply_timeout": "10",
        },
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302, response.context["inline_admin_formsets"]
    path = ReceiverPath.objects.get(receiver=receiver)
    assert path.url == "https://receiver.example:443/alarm-receiver/signals"
