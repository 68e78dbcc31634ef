"""SOS Access v4 checked from outside the project: ``sos-access`` (an independent Python
transmitter of the protocol, on PyPI; a test dependency only) reads the telegrams the portal's
codec builds with its own schemas, and talks to the portal's emulator as a real transmitter
would. The codec and the emulator were written from the protocol's description, not from this
library.

Over TCP only: sos-access 0.0.8 cannot open TLS on current Pythons (it wraps its client socket
with a server-side context); TLS is checked against the tests' own independent receiver
(test_sos_access_delivery.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sos_access.client import SOSAccessClient
from sos_access.exceptions import DuplicateAlarm, NotAuthorized, PingToOften
from sos_access.schemas import AlarmRequestSchema, NewAuthRequestSchema, PingRequestSchema

from signals.codecs import codec_for
from signals.codecs.base import ReceiverConfig, SendContext
from signals.emulator import ReceiverEmulator
from tests.signals import make_message

AUTH = "hxp4x9nnwxjatv8"
SETTINGS = {"receiver": "42", "transmitter_type": "SV300", "link_transmitter_code": "PORTAL1"}


def context() -> SendContext:
    config = ReceiverConfig(1, "sos_access_v4", settings=SETTINGS, secret=AUTH)
    return SendContext(receiver=config, transport="tcp", now=datetime.now(UTC))


def test_the_outside_schema_reads_our_alarm_telegram():
    codec = codec_for("sos_access_v4")
    sent = codec.build(make_message(account="3444", site_name="Café Zürich"), b"", context())

    request = AlarmRequestSchema().load(sent.wire.decode("iso-8859-1"))

    assert request.reference == "sig-0001"
    assert request.authentication == AUTH
    assert (request.receiver, request.transmitter_type, request.transmitter_code) == (
        "42",
        "SV300",
        "3444",
    )
    assert (request.event_code, request.alarm_type) == ("BA", "AL")
    assert (request.section, request.detector) == ("01", "017")
    assert (request.section_text, request.detector_text) == ("Loading bay", "Back door")
    assert request.transmitter_time == datetime(2025, 3, 4, 5, 6, 7)
    assert "Site: Café Zürich" in request.additional_info


def test_the_outside_schemas_read_our_ping_and_rotation():
    codec = codec_for("sos_access_v4")

    ping = PingRequestSchema().load(codec.build_heartbeat(context()).wire.decode("latin-1"))
    rotation = NewAuthRequestSchema().load(
        codec.build_secret_rotation(context()).wire.decode("latin-1")
    )

    for request in (ping, rotation):
        assert (request.authentication, request.transmitter_code) == (AUTH, "PORTAL1")
        assert request.transmitter_type == "SV300"


@pytest.fixture
def emulator() -> Iterator[ReceiverEmulator]:
    config = ReceiverConfig(receiver_id=0, protocol="sos_access_v4", secret=AUTH)
    with ReceiverEmulator(protocol="sos_access_v4", config=config, seed=1) as running:
        yield running


def client(port: int, *, authentication: str = AUTH, use_tls: bool = False) -> SOSAccessClient:
    return SOSAccessClient(
        transmitter_code="IK00001",
        transmitter_type="SV300",
        authentication=authentication,
        receiver_id="42",
        receiver_address=("127.0.0.1", port),
        use_single_receiver=True,
        use_tls=use_tls,
    )


def test_an_outside_transmitter_sends_alarms_to_our_receiver(emulator):
    transmitter = client(emulator.port)

    first = transmitter.send_alarm(
        event_code="FA", reference="ext-1", section="1", detector_text="Kök"
    )
    restore = transmitter.restore_alarm(event_code="FA", reference="ext-2")
    with pytest.raises(DuplicateAlarm):
        transmitter.send_alarm(event_code="FA", reference="ext-1")

    assert (first.status, first.reference, restore.status) == (0, "ext-1", 0)
    accepted = emulator.accepted
    assert [(m.reference, m.alarmtype, m.eventcode) for m in accepted] == [
        ("ext-1", "AL", "FA"),
        ("ext-2", "RE", "FA"),
    ]
    assert accepted[0].detectortext == "Kök"


def test_an_outside_transmitter_pings_and_is_told_when_too_often(emulator):
    transmitter = client(emulator.port)

    assert transmitter.ping(reference="p-1").status == 0
    with pytest.raises(PingToOften):
        transmitter.ping(reference="p-2")


def test_an_outside_transmitter_rotates_its_password_with_our_receiver(emulator):
    transmitter = client(emulator.port)

    answer = transmitter.request_new_auth(reference="auth-1")
    new = answer.new_authentication
    assert answer.status == 0 and len(new) == 15

    assert client(emulator.port, authentication=new).send_alarm(event_code="BA").status == 0
    with pytest.raises(NotAuthorized):
        transmitter.send_alarm(event_code="BA")  # the old password is retired
