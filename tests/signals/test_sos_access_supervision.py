"""SOS Access v4 heartbeats (``pingrequest``, 101 slows them down) and password rotation
(``requestnewauthentication``: stored only once the receiver confirms it), over real loopback
sockets, and the station console's button for it."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.urls import reverse

from signals import services
from signals.codecs.base import ReceiverConfig
from signals.emulator import ReceiverEmulator
from signals.models import DeliveryAttempt, Signal
from signals.sending import Sender
from stations import services as station_services
from stations.models import Receiver, ReceiverPath
from tests.factories import SignalFactory
from tests.signals.receivers import dispatcher, free_port, path_to
from tests.signals.sos_receivers import CLOSE, Drip, independent_receiver, response

pytestmark = pytest.mark.django_db

AUTH = "hxp4x9nnwxjatv8"
Outcome = DeliveryAttempt.Outcome


@pytest.fixture
def receiver(receiver: Receiver) -> Receiver:
    receiver.protocol = Receiver.Protocol.SOS_ACCESS_V4
    receiver.protocol_settings = {
        "receiver": "42",
        "transmitter_type": "SV300",
        "link_transmitter_code": "PORTAL1",
        "event_codes": "sia",
        "heartbeat_level": 180,
        "pings_per_interval": 3,
    }
    receiver.wire_credential = AUTH
    receiver.save()
    return receiver


@pytest.fixture
def emulator() -> Iterator[ReceiverEmulator]:
    config = ReceiverConfig(receiver_id=0, protocol="sos_access_v4", secret=AUTH)
    with ReceiverEmulator(protocol="sos_access_v4", config=config, seed=1) as running:
        yield running


def sender() -> Sender:
    return Sender(ssl_context=None, stop=threading.Event())


# --- heartbeats ------------------------------------------------------------------------------


def test_a_ping_keeps_the_path_and_too_many_slow_down(receiver, emulator):
    path = path_to(receiver, emulator.port)
    pinging = sender()
    pinging.load([receiver.pk])

    first = pinging.heartbeat(receiver.pk, path)
    second = pinging.heartbeat(receiver.pk, path)
    pinging.close()

    assert (first.outcome, first.status, first.path_ok) == (Outcome.DELIVERED, "0", True)
    assert first.facts == {}
    assert b"<pingrequest>" in first.sent and AUTH.encode() not in first.sent
    # 101: the receiver is there (the path is fine), but wants fewer: two per 180 s at most.
    assert (second.outcome, second.status, second.path_ok) == (Outcome.DELIVERED, "101", True)
    assert second.facts == {"heartbeat_seconds": "90"}
    assert emulator.counts == {"heartbeat": 1, "ping_too_often": 1}


def test_a_receiver_without_heartbeat_service_answers_9_and_is_pinged_seldom(receiver):
    config = ReceiverConfig(
        receiver_id=0,
        protocol="sos_access_v4",
        secret=AUTH,
        settings={"emulator_heartbeat_service": "false"},
    )
    with ReceiverEmulator(protocol="sos_access_v4", config=config, seed=1) as emulator:
        path = path_to(receiver, emulator.port)
        pinging = sender()
        pinging.load([receiver.pk])
        attempt = pinging.heartbeat(receiver.pk, path)
        pinging.close()

    assert (attempt.outcome, attempt.status) == (Outcome.REJECTED, "9")
    assert "SERVICE_UNAVAILABLE" in attempt.reason
    assert attempt.path_ok  # the receiver answered
    assert attempt.facts == {"heartbeat_seconds": "45000"}


def test_a_ping_answered_5_is_not_a_working_path(receiver):
    with independent_receiver(
        lambda heard, n: response(heard.kind, 5, heard.fields["reference"])
    ) as station:
        path = path_to(receiver, station.port)
        pinging = sender()
        pinging.load([receiver.pk])
        attempt = pinging.heartbeat(receiver.pk, path)
        pinging.close()

    assert station.requests[0].kind == "pingrequest"
    assert attempt.outcome == Outcome.FAILOVER
    assert not attempt.path_ok


def test_a_ping_answered_for_another_reference_is_no_answer(receiver):
    with independent_receiver(lambda heard, n: response(heard.kind, 0, "ping-other")) as station:
        path = path_to(receiver, station.port)
        pinging = sender()
        pinging.load([receiver.pk])
        attempt = pinging.heartbeat(receiver.pk, path)
        pinging.close()

    assert attempt.outcome == Outcome.ERROR
    assert not attempt.path_ok


# --- rotation ---------------------------------------------------------------------------------


def test_a_confirmed_rotation_is_stored_and_used_and_the_old_password_retires(
    receiver, account, emulator
):
    path_to(receiver, emulator.port)

    result = services.receiver_secret_rotate(receiver=receiver)

    assert result.rotated, result.message
    receiver.refresh_from_db()
    new = receiver.wire_credential
    assert len(new) == 15 and new != AUTH
    assert new not in result.message
    # The next alarm carries the new one, which the receiver takes (and retires the old).
    signal = SignalFactory(account=account, protocol="sos_access_v4", payload=b"")
    dispatcher().run(once=True)
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    assert emulator.accepted[0].authentication == new


def test_the_password_never_reaches_the_history(receiver, emulator):
    path_to(receiver, emulator.port)

    services.receiver_secret_rotate(receiver=receiver)

    fields = {field.name for field in Receiver.history.model._meta.fields}
    assert "wire_credential" not in fields
    receiver.refresh_from_db()
    assert not Receiver.history.filter(name__contains=receiver.wire_credential).exists()


def test_a_refused_rotation_keeps_the_stored_password(receiver):
    config = ReceiverConfig(receiver_id=0, protocol="sos_access_v4", secret="another-one-xyz")
    with ReceiverEmulator(protocol="sos_access_v4", config=config, seed=1) as emulator:
        path_to(receiver, emulator.port)
        result = services.receiver_secret_rotate(receiver=receiver)

    assert not result.rotated
    assert "NOT_AUTHORIZED" in result.message
    receiver.refresh_from_db()
    assert receiver.wire_credential == AUTH


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(lambda heard, n: CLOSE, id="closed before answering"),
        pytest.param(
            lambda heard, n: response(
                heard.kind,
                0,
                heard.fields["reference"],
                extra="<newauthentication>NEWpassword0001</newauthentication>",
            )[:120],
            id="cut off mid-answer",
        ),
        pytest.param(
            lambda heard, n: Drip(
                response(
                    heard.kind,
                    0,
                    heard.fields["reference"],
                    extra="<newauthentication>NEWpassword0001</newauthentication>",
                ),
                pause=0.05,
            ),
            id="too slow",
        ),
    ],
)
def test_a_rotation_lost_half_way_keeps_the_stored_password(receiver, answer):
    with independent_receiver(answer) as station:
        path_to(receiver, station.port, reply_timeout=0.5)
        result = services.receiver_secret_rotate(receiver=receiver)

    assert station.requests[0].kind == "requestnewauthentication"
    assert not result.rotated
    receiver.refresh_from_db()
    assert receiver.wire_credential == AUTH


def test_a_rotation_fails_over_to_the_alternate_path(receiver, emulator):
    path_to(receiver, free_port())  # nobody listens
    path_to(receiver, emulator.port, role=ReceiverPath.Role.ALTERNATE)

    result = services.receiver_secret_rotate(receiver=receiver)

    assert result.rotated
    assert emulator.counts == {"rotated": 1}


def test_the_stored_password_is_replaced_only_if_it_is_still_the_old_one(receiver):
    assert not station_services.receiver_secret_replace(
        receiver_id=receiver.pk, old="not-the-current", new="NEWpassword0001"
    )
    receiver.refresh_from_db()
    assert receiver.wire_credential == AUTH


def test_a_protocol_without_rotation_says_so(receiver):
    receiver.protocol = Receiver.Protocol.XML_V1
    receiver.save()

    result = services.receiver_secret_rotate(receiver=receiver)

    assert not result.rotated
    assert "no secret to rotate" in result.message


# --- the console --------------------------------------------------------------------------------


def rotate_url(station, receiver) -> str:
    return reverse("monitoring:console-receiver-rotate-secret", args=[station.code, receiver.code])


def test_a_station_admin_rotates_from_the_console(
    station_admin_client, station, receiver, emulator
):
    path_to(receiver, emulator.port)
    listing = station_admin_client.get(reverse("monitoring:console-receivers", args=[station.code]))
    assert rotate_url(station, receiver) in listing.content.decode()

    response_ = station_admin_client.post(rotate_url(station, receiver), follow=True)

    assert response_.status_code == 200
    page = response_.content.decode()
    assert "confirmed a new secret" in page
    receiver.refresh_from_db()
    assert receiver.wire_credential != AUTH
    assert receiver.wire_credential not in page


def test_the_console_says_when_rotation_failed(station_admin_client, station, receiver):
    path_to(receiver, free_port())

    page = station_admin_client.post(rotate_url(station, receiver), follow=True).content.decode()

    assert "Not rotated" in page
    receiver.refresh_from_db()
    assert receiver.wire_credential == AUTH


def test_rotation_is_a_post(station_admin_client, station, receiver):
    assert station_admin_client.get(rotate_url(station, receiver)).status_code == 405


def test_no_rotate_button_for_a_protocol_without_it(station_admin_client, station, receiver):
    receiver.protocol = Receiver.Protocol.XML_V1
    receiver.save()

    listing = station_admin_client.get(reverse("monitoring:console-receivers", args=[station.code]))

    assert 'data-testid="rotate-secret"' not in listing.content.decode()


# --- the dispatchers' supervision ----------------------------------------------------------


def _due_now(running, path) -> None:
    """Make the path's heartbeat due again at once, for this dispatcher and the database."""
    from datetime import timedelta

    from django.utils import timezone

    from stations.models import PathHealth

    PathHealth.objects.filter(path=path).update(
        heartbeat_due_at=timezone.now() - timedelta(seconds=1)
    )
    running.supervisor._checked_at = float("-inf")
    for supervised in running.supervisor._paths.values():
        supervised.due = float("-inf")


