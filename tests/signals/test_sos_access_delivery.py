"""SOS Access v4 signals through the dispatcher, over real sockets on loopback (TCP and TLS):
every response status acted on as the protocol means it, hostile replies harmless, and the
receiver on the other end written independently of the codec (tests/signals/sos_receivers.py).
"""

from __future__ import annotations

import time

import pytest
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from signals import services
from signals.emulator import Faults, ReceiverEmulator
from signals.models import DeliveryAttempt, Signal
from stations.models import Receiver, ReceiverPath
from tests.factories import NotificationRecipientFactory, SignalFactory
from tests.signals.receivers import dispatcher, path_to, run_once_within
from tests.signals.sos_receivers import (
    CLOSE,
    HANG,
    Drip,
    independent_receiver,
    ok,
    response,
)

pytestmark = pytest.mark.django_db

AUTH = "hxp4x9nnwxjatv8"
Outcome = DeliveryAttempt.Outcome
ALTERNATE = ReceiverPath.Role.ALTERNATE


@pytest.fixture
def receiver(receiver: Receiver) -> Receiver:
    """The dealer's receiver, speaking SOS Access v4."""
    receiver.protocol = Receiver.Protocol.SOS_ACCESS_V4
    receiver.protocol_settings = {
        "receiver": "42",
        "transmitter_type": "SV300",
        "link_transmitter_code": "PORTAL1",
        "event_codes": "sia",
        "heartbeat_level": 0,
        "pings_per_interval": 3,
    }
    receiver.wire_credential = AUTH
    receiver.save()
    return receiver


def sos_signal(account, **fields) -> Signal:
    values = {"protocol": "sos_access_v4", "payload": b""}
    values.update(fields)
    return SignalFactory(account=account, **values)


def answering(status: int, *, reference: str | None = ""):
    """A respond function answering every request with ``status`` (echoing its reference
    unless ``reference`` says otherwise)."""

    def respond(heard, n):
        ref = heard.fields.get("reference") if reference == "" else reference
        return response(heard.kind, status, ref)

    return respond


# --- end to end -------------------------------------------------------------------------------


def test_an_alarm_from_a_bridge_reaches_an_independent_receiver(customer, zone, account, receiver):
    event = services.event_record(
        customer=customer,
        kind="alarm",
        zone=zone,
        occurred_at=timezone.now(),
        source="device",
    )
    signal = event.signals.get()
    with independent_receiver(ok) as station:
        path_to(receiver, station.port)
        stats = dispatcher().run(once=True)

    assert stats.delivered == 1
    (heard,) = station.requests
    assert heard.fields["transmittercode"] == "3444"
    assert heard.fields["reference"] == signal.reference
    assert heard.fields["eventcode"] == "BA"  # Entry/Exit 134 -> burglary
    assert heard.fields["detector"] == "017"
    assert heard.fields["detectortext"] == "Back door"
    assert heard.fields["sectiontext"] == "Back door camera"
    assert heard.fields["additionalinfo"].splitlines()[0] == signal.video_url
    signal.refresh_from_db()
    assert (signal.state, signal.protocol, signal.ack_status) == ("delivered", "sos_access_v4", "0")
    attempt = signal.delivery_attempts.get()
    assert attempt.protocol == "sos_access_v4"
    assert AUTH.encode() not in bytes(attempt.sent)  # the secret is never kept
    assert b"<authentication>***************</authentication>" in bytes(attempt.sent)
    assert b"<status>0</status>" in bytes(attempt.reply)


def test_the_telegram_goes_over_tls(account, receiver, server_context, client_context):
    signal = sos_signal(account)
    with independent_receiver(ok, ssl_context=server_context) as station:
        path_to(receiver, station.port, use_tls=True, host="localhost")
        dispatcher(ssl_context=client_context).run(once=True)

    assert [h.fields["reference"] for h in station.requests] == [signal.reference]
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED


