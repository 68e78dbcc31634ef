"""Receiver path health: up, down, the e-mails each change sends (once), and where dealers and
admins see it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.db import DatabaseError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from signals.emulator import ReceiverEmulator
from signals.models import Signal
from stations import lib, services
from stations.models import PathHealth, ReceiverPath
from tests.factories import (
    DealerStationFactory,
    NotificationRecipientFactory,
    ReceiverFactory,
    SignalFactory,
)
from tests.signals.processes import needs_postgresql
from tests.signals.receivers import dispatcher, free_port, path_to

pytestmark = pytest.mark.django_db

UP, DOWN, UNKNOWN = lib.UP, lib.DOWN, lib.UNKNOWN


def test_the_state_rules():
    assert lib.path_state_next(UNKNOWN, 0, ok=True, down_after=2) == (UP, 0)
    assert lib.path_state_next(UNKNOWN, 0, ok=False, down_after=2) == (UNKNOWN, 1)
    assert lib.path_state_next(UP, 0, ok=False, down_after=2) == (UP, 1)
    assert lib.path_state_next(UP, 1, ok=False, down_after=2) == (DOWN, 2)
    assert lib.path_state_next(DOWN, 7, ok=False, down_after=2) == (DOWN, 8)
    assert lib.path_state_next(DOWN, 7, ok=True, down_after=2) == (UP, 0)
    assert lib.path_state_next(UP, 0, ok=False, down_after=1) == (DOWN, 1)


@pytest.fixture
def subscribers(dealer, other_dealer, record, outsider_record) -> list[str]:
    """Receiver-notification subscribers of both dealers whose records use ``receiver``."""
    ours = NotificationRecipientFactory(dealer=dealer, email="ops@acme.example")
    NotificationRecipientFactory(
        dealer=dealer, email="quiet@acme.example", receiver_notifications=False
    )
    theirs = NotificationRecipientFactory(dealer=other_dealer, email="ops@rival.example")
    # A dealer whose records use another receiver hears nothing about this one.
    elsewhere = DealerStationFactory(receiver=ReceiverFactory())
    NotificationRecipientFactory(dealer=elsewhere.dealer, email="ops@elsewhere.example")
    return sorted([ours.email, theirs.email])


def deliver_round(capture) -> None:
    """Everything pending is due now; one dispatcher delivers what it can."""
    Signal.objects.filter(state=Signal.State.PENDING).update(next_attempt_at=timezone.now())
    with capture(execute=True):
        dispatcher().run(once=True)


def recipients() -> list[str]:
    return sorted(address for message in mail.outbox for address in message.to)


def test_a_path_goes_down_and_comes_back_and_each_change_is_told_once(
    account, receiver, subscribers, settings, django_capture_on_commit_callbacks
):
    settings.SIGNAL_PATH_DOWN_AFTER = 2
    port = free_port()
    path = path_to(receiver, port)
    SignalFactory(account=account)

    deliver_round(django_capture_on_commit_callbacks)
    health = PathHealth.objects.get(path=path)
    assert (health.state, health.consecutive_failures) == (UNKNOWN, 1)
    assert mail.outbox == []

    deliver_round(django_capture_on_commit_callbacks)
    health.refresh_from_db()
    assert (health.state, health.consecutive_failures) == (DOWN, 2)
    assert health.changed_at == health.last_failure_at
    assert health.last_error == "connect refused"
    assert recipients() == subscribers
    down = mail.outbox[0]
    assert "down" in down.subject
    assert receiver.name in down.body
    assert f"127.0.0.1:{port}" in down.body
    assert "connect refused" in down.body

    deliver_round(django_capture_on_commit_callbacks)  # still down: nothing new to tell
    assert len(mail.outbox) == 2

    with ReceiverEmulator(port=port) as station:
        deliver_round(django_capture_on_commit_callbacks)
        assert len(station.accepted) == 1
    health.refresh_from_db()
    assert (health.state, health.consecutive_failures) == (UP, 0)
    assert health.last_success_at == health.changed_at
    assert len(mail.outbox) == 4
    assert sorted(address for m in mail.outbox[2:] for address in m.to) == subscribers
    assert all("back up" in m.subject for m in mail.outbox[2:])


def test_a_new_path_that_works_is_up_without_any_email(
    account, receiver, subscribers, django_capture_on_commit_callbacks
):
    with ReceiverEmulator() as station:
        path = path_to(receiver, station.port)
        SignalFactory(account=account)
        deliver_round(django_capture_on_commit_callbacks)

    assert PathHealth.objects.get(path=path).state == UP
    assert mail.outbox == []


def test_a_rejection_proves_the_path_is_up_and_a_failover_answer_counts_against_it(
    account, receiver, settings, django_capture_on_commit_callbacks
):
    from signals.emulator import Faults

    settings.SIGNAL_PATH_DOWN_AFTER = 1
    with (
        ReceiverEmulator(faults=Faults(reject_rate=1.0)) as rejecting,
        ReceiverEmulator(faults=Faults(failover_rate=1.0)) as full,
    ):
        primary = path_to(receiver, rejecting.port)
        SignalFactory(account=account)
        deliver_round(django_capture_on_commit_callbacks)
        assert PathHealth.objects.get(path=primary).state == UP

        primary.port = full.port
        primary.save()
        deliver_round(django_capture_on_commit_callbacks)
    health = PathHealth.objects.get(path=primary)
    assert health.state == DOWN
    assert "alternate path" in health.last_error


def test_dispatchers_reporting_the_same_failure_change_the_state_once(
    receiver, subscribers, django_capture_on_commit_callbacks
):
    path = path_to(receiver, free_port())
    failure = lib.PathObservation(path.pk, ok=False, at=timezone.now(), error="timeout")

    with django_capture_on_commit_callbacks(execute=True):
        first = services.path_health_record(observations=[failure], down_after=1)
        second = services.path_health_record(observations=[failure], down_after=1)

    assert [(c.old, c.new) for c in first] == [(UNKNOWN, DOWN)]
    assert second == []
    assert recipients() == subscribers


def test_several_observations_of_one_batch_apply_in_order(receiver):
    path = path_to(receiver, free_port())
    now = timezone.now()
    observations = [
        lib.PathObservation(path.pk, ok=False, at=now, error="timeout"),
        lib.PathObservation(path.pk, ok=False, at=now, error="connect refused"),
        lib.PathObservation(path.pk, ok=True, at=now),
    ]

    changes = services.path_health_record(observations=observations, down_after=2)

    assert [(c.old, c.new) for c in changes] == [(UNKNOWN, DOWN), (DOWN, UP)]
    health = PathHealth.objects.get(path=path)
    assert (health.state, health.last_error) == (UP, "connect refused")


def test_the_receiver_admin_shows_each_paths_health(admin_client, receiver):
    down = path_to(receiver, free_port())
    path_to(receiver, free_port(), ReceiverPath.Role.ALTERNATE)
    PathHealth.objects.create(
        path=down, state=DOWN, changed_at=timezone.now(), last_error="connect refused"
    )

    page = admin_client.get(reverse("admin:stations_receiver_change", args=[receiver.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "<strong>Down</strong>" in text
    assert "last error: connect refused" in text
    assert "No delivery tried yet" in text  # the alternate


def test_station_records_show_a_receiver_badge_in_a_fixed_number_of_queries(
    owner_client, dealer, record, receiver
):
    primary = path_to(receiver, free_port())
    alternate = path_to(receiver, free_port(), ReceiverPath.Role.ALTERNATE)
    PathHealth.objects.create(path=primary, state=DOWN)
    PathHealth.objects.create(path=alternate, state=UP)
    DealerStationFactory(dealer=dealer, receiver=None, station=record.station, name="Video")
    url = reverse("stations:record-list")

    with CaptureQueriesContext(connection) as few:
        page = owner_client.get(url)
    text = page.content.decode()
    assert 'data-testid="receiver-health"' in text
    assert "Primary path down" in text
    for _ in range(3):
        other = ReceiverFactory()
        path_to(other, free_port())
        DealerStationFactory(dealer=dealer, receiver=other)
    with CaptureQueriesContext(connection) as many:
        page = owner_client.get(url)

    assert len(many) == len(few)
    assert page.content.decode().count("Receiver not tried yet") == 3


def test_the_badge_says_down_when_every_path_is_down(owner_client, record, receiver):
    PathHealth.objects.create(path=path_to(receiver, free_port()), state=DOWN)

    page = owner_client.get(reverse("stations:record-list"))

    assert "Receiver down" in page.content.decode()


def test_the_admin_lists_every_paths_health(admin_client, receiver):
    path = path_to(receiver, free_port())
    PathHealth.objects.create(path=path, state=DOWN, last_error="connect refused")

    listing = admin_client.get(reverse("admin:stations_pathhealth_changelist"))
    detail = admin_client.get(reverse("admin:stations_pathhealth_change", args=[path.health.pk]))

    assert listing.status_code == detail.status_code == 200
    assert "connect refused" in listing.content.decode()
    assert admin_client.get(reverse("admin:stations_pathhealth_add")).status_code == 403


# --- what the protocols keep per path and receiver ----------------------------------------------


def test_sequence_numbers_are_handed_out_once_per_path_and_wrap(receiver):
    path = path_to(receiver, free_port())
    first = services.path_sequence_reserve(path_id=path.pk, count=20)
    second = services.path_sequence_reserve(path_id=path.pk, count=20)
    assert (list(first)[:2], list(second)[:1]) == ([1, 2], [21])
    PathHealth.objects.filter(path=path).update(sequence=9995)
    assert list(services.path_sequence_reserve(path_id=path.pk, count=20)) == [
        9996,
        9997,
        9998,
        9999,
    ]
    assert list(services.path_sequence_reserve(path_id=path.pk, count=2)) == [1, 2]


def test_one_heartbeat_per_interval_however_many_ask_and_slower_when_asked(receiver):
    path = path_to(receiver, free_port())
    now = timezone.now()
    first = services.path_heartbeat_claim(
        path_id=path.pk, interval_seconds=60, now=now, idle_only=False
    )
    again = services.path_heartbeat_claim(
        path_id=path.pk, interval_seconds=60, now=now, idle_only=False
    )
    assert (first.send, again.send) == (True, False)
    services.path_heartbeat_record(path_id=path.pk, at=now, answer="101", slower_seconds=600)
    # The receiver asked for fewer: the heartbeat already due at the old rate moves out too.
    at_the_old_rate = services.path_heartbeat_claim(
        path_id=path.pk, interval_seconds=60, now=now + timedelta(seconds=61), idle_only=False
    )
    assert not at_the_old_rate.send and at_the_old_rate.wait_seconds == 539
    third = services.path_heartbeat_claim(
        path_id=path.pk, interval_seconds=60, now=now + timedelta(seconds=600), idle_only=False
    )
    assert third.send and third.wait_seconds == 600
    health = PathHealth.objects.get(path=path)
    assert (health.last_heartbeat_answer, health.heartbeat_seconds) == ("101", 600)


def test_a_confirmed_credential_replaces_only_the_one_it_was_asked_with(receiver):
    receiver.wire_credential = "old-auth"
    receiver.save()
    assert services.receiver_secret_replace(receiver_id=receiver.pk, old="old-auth", new="new-1")
    assert not services.receiver_secret_replace(receiver_id=receiver.pk, old="old-auth", new="x")
    receiver.refresh_from_db()
    assert receiver.wire_credential == "new-1"


def _other_connection():
    """A connection of its own to the test database (not Django's, not the pool's)."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    return psycopg.connect(**params, autocommit=True)


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_a_health_row_held_elsewhere_costs_the_batch_its_health_not_its_signals(receiver, caplog):
    """A dispatcher frozen mid-write holds a path's health row: the batch's own writes go on
    without this batch's health, and the log says so."""
    path = path_to(receiver, free_port())
    services.path_health_record(observations=[lib.PathObservation(path.pk, True, timezone.now())])
    running = dispatcher()
    failure = lib.PathObservation(path.pk, ok=False, at=timezone.now(), error="timeout")
    with _other_connection() as holder, holder.transaction():
        holder.execute("SELECT 1 FROM stations_pathhealth WHERE path_id = %s FOR UPDATE", [path.pk])
        with transaction.atomic():
            running.record_health([failure])
            Signal.objects.count()  # the batch's transaction still works
    assert "path health not recorded" in caplog.text
    assert PathHealth.objects.get(path=path).last_failure_at is None


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_database_going_away_while_recording_health_fails_the_batch(receiver, caplog):
    """Not a health row held elsewhere: the whole batch failed with the database, which the
    dispatcher's recovery reports once; the health write says nothing of its own."""
    path = path_to(receiver, free_port())
    running = dispatcher()
    failure = lib.PathObservation(path.pk, ok=False, at=timezone.now(), error="timeout")
    try:
        with pytest.raises(DatabaseError), transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                (pid,) = cursor.fetchone()
            with _other_connection() as killer:
                killer.execute("SELECT pg_terminate_backend(%s)", [pid])
            running.record_health([failure])
        assert "path health not recorded" not in caplog.text
    finally:
        connection.close()