def test_the_dispatchers_ping_and_slow_down_when_told_101(receiver, emulator):
    from stations.models import PathHealth

    path = path_to(receiver, emulator.port)
    running = dispatcher()

    assert running.supervisor.run_due() == 1
    health = PathHealth.objects.get(path=path)
    assert (health.state, health.last_heartbeat_answer, health.heartbeat_seconds) == (
        "up",
        "0",
        None,
    )

    _due_now(running, path)
    assert running.supervisor.run_due() == 1  # less than a second later: 101

    health.refresh_from_db()
    assert emulator.counts == {"heartbeat": 1, "ping_too_often": 1}
    assert (health.state, health.last_heartbeat_answer) == ("up", "101")
    # 180 s level, 3 pings: every 60 s; after 101, every 90 s (two per level, no fewer).
    assert health.heartbeat_seconds == 90
    assert 89 <= (health.heartbeat_due_at - health.last_heartbeat_at).total_seconds() <= 91


def test_a_slow_down_ends_when_the_receiver_answers_0_again(receiver, emulator):
    from stations.models import PathHealth

    path = path_to(receiver, emulator.port)
    running = dispatcher()
    running.supervisor.run_due()
    _due_now(running, path)
    running.supervisor.run_due()  # less than a second later: 101, slower
    assert PathHealth.objects.get(path=path).heartbeat_seconds == 90

    time.sleep(1.1)  # the emulator says 101 to pings less than a second apart
    _due_now(running, path)
    assert running.supervisor.run_due() == 1

    health = PathHealth.objects.get(path=path)
    assert emulator.counts == {"heartbeat": 2, "ping_too_often": 1}
    assert (health.last_heartbeat_answer, health.heartbeat_seconds) == ("0", None)
    # Back at the configured rate: 180 s level, 3 pings, every 60 s.
    assert 59 <= (health.heartbeat_due_at - health.last_heartbeat_at).total_seconds() <= 61


