"""Receivers that answer with bytes no text column takes, or drip their reply (issue 9, items 1
and 2): nothing they do may stop a dispatcher from recording what happened, hold it past one
exchange's deadline, keep it from stopping, or hold up other stations' signals.

Real servers on loopback; the pipeline and the SIGTERM tests run on PostgreSQL, where a NUL in
a text column is refused.
"""

from __future__ import annotations

import contextlib
import signal as os_signal
import ssl
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import trustme
from django.core import mail
from django.utils import timezone

from signals.codecs.xml_v1 import decode_package, encode_reply
from signals.emulator import ReceiverEmulator
from signals.models import REPLY_MAX, DeliveryAttempt, Signal
from signals.sending import Attempt, Result
from stations.models import ReceiverPath
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    NotificationRecipientFactory,
    SignalFactory,
)
from tests.signals.hostile import DripServer
from tests.signals.processes import Dispatchers, needs_postgresql
from tests.signals.receivers import dispatcher, path_to, run_once_within, scripted

Outcome = DeliveryAttempt.Outcome


def _reference(payload: bytes) -> str:
    return decode_package(payload).reference


# What a hostile receiver answers to a package: each is bytes a text column refuses or garbles.
HOSTILE: dict[str, Callable[[bytes], bytes]] = {
    "nul": lambda payload: b"\x00",
    "nul-in-a-reply": lambda payload: encode_reply(_reference(payload), "accepted").replace(
        b"<status>", b"<status>\x00"
    ),
    "utf-16": lambda payload: (
        encode_reply(_reference(payload), "accepted").decode().encode("utf-16")
    ),
    "every-byte": lambda payload: bytes(range(256)) * 12,
}


@pytest.fixture
def elsewhere(dealer):
    """An account of another site at another station, whose receiver behaves."""
    record = DealerStationFactory(dealer=dealer, name="Elsewhere")
    customer = CustomerFactory(dealer=dealer, name="Other Site")
    return MonitoringAccountFactory(customer=customer, station_record=record, account_number="7001")


def _run_a_batch_with_a_hostile_reply(
    kind, account, receiver, elsewhere, dealer, *, pipeline, on_commit=contextlib.nullcontext
):
    told = NotificationRecipientFactory(dealer=dealer, email="alarms@acme.example")
    now = timezone.now()
    # The hostile receiver's first signal is already past its deadline: its one attempt must
    # be recorded, fail it, and tell the dealer, and the account's next signal must then go.
    first = SignalFactory(account=account, deadline_at=now - timedelta(seconds=1))
    second = SignalFactory(account=account)
    other = SignalFactory(account=elsewhere)
    respond = HOSTILE[kind]
    with (
        scripted(lambda payload, n: respond(payload)) as hostile,
        ReceiverEmulator() as honest,
    ):
        path_to(receiver, hostile.port)
        path_to(elsewhere.station_record.receiver, honest.port)
        with on_commit(execute=True) if pipeline is False else on_commit():
            run_once_within(dispatcher(pipeline=pipeline))

    for signal in (first, second, other):
        signal.refresh_from_db()
    # The other station's signal: delivered once, recorded once.
    assert other.state == Signal.State.DELIVERED
    assert honest.counts == {"accepted": 1}
    assert list(other.delivery_attempts.values_list("outcome", flat=True)) == [Outcome.DELIVERED]
    # The hostile receiver's signals: every attempt kept, with the exact bytes it sent.
    assert hostile.frames == [bytes(first.payload), bytes(second.payload)]
    for signal, state in ((first, Signal.State.FAILED), (second, Signal.State.PENDING)):
        attempt = signal.delivery_attempts.get()
        assert attempt.outcome == Outcome.ERROR
        assert bytes(attempt.reply) == respond(bytes(signal.payload))[:REPLY_MAX]
        assert attempt.reply_escaped
        assert "\x00" not in attempt.reply_text + attempt.error + signal.last_error
        assert (signal.state, signal.attempts, signal.lease_owner) == (state, 1, "")
    # The failure was e-mailed at once, not after another round of leases (the path going
    # down after two errors in a row is e-mailed too).
    failures = [m for m in mail.outbox if m.subject.startswith("Signal not delivered")]
    assert [m.to for m in failures] == [[told.email]]
    assert first.reference in failures[0].body


@pytest.mark.django_db
@pytest.mark.parametrize("kind", HOSTILE)
def test_a_reply_of_any_bytes_is_recorded_and_takes_no_other_signal_with_it(
    kind, account, receiver, elsewhere, dealer, django_capture_on_commit_callbacks
):
    _run_a_batch_with_a_hostile_reply(
        kind,
        account,
        receiver,
        elsewhere,
        dealer,
        pipeline=False,
        on_commit=django_capture_on_commit_callbacks,
    )


@pytest.mark.django_db(transaction=True)
@needs_postgresql
@pytest.mark.parametrize("kind", ["nul", "utf-16", "every-byte"])
def test_the_pipelines_writer_records_any_reply_bytes_on_postgresql(
    kind, account, receiver, elsewhere, dealer
):
    """The command's own set-up: a writer thread with its own connection records the batch."""
    _run_a_batch_with_a_hostile_reply(kind, account, receiver, elsewhere, dealer, pipeline=True)


