"""The dispatcher against real loopback receivers: delivery, attempts, failover, backoff, the
deadline, leases, per-account order and priority. Runs on SQLite and PostgreSQL alike (one
dispatcher, in-process); the several-processes test is test_dispatcher_chaos.py."""

from __future__ import annotations

import io
import random
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.management import call_command
from django.utils import timezone

from signals import lib
from signals.codecs.xml_v1 import decode_reply
from signals.dispatcher import Dispatcher, claimable
from signals.emulator import Faults, Outcome, ReceiverEmulator
from signals.models import DeliveryAttempt, Signal
from signals.sending import Attempt, Result
from signals.transports import TcpTransport
from stations.models import ReceiverPath
from tests.factories import (
    DealerFactory,
    MonitoringAccountFactory,
    NotificationRecipientFactory,
    SignalFactory,
)
from tests.signals import xml_send
from tests.signals.receivers import (
    CLOSE,
    HANG,
    accept_reply,
    dispatcher,
    free_port,
    path_to,
    scripted,
)

pytestmark = pytest.mark.django_db

ALTERNATE = ReceiverPath.Role.ALTERNATE


@pytest.fixture
def emulator():
    with ReceiverEmulator(seed=3) as running:
        yield running


def refs(signals) -> list[str]:
    return [s.reference for s in signals]


def attempts_of(signal: Signal) -> list[tuple[str, str]]:
    return list(signal.delivery_attempts.order_by("id").values_list("path_role", "outcome"))


# --- delivery -------------------------------------------------------------------------------


def test_sends_the_stored_bytes_and_records_the_attempt(account, receiver):
    signal = SignalFactory(account=account)
    with scripted(lambda payload, n: accept_reply(payload)) as station:
        path = path_to(receiver, station.port)
        stats = dispatcher(name="d-test").run(once=True)

    assert station.frames == [bytes(signal.payload)]
    assert stats.delivered == 1
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    assert signal.delivered_at is not None
    assert (signal.ack_status, signal.attempts) == ("accepted", 1)
    assert (signal.lease_owner, signal.lease_expires_at) == ("", None)
    attempt = signal.delivery_attempts.get()
    assert (attempt.path, attempt.path_role, attempt.dispatcher_id) == (path, "primary", "d-test")
    assert attempt.outcome == DeliveryAttempt.Outcome.DELIVERED
    assert decode_reply(bytes(attempt.reply)).reference == signal.reference
    assert attempt.started_at <= signal.delivered_at
    assert attempt.error == ""
    # What went out is the stored payload: kept once, on the signal, and shown from there.
    assert (bytes(attempt.sent), attempt.sent_is_payload) == (b"", True)
    assert attempt.sent_message == bytes(signal.payload)
    assert f"<reference>{signal.reference}</reference>" in attempt.sent_text


def test_a_message_built_anew_for_the_receivers_protocol_is_kept_with_its_attempt(
    account, receiver, emulator
):
    # Written when the receiver spoke another protocol: the dispatcher builds the XML v1
    # package now, and that is what the attempt keeps.
    signal = SignalFactory(account=account, protocol="sia_dc09", payload=b"written for DC-09")
    path_to(receiver, emulator.port)

    dispatcher().run(once=True)

    assert refs(emulator.accepted) == [signal.reference]
    attempt = signal.delivery_attempts.get()
    assert not attempt.sent_is_payload
    assert f"<reference>{signal.reference}</reference>".encode() in bytes(attempt.sent)
    assert attempt.sent_message == bytes(attempt.sent) != bytes(signal.payload)


# Committed rows: on PostgreSQL the command records batches on a connection of its own.
@pytest.mark.django_db(transaction=True)
def test_the_management_command_delivers_what_is_due(account, receiver, emulator):
    signal = SignalFactory(account=account)
    path_to(receiver, emulator.port)
    out = io.StringIO()

    call_command("run_dispatcher", "--once", "--id", "cmd-1", stdout=out)

    assert refs(emulator.accepted) == [signal.reference]
    assert "1 delivered" in out.getvalue()
    # One database or the other, several lanes: a stalled receiver holds up only its own.
    assert f"{settings.SIGNAL_DISPATCH_CONNECTIONS} connection(s) at once" in out.getvalue()
    assert signal.delivery_attempts.get().dispatcher_id == "cmd-1"


