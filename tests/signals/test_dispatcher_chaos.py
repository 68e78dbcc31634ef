"""Dispatchers as separate processes (and connections) against a misbehaving receiver, on
PostgreSQL.

300 signals for 30 accounts go through two ``manage.py run_dispatcher`` processes to a receiver
emulator that rejects, delays, drops replies, closes connections and asks for failover at
seeded random rates; one dispatcher is SIGKILLed while it holds leases and another is started
in its place. Every reference must reach the receiver, each account's signals must arrive in
the order they were recorded, none may be accepted twice as new, and none may be left behind.
"""

from __future__ import annotations

import signal as os_signal
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connections, transaction
from django.utils import timezone

from customers.models import Zone
from signals import services
from signals.codecs.base import ReceiverConfig
from signals.emulator import Faults, ReceiverEmulator
from signals.lib import OPERATOR_KINDS, Trigger
from signals.models import AlarmEvent, DeliveryAttempt, Signal
from stations.models import PathHealth, ReceiverPath
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    EventCodeFactory,
    MonitoringAccountFactory,
    ZoneFactory,
)
from tests.signals.processes import Dispatchers, needs_postgresql, wait_until
from tests.signals.receivers import dispatcher, path_to

pytestmark = [pytest.mark.django_db(transaction=True), needs_postgresql]

ACCOUNTS = 30
SIGNALS_PER_ACCOUNT = 10
# Events 0-4 exist before the dispatchers start, 5-7 arrive while they work, 8-9 once the
# killed dispatcher's replacement is up (so that it has work of its own to do).
LATE_EVENTS = 8
DELIVERY_BOUND_SECONDS = 90


@pytest.fixture
def dispatchers(tmp_path: Path) -> Iterator[Dispatchers]:
    running = Dispatchers(tmp_path)
    try:
        yield running
    finally:
        running.stop_all()


def sites(count: int):
    """``count`` sites with one account each on one record, and zones whose codes span the
    priorities: fire (24-hour zone, 110), hold-up (follower zone, 122), burglary (instant)."""
    record = DealerStationFactory()
    EventCodeFactory(dealer=record.dealer, trigger=Trigger.ZONE_24H, event_code="110")
    EventCodeFactory(dealer=record.dealer, trigger=Trigger.ZONE_FOLLOWER, event_code="122")
    accounts = []
    for i in range(count):
        customer = CustomerFactory(dealer=record.dealer)
        ZoneFactory(customer=customer, number=1, zone_type=Zone.Type.INSTANT)
        ZoneFactory(customer=customer, number=2, zone_type=Zone.Type.TWENTY_FOUR_HOUR)
        ZoneFactory(customer=customer, number=3, zone_type=Zone.Type.FOLLOWER)
        accounts.append(
            MonitoringAccountFactory(
                customer=customer, station_record=record, account_number=f"{5000 + i}"
            )
        )
    return record, accounts


# kind, zone: priorities 3, 1, 5, 6, 2, 5, 5, 5, 6, 3 ... so accounts' heads differ in
# priority; the bridge watchdog's trouble and restore (350 E / R) travel in every protocol too,
# and the operator's kinds (cameras viewed E606, a verdict E139) go to the operator's station.
EVENTS = [
    ("alarm", 1),
    ("alarm", 2),
    ("trouble", 1),
    ("test", None),
    ("alarm", 3),
    ("restore", 1),
    ("bridge_offline", None),
    ("bridge_online", None),
    ("cameras_viewed", 1),
    ("verdict_real", 1),
]


def record_event(account, n: int) -> None:
    kind, zone = EVENTS[(n + int(account.account_number)) % len(EVENTS)]
    services.event_record(
        customer=account.customer,
        kind=kind,
        zone=zone,
        occurred_at=datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=n),
        source=(AlarmEvent.Source.OPERATOR if kind in OPERATOR_KINDS else AlarmEvent.Source.DEVICE),
        only_station=account.station if kind in OPERATOR_KINDS else None,
    )


# Each protocol's receiver for the chaos test: its settings, and how an accepted alarm is told
# apart (XML v1 and SOS Access carry the signal's reference; DC-09 carries none, so its content).
DC09_KEY = "000102030405060708090A0B0C0D0E0F"
SOS_SETTINGS = {"receiver": "42", "transmitter_type": "SV300", "heartbeat_level": 0}
PROTOCOLS = {
    "xml_v1": {"settings": {}, "secret": ""},
    "sia_dc09": {"settings": {"payload": "ADM-CID", "key_form": "hex"}, "secret": DC09_KEY},
    "sos_access_v4": {"settings": SOS_SETTINGS, "secret": "hxp4x9nnwxjatv8"},
}