def test_one_connection_per_request(account, receiver):
    signals = [sos_signal(account) for _ in range(3)]
    with independent_receiver(ok) as station:
        path_to(receiver, station.port)
        dispatcher().run(once=True)

    assert [h.fields["reference"] for h in station.requests] == [s.reference for s in signals]
    assert station.connections == 3


# --- every status --------------------------------------------------------------------------


def test_0_delivers(account, receiver):
    signal = sos_signal(account)
    with independent_receiver(answering(0)) as station:
        path_to(receiver, station.port)
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    assert signal.delivery_attempts.get().outcome == Outcome.DELIVERED


def test_10_duplicate_counts_as_delivered(account, receiver):
    signal = sos_signal(account)
    with independent_receiver(answering(10)) as station:
        path_to(receiver, station.port)
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert (signal.state, signal.ack_status) == (Signal.State.DELIVERED, "10")
    assert signal.delivery_attempts.get().outcome == Outcome.DUPLICATE


@pytest.mark.parametrize("status", [5, 99])
def test_5_and_99_go_to_the_other_path_at_once(account, receiver, status):
    signal = sos_signal(account)
    with (
        independent_receiver(answering(status)) as primary,
        independent_receiver(ok) as alternate,
    ):
        path_to(receiver, primary.port)
        path_to(receiver, alternate.port, role=ALTERNATE)
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    assert list(signal.delivery_attempts.values_list("path_role", "outcome")) == [
        ("primary", Outcome.FAILOVER),
        ("alternate", Outcome.DELIVERED),
    ]
    assert len(alternate.requests) == 1


def test_4_not_authorised_fails_the_signal_at_once_and_tells_the_dealer(
    account, receiver, dealer, django_capture_on_commit_callbacks
):
    NotificationRecipientFactory(dealer=dealer, email="alerts@dealer.example")
    signal = sos_signal(account)
    with (
        independent_receiver(answering(4)) as station,
        django_capture_on_commit_callbacks(execute=True),
    ):
        path_to(receiver, station.port)
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.FAILED
    assert signal.failed_at is not None
    assert "NOT_AUTHORIZED" in signal.last_error
    assert signal.delivery_attempts.get().outcome == Outcome.REJECTED
    assert len(station.requests) == 1  # never resent
    assert len(mail.outbox) == 1
    assert "NOT_AUTHORIZED" in mail.outbox[0].body


@pytest.mark.parametrize("status", [1, 2, 3, 7, 100])
def test_our_bad_telegram_is_rejected_for_good_with_the_reason(account, receiver, status):
    signal = sos_signal(account)
    with independent_receiver(answering(status)) as station:
        path_to(receiver, station.port)
        path_to(receiver, station.port, role=ALTERNATE)
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.FAILED
    assert signal.ack_status == str(status)
    assert "refused for good" in signal.last_error
    # The same telegram would be refused again, on either path: it is sent once.
    assert len(station.requests) == 1


def test_98_is_retried_later(account, receiver):
    signal = sos_signal(account)
    with independent_receiver(answering(98)) as station:
        path_to(receiver, station.port)
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    assert signal.next_attempt_at > timezone.now()
    assert signal.delivery_attempts.get().outcome == Outcome.RETRY
    assert len(station.requests) == 1


@pytest.mark.parametrize("status", [9, 101, 42])
def test_an_answer_an_alarm_cannot_get_is_retried(account, receiver, status):
    signal = sos_signal(account)
    with independent_receiver(answering(status)) as station:
        path_to(receiver, station.port)
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    assert signal.delivery_attempts.get().outcome == Outcome.RETRY


# --- hostile replies -----------------------------------------------------------------------


def _another_reference(heard, n):
    return response(heard.kind, 0, "someone-elses-signal")