def test_a_receiver_without_paths_is_an_error_attempt_and_a_retry(account):
    signal = SignalFactory(account=account)

    dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    assert signal.next_attempt_at > timezone.now()
    attempt = signal.delivery_attempts.get()
    assert (attempt.path, attempt.outcome) == (None, "error")
    assert "no path" in attempt.error


# --- failover -------------------------------------------------------------------------------


def test_a_refused_primary_fails_over_and_the_next_signal_starts_on_the_alternate(
    account, receiver, emulator
):
    path_to(receiver, free_port())
    path_to(receiver, emulator.port, ALTERNATE)
    first = SignalFactory(account=account)

    dispatcher_ = dispatcher()
    dispatcher_.run(once=True)
    second = SignalFactory(account=account)
    dispatcher_.run(once=True)

    assert refs(emulator.accepted) == refs([first, second])
    assert attempts_of(first) == [("primary", "error"), ("alternate", "delivered")]
    assert "connect refused" in first.delivery_attempts.first().error
    # The path that failed a moment ago is not tried first again.
    assert attempts_of(second) == [("alternate", "delivered")]


@pytest.mark.parametrize(
    "primary_behaviour", [CLOSE, "failover"], ids=["closes-the-connection", "answers-failover"]
)
def test_a_primary_that_closes_or_asks_for_failover_sends_it_to_the_alternate(
    account, receiver, emulator, primary_behaviour
):
    def primary(payload: bytes, n: int) -> bytes:
        if primary_behaviour == CLOSE:
            return CLOSE
        from signals.codecs.xml_v1 import decode_package, encode_reply

        return encode_reply(decode_package(payload).reference, "failover", "full")

    signal = SignalFactory(account=account)
    with scripted(primary) as station:
        path_to(receiver, station.port)
        path_to(receiver, emulator.port, ALTERNATE)
        dispatcher().run(once=True)

    expected = "error" if primary_behaviour == CLOSE else "failover"
    assert attempts_of(signal) == [("primary", expected), ("alternate", "delivered")]
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED


def test_a_primary_that_never_answers_times_out_and_fails_over(account, receiver, emulator):
    signal = SignalFactory(account=account)
    with scripted(lambda payload, n: HANG) as station:
        path_to(receiver, station.port, reply_timeout=0.3)
        path_to(receiver, emulator.port, ALTERNATE)
        dispatcher().run(once=True)

    assert attempts_of(signal) == [("primary", "timeout"), ("alternate", "delivered")]
    first = signal.delivery_attempts.order_by("id").first()
    assert 250 <= first.duration_ms < 2000


def test_both_paths_failing_backs_off_with_both_errors_kept(account, receiver):
    signal = SignalFactory(account=account)
    path_to(receiver, free_port())
    path_to(receiver, free_port(), ALTERNATE)

    dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    assert signal.attempts == 2
    assert "primary: connect refused" in signal.last_error
    assert "alternate: connect refused" in signal.last_error
    assert signal.next_attempt_at > timezone.now()


def test_one_unreachable_receiver_does_not_hold_up_the_others(account, receiver, record, dealer):
    """The first signal for a dead receiver waits out its timeout; the rest of that
    receiver's signals in the batch try again shortly instead of waiting in turn."""
    other_account = MonitoringAccountFactory(customer__dealer=dealer)  # another receiver
    neighbour = MonitoringAccountFactory(customer__dealer=dealer, station_record=record)
    dead = [
        SignalFactory(account=account, priority=1),
        SignalFactory(account=neighbour, priority=1),
    ]
    overdue = SignalFactory(
        account=MonitoringAccountFactory(customer__dealer=dealer, station_record=record),
        priority=2,
        deadline_at=timezone.now() - timedelta(seconds=1),
    )
    alive = SignalFactory(account=other_account, priority=6)
    with scripted(lambda payload, n: HANG) as black_hole, ReceiverEmulator() as station:
        path_to(receiver, black_hole.port, reply_timeout=0.3)
        path_to(other_account.station_record.receiver, station.port)
        dispatcher(batch=10).run(once=True)

        assert refs(station.accepted) == [alive.reference]
    first, second = (Signal.objects.get(pk=s.pk) for s in dead)
    assert attempts_of(first) == [("primary", "timeout")]
    assert attempts_of(second) == []  # skipped, not tried
    assert second.attempts == 0
    assert second.state == Signal.State.PENDING
    assert second.next_attempt_at > timezone.now()
    assert second.lease_owner == ""
    # One past its deadline is not held back for another timeout: it fails, saying why.
    overdue.refresh_from_db()
    assert overdue.state == Signal.State.FAILED
    assert attempts_of(overdue) == []
    assert overdue.last_error.startswith("not sent: the receiver could not be reached")
    assert "primary: timeout waiting for reply" in overdue.last_error