def speaks(receiver, protocol: str) -> ReceiverConfig:
    """Make the receiver speak ``protocol`` with the test's settings; its emulator's config."""
    setup = PROTOCOLS[protocol]
    receiver.protocol = protocol
    receiver.protocol_settings = setup["settings"]
    receiver.wire_credential = setup["secret"]
    receiver.save()
    return ReceiverConfig(
        receiver_id=receiver.pk,
        protocol=protocol,
        settings=setup["settings"],
        secret=setup["secret"],
    )


def heard_as(protocol: str, signal: Signal) -> str:
    """What the receiver's emulator keeps of an accepted signal, to compare."""
    if protocol == "sia_dc09":
        qualifier = {"E": 1, "R": 3, "P": 6}[signal.qualifier]
        return f"#{signal.account_number}|{qualifier}{signal.event_code} 01 {signal.zone:03d}"
    return signal.reference


def heard(protocol: str, message) -> str:
    return message.data if protocol == "sia_dc09" else message.reference


@pytest.mark.parametrize("protocol", list(PROTOCOLS))
def test_two_dispatcher_processes_one_killed_deliver_everything_once_in_order(
    dispatchers, protocol
):
    record, accounts = sites(ACCOUNTS)
    config = speaks(record.receiver, protocol)
    faults = Faults(
        reject_rate=0.08,
        failover_rate=0.03,
        delay_rate=0.1,
        delay_seconds=0.2,
        drop_rate=0.04,
        close_rate=0.02,
    )
    with ReceiverEmulator(
        protocol=protocol, config=config, faults=faults, seed=20250601
    ) as emulator:
        # Both paths lead to the same receiver: a failover or a timeout on one tries the other.
        for role in ReceiverPath.Role.values:
            path_to(record.receiver, emulator.port, role, connect_timeout=0.5, reply_timeout=0.5)

        # Half the events exist before the dispatchers start; the rest arrive while they work.
        for n in range(SIGNALS_PER_ACCOUNT // 2):
            for account in accounts:
                record_event(account, n)
        started = time.monotonic()
        dispatchers.start("chaos-1")
        dispatchers.start("chaos-2")
        for n in range(SIGNALS_PER_ACCOUNT // 2, LATE_EVENTS):
            for account in accounts:
                record_event(account, n)

        assert wait_until(lambda: len(emulator.accepted) >= 60, timeout=30), dispatchers.log(
            "chaos-1"
        )
        # Kill chaos-1 while it holds leases: mid-batch, packages possibly on the wire. It is
        # frozen first, so that what it holds can be read before it dies.
        chaos_1 = dispatchers.processes["chaos-1"]
        held: list[int] = []
        for _ in range(50):
            chaos_1.send_signal(os_signal.SIGSTOP)
            time.sleep(0.1)
            held = list(
                Signal.objects.filter(
                    state=Signal.State.PENDING, lease_owner__startswith="chaos-1/"
                ).values_list("pk", flat=True)
            )
            if held:
                break
            chaos_1.send_signal(os_signal.SIGCONT)
            time.sleep(0.05)
        assert held, "chaos-1 never held a lease"
        chaos_1.send_signal(os_signal.SIGKILL)
        assert chaos_1.wait(timeout=10) == -os_signal.SIGKILL
        killed_at = timezone.now()
        # What it could not clean up is in the test's folder, which pytest removes, not in /tmp.
        assert list(dispatchers.logs.glob("portal-test-media-*")), list(dispatchers.logs.iterdir())
        time.sleep(1)
        dispatchers.start("chaos-3")  # its replacement
        # Up and delivering before anything is judged (a SIGTERM before then would find the
        # process still starting, without its handler).
        assert wait_until(lambda: "delivering signals" in dispatchers.log("chaos-3"), timeout=30), (
            dispatchers.log("chaos-3")
        )
        for n in range(LATE_EVENTS, SIGNALS_PER_ACCOUNT):
            for account in accounts:
                record_event(account, n)
        assert Signal.objects.count() == ACCOUNTS * SIGNALS_PER_ACCOUNT

        everything_delivered = wait_until(
            lambda: not Signal.objects.exclude(state=Signal.State.DELIVERED).exists(),
            timeout=DELIVERY_BOUND_SECONDS,
            interval=0.2,
        )
        elapsed = time.monotonic() - started
        codes = dispatchers.stop_all()
        accepted = emulator.accepted
        counts = emulator.counts

    left = Signal.objects.exclude(state=Signal.State.DELIVERED)
    assert everything_delivered, (
        f"{left.count()} signal(s) not delivered after {elapsed:.0f} s: "
        f"{list(left.values('reference', 'state', 'attempts', 'last_error')[:5])}\n"
        + "\n".join(dispatchers.log(n)[-3000:] for n in dispatchers.processes)
    )
    assert codes["chaos-2"] == 0 and codes["chaos-3"] == 0, codes

    signals = list(Signal.objects.order_by("id"))
    # The receiver saw every signal, and accepted none of them twice as new.
    assert sorted(heard(protocol, p) for p in accepted) == sorted(
        heard_as(protocol, s) for s in signals
    )
    assert counts["accepted"] == len(signals) == ACCOUNTS * SIGNALS_PER_ACCOUNT
    # Each account's signals arrived in the order they were recorded.
    for account in accounts:
        number = account.account_number
        expected = [heard_as(protocol, s) for s in signals if s.account_number == number]
        assert [heard(protocol, p) for p in emulator.accepted_for(number)] == expected
    # Every signal ends on the receiver's yes, and every attempt is on record.
    last_outcomes = {
        a.signal_id: a.outcome for a in DeliveryAttempt.objects.order_by("signal_id", "id")
    }
    assert set(last_outcomes) == {s.pk for s in signals}
    assert set(last_outcomes.values()) <= {"delivered", "duplicate"}
    # XML v1's words, DC-09's ACK, SOS Access's 0 (OK) and 10 (duplicate).
    assert all(s.ack_status in ("accepted", "duplicate", "ACK", "0", "10") for s in signals)
    assert {s.protocol for s in signals} == {protocol}
    # What the killed dispatcher held was finished by the others, after its lease ran out.
    for signal in Signal.objects.filter(pk__in=held):
        assert signal.delivered_at > killed_at
        final = signal.delivery_attempts.order_by("id").last()
        assert final.dispatcher_id in ("chaos-2", "chaos-3")
    assert set(DeliveryAttempt.objects.values_list("dispatcher_id", flat=True)) >= {
        "chaos-2",
        "chaos-3",
    }
    # The receiver really did misbehave.
    for fault in ("rejected", "delayed", "dropped", "closed", "failover"):
        assert counts.get(fault, 0) > 0, counts
    assert counts.get("duplicate", 0) > 0, counts
    assert elapsed < DELIVERY_BOUND_SECONDS
    print(
        f"chaos {protocol}: {len(signals)} delivered in {elapsed:.1f} s; held at kill "
        f"{len(held)}; {counts}"
    )


def test_sigterm_finishes_the_signal_in_flight_and_releases_the_rest(dispatchers):
    record, accounts = sites(3)
    with ReceiverEmulator(faults=Faults(delay_rate=1.0, delay_seconds=1.0)) as emulator:
        path_to(record.receiver, emulator.port, reply_timeout=5)
        for account in accounts:
            record_event(account, 0)
        # One lane: exactly one signal is in flight when SIGTERM comes (the test below has
        # several).
        process = dispatchers.start("term-1", "--lease-seconds", "60", "--connections", "1")

        assert wait_until(lambda: len(emulator.accepted) == 1, timeout=20), dispatchers.log(
            "term-1"
        )
        process.send_signal(os_signal.SIGTERM)  # while the reply is still 1 s away
        assert process.wait(timeout=15) == 0, dispatchers.log("term-1")

    signals = list(Signal.objects.order_by("priority", "id"))
    assert [s.state for s in signals].count(Signal.State.DELIVERED) == 1
    assert [p.reference for p in emulator.accepted] == [
        s.reference for s in signals if s.state == Signal.State.DELIVERED
    ]
    # The others were claimed with it, and are free again at once (not after 60 s).
    assert all(s.lease_owner == "" and s.lease_expires_at is None for s in signals)
    assert "1 delivered" in dispatchers.log("term-1")


def test_sigterm_with_several_lanes_finishes_every_signal_in_flight_and_releases_the_rest(
    dispatchers,
):
    record, accounts = sites(12)
    with ReceiverEmulator(faults=Faults(delay_rate=1.0, delay_seconds=1.0)) as emulator:
        path_to(record.receiver, emulator.port, reply_timeout=5)
        for account in accounts:
            record_event(account, 0)
        process = dispatchers.start(
            "term-4", "--lease-seconds", "60", "--connections", "4", "--verbosity", "2"
        )

        assert wait_until(lambda: len(emulator.accepted) >= 1, timeout=20), dispatchers.log(
            "term-4"
        )
        stopped = time.monotonic()
        process.send_signal(os_signal.SIGTERM)  # while the replies are still ~1 s away
        assert process.wait(timeout=15) == 0, dispatchers.log("term-4")
        took = time.monotonic() - stopped
        accepted = [p.reference for p in emulator.accepted]

    signals = list(Signal.objects.order_by("priority", "id"))
    delivered = [s.reference for s in signals if s.state == Signal.State.DELIVERED]
    # Several were on the wire at once; each of them finished and was recorded, and nothing
    # else was sent.
    log = dispatchers.log("term-4")
    told = "\n".join(
        f"{s.reference} {s.state} owner={s.lease_owner!r} attempts={s.attempts} "
        f"ack={s.ack_status!r} error={s.last_error!r}"
        for s in signals
    )
    assert 2 <= len(delivered) <= 4, f"{log}\n{told}"
    assert sorted(accepted) == sorted(delivered), f"{log}\n{told}"
    # It ended within the deadline of the exchanges in flight (connect 1 s + reply 5 s),
    # not after its 60 s leases; that nothing more was sent is the count above (a bound
    # tighter than this only measures how loaded the machine is).
    assert took < 1.0 + 5.0, f"stopped {took:.1f} s after SIGTERM"
    # The rest are free again at once (not after 60 s).
    assert all(s.lease_owner == "" and s.lease_expires_at is None for s in signals)
    assert f"{len(delivered)} delivered" in dispatchers.log("term-4")


def test_a_health_row_held_by_a_frozen_dispatcher_does_not_stop_the_others():
    """Another connection holds the path's health row (as a dispatcher frozen mid-write
    would): the dispatcher records its deliveries anyway, without that batch's health."""
    record, accounts = sites(1)
    with ReceiverEmulator() as emulator:
        path = path_to(record.receiver, emulator.port)
        PathHealth.objects.create(path=path)
        record_event(accounts[0], 0)
        locked, release = threading.Event(), threading.Event()

        def hold_the_row() -> None:
            try:
                with transaction.atomic():
                    PathHealth.objects.select_for_update().get(path=path)
                    locked.set()
                    release.wait(30)
            finally:
                connections.close_all()

        holder = threading.Thread(target=hold_the_row)
        holder.start()
        try:
            assert locked.wait(10)
            started = time.monotonic()
            dispatcher().run(once=True)
            took = time.monotonic() - started
        finally:
            release.set()
            holder.join(10)

    assert Signal.objects.get().state == Signal.State.DELIVERED
    assert 1.5 < took < 10
    assert PathHealth.objects.get(path=path).state == "unknown"  # that batch's health skipped


def test_more_lanes_than_the_pool_holds_all_keep_sending_dc09(tmp_path):
    """DC-09 lanes reserve blocks of sequence numbers in the database now and then. Each lane
    gives its connection back at once, so a dispatcher with more lanes than its connection
    pool holds still sends every signal (a lane that kept its connection left the others none:
    they failed each send after the pool's timeout, and delivery stalled)."""
    running = Dispatchers(tmp_path, DATABASE_POOL_MAX="3")
    try:
        # 250 signals: three blocks of 100 sequence numbers, each likely reserved by another lane.
        record, accounts = sites(25)
        config = speaks(record.receiver, "sia_dc09")
        with ReceiverEmulator(protocol="sia_dc09", config=config) as emulator:
            path_to(record.receiver, emulator.port, connect_timeout=1, reply_timeout=1)
            for n in range(10):
                for account in accounts:
                    record_event(account, n)
            total = Signal.objects.count()
            running.start("lanes", "--connections", "8")
            delivered = wait_until(
                lambda: Signal.objects.filter(state=Signal.State.DELIVERED).count() == total,
                timeout=60,
            )
            assert delivered, running.log("lanes")
            assert len(emulator.accepted) == total
    finally:
        codes = running.stop_all()
    assert codes == {"lanes": 0}, running.log("lanes")
    assert not DeliveryAttempt.objects.exclude(outcome=DeliveryAttempt.Outcome.DELIVERED).exists()