def test_a_receiver_whose_heartbeat_service_returns_is_pinged_as_configured_again(receiver):
    from stations.models import PathHealth

    answers = iter([9, 9, 0, 0])
    with independent_receiver(
        lambda heard, n: response(heard.kind, next(answers), heard.fields["reference"])
    ) as station:
        path = path_to(receiver, station.port)
        running, other = dispatcher(), dispatcher()
        assert running.supervisor.run_due() == 1  # 9: one ping every 12.5 hours
        health = PathHealth.objects.get(path=path)
        assert (health.last_heartbeat_answer, health.heartbeat_seconds) == ("9", 45000)
        assert other.supervisor.run_due() == 0  # not due for 12.5 hours, for anybody

        _due_now(running, path)  # 12.5 hours later: still none
        assert running.supervisor.run_due() == 1
        assert PathHealth.objects.get(path=path).heartbeat_seconds == 45000

        _due_now(running, path)  # 12.5 hours later: the service is back
        assert running.supervisor.run_due() == 1
        health.refresh_from_db()
        assert (health.last_heartbeat_answer, health.heartbeat_seconds) == ("0", None)
        assert 59 <= (health.heartbeat_due_at - health.last_heartbeat_at).total_seconds() <= 61

        # The other dispatcher last heard "12.5 hours"; it reads the health row again.
        PathHealth.objects.filter(path=path).update(heartbeat_due_at=None)
        other.supervisor._checked_at = other.supervisor._loaded_at = float("-inf")
        assert other.supervisor.run_due() == 1
        assert len(station.heard) == 4
        health.refresh_from_db()
        assert (health.last_heartbeat_answer, health.heartbeat_seconds) == ("0", None)