@pytest.mark.django_db
def test_a_row_the_database_refuses_takes_no_other_signals_outcome_with_it(
    account, receiver, elsewhere
):
    bad = SignalFactory(account=account)
    good = SignalFactory(account=elsewhere)
    path = path_to(receiver, 9)
    running = dispatcher()
    claimed = {signal.pk: signal for signal in running.claim()}
    now = timezone.now()
    results = [
        # A negative duration is refused by the column's check on every database.
        Result(claimed[bad.pk], [Attempt(path, now, -1, Outcome.ERROR, error="no reply")]),
        Result(
            claimed[good.pk],
            [Attempt(path, now, 3, Outcome.DELIVERED, reply=b"ok", status="accepted")],
        ),
    ]

    running.write(results)

    bad.refresh_from_db()
    good.refresh_from_db()
    assert good.state == Signal.State.DELIVERED
    assert bytes(good.delivery_attempts.get().reply) == b"ok"
    assert (bad.state, bad.attempts, bad.lease_owner) == (Signal.State.PENDING, 1, "")
    attempt = bad.delivery_attempts.get()
    assert (attempt.outcome, attempt.duration_ms) == (Outcome.ERROR, 0)
    assert "not recorded" in attempt.error


# --- a receiver that drips its reply ----------------------------------------------------------


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def https_path(receiver, port: int) -> ReceiverPath:
    return path_to(
        receiver,
        port,
        transport=ReceiverPath.Transport.HTTPS,
        use_tls=True,
        connect_timeout=1.0,
        reply_timeout=1.0,
    )


@pytest.mark.django_db
@pytest.mark.parametrize(
    "drip",
    [
        {},  # a complete status line and headers, then the body one byte at a time
        {"head": b"HTTP/1.1 200 OK\r\n"},  # the headers one byte at a time
        {"tls_handshake": False},  # a TLS handshake that never completes
    ],
    ids=["body", "headers", "handshake"],
)
def test_a_dripping_https_receiver_costs_one_deadline_and_holds_up_no_other_station(
    drip, account, receiver, elsewhere, server_context, client_context
):
    slow = SignalFactory(account=account)
    other = SignalFactory(account=elsewhere)
    with DripServer(server_context, **drip) as server, ReceiverEmulator() as honest:
        https_path(receiver, server.port)
        path_to(elsewhere.station_record.receiver, honest.port)
        started = time.monotonic()
        run_once_within(dispatcher(ssl_context=client_context), 10)
        took = time.monotonic() - started

    # connect (1 s) + reply (1 s) at most, while the server would drip for 20 s.
    assert took < 3.5
    other.refresh_from_db()
    assert other.state == Signal.State.DELIVERED
    slow.refresh_from_db()
    assert slow.state == Signal.State.PENDING
    attempt = slow.delivery_attempts.get()
    assert attempt.outcome in (Outcome.TIMEOUT, Outcome.ERROR)
    assert "timeout" in attempt.error
    assert attempt.duration_ms < 2500


@pytest.mark.django_db(transaction=True)
@needs_postgresql
def test_sigterm_ends_a_dispatcher_stuck_on_a_dripping_receiver_within_the_deadline(
    account, receiver, server_context, ca, tmp_path: Path
):
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    signal = SignalFactory(account=account)
    running = Dispatchers(tmp_path, lease_seconds=60, SIGNAL_TLS_CA_FILE=str(ca_file))
    with DripServer(server_context, limit=30) as server:
        path_to(
            receiver,
            server.port,
            transport=ReceiverPath.Transport.HTTPS,
            use_tls=True,
            connect_timeout=2.0,
            reply_timeout=2.0,
        )
        process = running.start("drip-1")
        try:
            assert server.got_request.wait(20), running.log("drip-1")
            process.send_signal(os_signal.SIGTERM)
            stopped = time.monotonic()
            code = process.wait(timeout=15)
            took = time.monotonic() - stopped
        finally:
            running.stop_all()

    assert code == 0, running.log("drip-1")
    # The reply deadline (2 s) ends the exchange; the dispatcher then records it and exits.
    assert took < 4.5, running.log("drip-1")
    signal.refresh_from_db()
    assert (signal.state, signal.lease_owner, signal.lease_expires_at) == ("pending", "", None)
    assert "timeout" in signal.delivery_attempts.get().error
    assert "stopped" in running.log("drip-1")


def test_the_drip_server_really_drips(server_context: ssl.SSLContext, client_context) -> None:
    """The fixture itself: a patient client gets the head, then a byte at a time."""
    import socket

    with DripServer(server_context, interval=0.05, limit=1) as server:
        raw = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
            received = b""
            started = time.monotonic()
            while time.monotonic() - started < 0.6:
                received += sock.recv(100)
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert 3 <= received.count(b"x") <= 15
