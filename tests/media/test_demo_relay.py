"""make run's media relay: the demo bridges' cameras get a real HLS stream on loopback, and
the operator's "Watch live" plays it through the portal."""

from __future__ import annotations

import threading
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from customers.models import Bridge
from media import signing
from media.management.commands.run_media_relay import serve


@pytest.mark.django_db(transaction=True)
def test_the_demo_relay_serves_every_demo_camera_through_the_portal(tmp_path):
    call_command("seed_demo", "--force", stdout=StringIO())
    stop, ready = threading.Event(), threading.Event()
    worker = threading.Thread(
        target=serve,
        args=(tmp_path,),
        kwargs={
            "host": "127.0.0.1",
            "port": 0,
            "seconds": 2,
            "stop": stop,
            "ready": lambda server, count: ready.set(),
        },
    )
    worker.start()
    try:
        assert ready.wait(120)
        bridges = list(Bridge.objects.filter(serial__startswith="DEMO-BR-"))
        assert bridges and all(b.relay_url.startswith("http://127.0.0.1:") for b in bridges)
        from django.contrib.auth import get_user_model

        operator = get_user_model().objects.get(username="demo-operator")
        camera = bridges[0].cameras.order_by("channel").first()
        client = Client()
        client.force_login(operator)
        response = client.get(signing.live_url(camera, user=operator))
        assert response.status_code == 200, response.content
        assert response.content.startswith(b"#EXTM3U")
    finally:
        stop.set()
        worker.join(30)