HOSTILE = {
    "another reference": _another_reference,
    "no reference": answering(0, reference=None),
    "garbage": lambda heard, n: b"\x00\xff garbage \x13",
    "invalid xml": lambda heard, n: b'<?xml version="1.0" encoding="ISO-8859-1"?><alarmresponse>',
    "entity bomb": lambda heard, n: (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;">]>'
        b"<alarmresponse><reference>x</reference><status>0</status><info>&c;</info>"
        b"</alarmresponse>"
    ),
    "wrong encoding": lambda heard, n: (
        response(heard.kind, 0, heard.fields.get("reference")).decode("latin-1").encode("utf-16")
    ),
    "oversized": lambda heard, n: b"<alarmresponse>" + b"x" * 150_000,
    "closed": lambda heard, n: CLOSE,
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_reply_is_no_acknowledgement(account, receiver, name):
    signal = sos_signal(account)
    with independent_receiver(HOSTILE[name]) as station:
        path_to(receiver, station.port, reply_timeout=2.0)
        run_once_within(dispatcher())

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    attempt = signal.delivery_attempts.get()
    assert attempt.outcome == Outcome.ERROR
    assert attempt.error


def test_a_slow_drip_costs_one_deadline(account, receiver):
    signal = sos_signal(account)

    def drip(heard, n):
        return Drip(response(heard.kind, 0, heard.fields["reference"]), pause=0.05)

    with independent_receiver(drip) as station:
        path_to(receiver, station.port, reply_timeout=0.5)
        started = time.monotonic()
        run_once_within(dispatcher())
        took = time.monotonic() - started

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    attempt = signal.delivery_attempts.get()
    assert (attempt.outcome, attempt.error) == (Outcome.TIMEOUT, "timeout waiting for reply")
    assert took < 3


def test_a_receiver_that_never_answers_times_out(account, receiver):
    signal = sos_signal(account)
    with independent_receiver(lambda heard, n: HANG) as station:
        path_to(receiver, station.port, reply_timeout=0.3)
        run_once_within(dispatcher())

    signal.refresh_from_db()
    assert signal.delivery_attempts.get().outcome == Outcome.TIMEOUT


# --- the emulator, with faults --------------------------------------------------------------


def test_through_the_emulator_with_faults_every_signal_arrives_once_in_order(account, receiver):
    signals = [sos_signal(account) for _ in range(12)]
    with ReceiverEmulator(
        protocol="sos_access_v4",
        faults=Faults(reject_rate=0.3, failover_rate=0.2, drop_rate=0.2),
        seed=5,
    ) as emulator:
        path_to(receiver, emulator.port, reply_timeout=0.3)
        path_to(receiver, emulator.port, role=ALTERNATE, reply_timeout=0.3)
        running = dispatcher()
        for _ in range(40):
            Signal.objects.filter(state=Signal.State.PENDING).update(next_attempt_at=timezone.now())
            run_once_within(running)
            if not Signal.objects.filter(state=Signal.State.PENDING).exists():
                break

    assert [m.reference for m in emulator.accepted_for("3444")] == [s.reference for s in signals]
    assert Signal.objects.filter(state=Signal.State.DELIVERED).count() == 12
    counts = emulator.counts
    assert counts["rejected"] and counts["failover"] and counts["dropped"]
    assert counts.get("duplicate")  # a dropped reply is answered 10 on the resend


# --- what the dealer sees -------------------------------------------------------------------


def test_the_signal_list_shows_the_protocol_and_the_telegrams_readably(
    client, owner, customer, account, receiver
):
    customer.name = "Café Zürich"
    customer.save(update_fields=["name"])
    signal = sos_signal(account, site_name="Café Zürich")
    with independent_receiver(answering(0)) as station:
        path_to(receiver, station.port)
        dispatcher().run(once=True)
    client.force_login(owner)

    page = client.get(reverse("signals:list")).content.decode()

    assert signal.reference in page
    assert "SOS Access v4" in page
    assert "Site: Café Zürich" in page  # ISO-8859-1 shown as text, not \xe9
    assert "&lt;eventcode&gt;BA&lt;/eventcode&gt;" in page
    assert AUTH not in page
    assert "&lt;status&gt;0&lt;/status&gt;" in page