# --- rejections and backoff -----------------------------------------------------------------


def test_backoff_doubles_from_the_base_and_never_exceeds_the_cap():
    rng = random.Random(1)
    for attempts in range(1, 12):
        ceiling = min(60.0, 2 ** (attempts - 1))
        for _ in range(50):
            delay = lib.backoff_delay(attempts, base=1.0, cap=60.0, rng=rng)
            assert ceiling / 2 <= delay <= ceiling
    assert 30.0 <= lib.backoff_delay(10_000, base=1.0, cap=60.0, rng=rng) <= 60.0
    delays = {lib.backoff_delay(5, base=1.0, cap=60.0, rng=rng) for _ in range(20)}
    assert len(delays) > 1  # jittered


def test_a_rejection_is_retried_later_keeping_the_reason(account, receiver, emulator):
    emulator.faults = Faults(reject_rate=1.0)
    path_to(receiver, emulator.port)
    path_to(receiver, free_port(), ALTERNATE)
    signal = SignalFactory(account=account)
    before = timezone.now()

    dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    # A rejection is the receiver's answer: no failover, a retry after about a second.
    assert attempts_of(signal) == [("primary", "retry")]
    assert signal.ack_status == "rejected"
    assert "emulated rejection" in signal.ack_reason
    assert before + timedelta(seconds=0.5) <= signal.next_attempt_at
    assert signal.next_attempt_at <= timezone.now() + timedelta(seconds=1)


def test_the_wait_between_tries_is_capped(account, receiver, emulator, settings):
    settings.SIGNAL_BACKOFF_MAX_SECONDS = 60
    emulator.faults = Faults(reject_rate=1.0)
    path_to(receiver, emulator.port)
    signal = SignalFactory(account=account, attempts=40)

    dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.attempts == 41
    wait = signal.next_attempt_at - timezone.now()
    assert timedelta(seconds=29) <= wait <= timedelta(seconds=60)


# --- the deadline ---------------------------------------------------------------------------


def test_past_its_deadline_a_signal_fails_and_the_dealer_is_told_once(
    account, receiver, dealer, other_dealer, django_capture_on_commit_callbacks
):
    told = NotificationRecipientFactory(dealer=dealer, email="alarms@acme.example")
    NotificationRecipientFactory(dealer=dealer, signal_failure_notifications=False)
    NotificationRecipientFactory(dealer=other_dealer)
    path_to(receiver, free_port())
    late = SignalFactory(account=account, deadline_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        stats = dispatcher().run(once=True)

    late.refresh_from_db()
    assert stats.failed == 1
    assert late.state == Signal.State.FAILED
    assert late.failed_at is not None
    assert (late.lease_owner, late.lease_expires_at) == ("", None)
    assert attempts_of(late) == [("primary", "error")]  # tried once more before giving up
    assert [m.to for m in mail.outbox] == [[told.email]]
    message = mail.outbox[0]
    assert late.account_number in message.subject
    assert late.reference in message.body
    assert "connect refused" in message.body

    # Failed is final: nothing is sent or e-mailed again.
    with django_capture_on_commit_callbacks(execute=True):
        dispatcher().run(once=True)
    assert len(mail.outbox) == 1
    assert late.delivery_attempts.count() == 1


def test_before_its_deadline_a_failing_signal_stays_pending_and_nobody_is_told(
    account, receiver, dealer, django_capture_on_commit_callbacks
):
    NotificationRecipientFactory(dealer=dealer)
    path_to(receiver, free_port())
    signal = SignalFactory(account=account)

    with django_capture_on_commit_callbacks(execute=True):
        dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    assert mail.outbox == []


# --- leases ---------------------------------------------------------------------------------


def test_a_dead_dispatchers_signal_is_resent_after_its_lease_with_the_same_reference(
    account, receiver, emulator
):
    path_to(receiver, emulator.port)
    signal = SignalFactory(
        account=account,
        lease_owner="dead-dispatcher/0000",
        lease_expires_at=timezone.now() + timedelta(minutes=1),
    )
    # The dead dispatcher got as far as sending it, then died before recording anything.
    with TcpTransport("127.0.0.1", emulator.port) as transport:
        assert decode_reply(xml_send(transport, bytes(signal.payload))).status == "accepted"

    dispatcher().run(once=True)
    assert emulator.counts == {"accepted": 1}  # the lease still holds: nothing sent

    Signal.objects.filter(pk=signal.pk).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )
    dispatcher().run(once=True)

    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    assert signal.ack_status == "duplicate"
    assert refs(emulator.accepted) == [signal.reference]
    assert emulator.counts == {"accepted": 1, "duplicate": 1}