def test_saving_the_receivers_settings_ends_a_slow_down(receiver):
    from stations.models import PathHealth

    with independent_receiver(
        lambda heard, n: response(heard.kind, 9, heard.fields["reference"])
    ) as station:
        path = path_to(receiver, station.port)
        running = dispatcher()
        assert running.supervisor.run_due() == 1
        assert PathHealth.objects.get(path=path).heartbeat_seconds == 45000

        station_services.receiver_update(
            receiver=receiver,
            paths={ReceiverPath.Role.PRIMARY: {"host": "127.0.0.1", "port": station.port}},
            actor=None,
            protocol_settings={**receiver.protocol_settings, "pings_per_interval": 2},
        )
        health = PathHealth.objects.get(path=path)
        assert (health.heartbeat_seconds, health.heartbeat_due_at) == (None, None)
        running.supervisor._checked_at = running.supervisor._loaded_at = float("-inf")
        assert running.supervisor.run_due() == 1  # at once, not in 12.5 hours
        assert len(station.heard) == 2


# --- what a dealer may save -----------------------------------------------------------------


def test_an_account_or_a_text_sos_access_cannot_carry_is_refused_when_saved(
    customer, dealer, receiver
):
    from django.core.exceptions import ValidationError

    from customers import services as customer_services
    from tests.factories import DealerStationFactory, ZoneFactory

    record = DealerStationFactory(dealer=dealer, receiver=receiver, name="Nordic")
    with pytest.raises(ValidationError) as refused:
        customer_services.account_assign(
            customer=customer, station_record=record, account_number="1234567890ABCDEF"
        )
    assert "1-15" in refused.value.message_dict["account_number"][0]

    zone = ZoneFactory(customer=customer, number=5, name="Łódź door")
    with pytest.raises(ValidationError) as refused:
        customer_services.account_assign(
            customer=customer, station_record=record, account_number="5501"
        )
    assert "'Ł'" in refused.value.message_dict["station_record"][0]

    zone.name = "Entrée door"  # ISO-8859-1 carries it
    zone.save()
    customer.name = "Harbour Café"
    customer.save()
    account = customer_services.account_assign(
        customer=customer, station_record=record, account_number="5501"
    )
    assert account.account_number == "5501"