def test_stopping_finishes_the_signal_in_flight_and_releases_the_rest(
    dealer, record, receiver, emulator, monkeypatch
):
    path_to(receiver, emulator.port)
    signals = [
        SignalFactory(
            account=MonitoringAccountFactory(customer__dealer=dealer, station_record=record)
        )
        for _ in range(3)
    ]
    running = dispatcher(batch=10)
    handle = emulator.handle_request

    def stop_before_replying(request: bytes, peer: str = "") -> Outcome:
        # The receiver has the first package and has not answered yet: the signal is in
        # flight when the dispatcher is told to stop. (A thread that stops it once the
        # package arrived can be late on a busy machine, after the next package left.)
        outcome = handle(request, peer)
        running.stop()
        return outcome

    monkeypatch.setattr(emulator, "handle_request", stop_before_replying)
    running.run()

    states = [Signal.objects.get(pk=s.pk) for s in signals]
    assert [s.state for s in states] == ["delivered", "pending", "pending"]
    assert all(s.lease_owner == "" and s.lease_expires_at is None for s in states)
    assert [s.attempts for s in states] == [1, 0, 0]
    assert len(emulator.accepted) == 1


# --- order ----------------------------------------------------------------------------------


def test_an_accounts_signals_wait_for_an_earlier_one_in_backoff(
    dealer, record, account, receiver, emulator
):
    path_to(receiver, emulator.port)
    later = timezone.now() + timedelta(minutes=5)
    first = SignalFactory(account=account, next_attempt_at=later, attempts=1)
    second = SignalFactory(account=account, priority=1)
    other = SignalFactory(
        account=MonitoringAccountFactory(customer__dealer=dealer, station_record=record)
    )

    assert list(claimable(timezone.now())) == [other]
    dispatcher().run(once=True)
    assert refs(emulator.accepted) == [other.reference]
    assert Signal.objects.get(pk=second.pk).attempts == 0

    Signal.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    dispatcher().run(once=True)

    assert refs(emulator.accepted_for(account.account_number)) == refs([first, second])


def test_across_accounts_higher_priority_goes_first_within_an_account_order_wins(
    dealer, record, receiver, emulator
):
    path_to(receiver, emulator.port)

    def account():
        return MonitoringAccountFactory(customer__dealer=dealer, station_record=record)

    tests = SignalFactory(account=account(), priority=6)
    burglary = SignalFactory(account=account(), priority=3)
    fire = SignalFactory(account=account(), priority=1)
    shared = account()
    trouble_first = SignalFactory(account=shared, priority=5)
    panic_after = SignalFactory(account=shared, priority=2)

    dispatcher(batch=10).run(once=True)

    assert refs(emulator.accepted) == refs([fire, burglary, trouble_first, tests, panic_after])


def test_only_the_due_and_unleased_heads_of_their_accounts_are_claimable(dealer, record, account):
    now = timezone.now()
    head = SignalFactory(account=account)
    SignalFactory(account=account)  # behind the head
    leased = SignalFactory(
        account=MonitoringAccountFactory(customer__dealer=dealer, station_record=record),
        lease_owner="someone/1",
        lease_expires_at=now + timedelta(seconds=30),
    )
    expired = SignalFactory(
        account=MonitoringAccountFactory(customer__dealer=dealer, station_record=record),
        lease_owner="someone/1",
        lease_expires_at=now - timedelta(seconds=1),
    )
    delivered = SignalFactory(
        account=MonitoringAccountFactory(customer__dealer=dealer, station_record=record),
        state=Signal.State.DELIVERED,
        delivered_at=now,
    )
    # A delivered or failed earlier signal does not hold the account back.
    after_delivered = SignalFactory(account=delivered.account)

    claimable_now = set(claimable(timezone.now()))
    assert claimable_now == {head, expired, after_delivered}
    assert leased not in claimable_now


def test_a_claim_leases_its_signals_to_the_dispatcher(account, receiver):
    signal = SignalFactory(account=account)
    running = dispatcher(lease_seconds=30)

    claimed = running.claim()

    assert claimed == [signal]
    signal.refresh_from_db()
    assert signal.lease_owner == running.lease_owner
    assert signal.lease_owner.startswith("test-dispatcher/")
    assert timedelta(seconds=29) < signal.lease_expires_at - timezone.now() <= timedelta(seconds=30)
    assert dispatcher().claim() == []  # another dispatcher gets nothing


def test_delivered_is_recorded_even_if_the_lease_was_taken_meanwhile(account, receiver, emulator):
    """A slow dispatcher whose lease ran out still records a delivery: it is true. A
    rejection it got is not written over the new lease holder's work."""
    path_to(receiver, emulator.port)
    delivered = SignalFactory(account=account)
    running = dispatcher()
    claimed = running.claim()
    Signal.objects.filter(pk=delivered.pk).update(lease_owner="other/1")

    running.flush([running.sender.deliver(claimed[0])])

    delivered.refresh_from_db()
    assert delivered.state == Signal.State.DELIVERED
    assert delivered.lease_owner == ""


def test_a_late_delivery_leaves_one_already_recorded_as_it_was(account, receiver, emulator):
    """A slow dispatcher's acknowledgement of a signal that the next lease holder has already
    recorded delivered adds its attempt to the history and changes nothing else."""
    path_to(receiver, emulator.port)
    signal = SignalFactory(account=account)
    running = dispatcher()
    (claimed,) = running.claim()
    earlier = timezone.now() - timedelta(minutes=1)
    Signal.objects.filter(pk=signal.pk).update(
        state=Signal.State.DELIVERED, delivered_at=earlier, attempts=1, lease_owner=""
    )

    running.flush([running.sender.deliver(claimed)])

    signal.refresh_from_db()
    assert (signal.state, signal.delivered_at, signal.attempts) == ("delivered", earlier, 1)
    assert attempts_of(signal) == [("primary", "delivered")]


def test_signals_delivered_alike_in_other_protocols_each_keep_their_own(dealer, record, account):
    """Signals answered the same way are written by one UPDATE; one per protocol, so a batch
    spanning two receivers' protocols records each signal's own (and the attempts it took)."""
    other = MonitoringAccountFactory(customer__dealer=dealer, station_record=record)
    first, second = SignalFactory(account=account), SignalFactory(account=other)
    running = dispatcher()
    claimed = running.claim()
    assert {s.pk for s in claimed} == {first.pk, second.pk}
    protocols = {first.pk: "xml_v1", second.pk: "sia_dc09"}
    results = [
        Result(
            signal,
            attempts=[
                Attempt(None, timezone.now(), 3, DeliveryAttempt.Outcome.DELIVERED, status="ok")
            ],
            protocol=protocols[signal.pk],
        )
        for signal in claimed
    ]

    running.flush(results)

    for signal in (first, second):
        signal.refresh_from_db()
        assert signal.state == Signal.State.DELIVERED
        assert signal.protocol == protocols[signal.pk]
        assert signal.attempts == 1
        assert signal.lease_owner == ""


def test_a_rejection_does_not_overwrite_another_dispatchers_lease(account, receiver, emulator):
    emulator.faults = Faults(reject_rate=1.0)
    path_to(receiver, emulator.port)
    signal = SignalFactory(account=account)
    running = dispatcher()
    claimed = running.claim()
    Signal.objects.filter(pk=signal.pk).update(lease_owner="other/1")

    running.flush([running.sender.deliver(claimed[0])])

    signal.refresh_from_db()
    assert signal.lease_owner == "other/1"
    assert signal.attempts == 0
    assert signal.delivery_attempts.count() == 1  # the attempt itself is still recorded


def test_no_mail_is_sent_for_other_dealers_failed_signals(
    account, receiver, dealer, django_capture_on_commit_callbacks
):
    stranger = NotificationRecipientFactory(dealer=DealerFactory())
    path_to(receiver, free_port())
    SignalFactory(account=account, deadline_at=timezone.now() - timedelta(seconds=1))

    with django_capture_on_commit_callbacks(execute=True):
        dispatcher().run(once=True)

    assert all(stranger.email not in m.to for m in mail.outbox)


def test_a_batch_longer_than_its_lease_is_recorded_part_way_and_its_leases_renewed(
    dealer, record, receiver, emulator
):
    emulator.faults = Faults(delay_rate=1.0, delay_seconds=0.3)
    path_to(receiver, emulator.port, connect_timeout=0.5, reply_timeout=1.0)
    signals = [
        SignalFactory(
            account=MonitoringAccountFactory(customer__dealer=dealer, station_record=record)
        )
        for _ in range(6)
    ]
    renewed: list[tuple[int, ...]] = []

    class Watched(Dispatcher):
        def _renew(self, remaining):
            kept = super()._renew(remaining)
            leases = Signal.objects.filter(pk__in=[s.pk for s in kept])
            # Every signal still to be sent holds a fresh lease, and it is this dispatcher's.
            assert all(
                s.lease_owner == self.lease_owner
                and s.lease_expires_at > timezone.now() + timedelta(seconds=1.5)
                for s in leases
            )
            renewed.append(tuple(s.pk for s in kept))
            return kept

    running = Watched(name="slow", lease_seconds=2, poll_seconds=0, batch=10)
    running.run(once=True)

    assert len(renewed) >= 2
    assert refs(emulator.accepted) == refs(signals)
    assert all(s.attempts == 1 for s in Signal.objects.filter(state=Signal.State.DELIVERED))
    assert Signal.objects.filter(state=Signal.State.DELIVERED).count() == 6


def test_signals_failing_together_make_one_email_per_recipient(
    dealer, django_capture_on_commit_callbacks
):
    recipients = [NotificationRecipientFactory(dealer=dealer) for _ in range(2)]
    late = timezone.now() - timedelta(seconds=1)
    # Two receivers, both unreachable: each signal gets its last attempt in the same batch.
    accounts = [MonitoringAccountFactory(customer__dealer=dealer) for _ in range(2)]
    for account in accounts:
        path_to(account.station_record.receiver, free_port())
    signals = [SignalFactory(account=account, deadline_at=late) for account in accounts]

    with django_capture_on_commit_callbacks(execute=True):
        dispatcher(batch=10).run(once=True)

    assert sorted(m.to[0] for m in mail.outbox) == sorted(r.email for r in recipients)
    for message in mail.outbox:
        assert message.subject == "2 signals not delivered"
        assert all(s.reference in message.body for s in signals)


@pytest.mark.django_db(transaction=True)
def test_attempts_over_a_path_deleted_meanwhile_are_kept_without_it(account, receiver, emulator):
    signal = SignalFactory(account=account)
    path = path_to(receiver, emulator.port)
    running = dispatcher()
    claimed = running.claim()
    result = running.sender.deliver(claimed[0])
    path.delete()  # an admin removes the path while the dispatcher still holds its result

    running.flush([result])

    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    attempt = signal.delivery_attempts.get()
    assert (attempt.path, attempt.path_role, attempt.outcome) == (None, "primary", "delivered")
