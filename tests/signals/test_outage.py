"""Delivery through a database outage, and an idle dispatcher woken by a new alarm, on a
PostgreSQL server of the test's own (``tests/signals/cluster.py``) that the test stops and
starts under two real ``manage.py run_dispatcher`` processes sending to the receiver emulator
on loopback.

What must hold after an outage of 10 s and of 60 s (longer than the dispatchers' 7 s leases):
nothing lost, nothing sent twice (the receiver never answers ``duplicate``: what it accepted
while the database was away was recorded afterwards, not resent), each account's signals in
the order they were recorded, the receiver's real acceptance on record (one attempt per
signal, ``delivered``/``accepted``), delivery going again within a second of the server's
return, and a log that says what waited without a line per retry.
"""

from __future__ import annotations

import re
import statistics
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from django.db import connection

from customers.models import Zone
from signals import services, wakeup
from signals.emulator import Faults, ReceiverEmulator
from signals.models import AlarmEvent, DeliveryAttempt, Signal
from stations.models import ReceiverPath
from tests.factories import (
    CustomerFactory,
    DealerStationFactory,
    MonitoringAccountFactory,
    ZoneFactory,
)
from tests.signals.cluster import Cluster, django_on, needs_own_server, wait_for
from tests.signals.processes import Dispatchers
from tests.signals.receivers import path_to

# The suite's test database (its schema is copied) must exist: the marker has it set up; the
# test itself runs on a database of its own server (``own_database``).
pytestmark = [pytest.mark.django_db(transaction=True), needs_own_server]

ACCOUNTS = 60
SIGNALS_PER_ACCOUNT = 15  # 900 signals
# Each reply is this late: two dispatchers deliver ~100 a second, so that an outage always
# finds batches being sent.
REPLY_DELAY_SECONDS = 0.01
RESUME_BOUND_SECONDS = 1.0
# Above four times a path's connect + reply timeout (0.5 + 1 s), as docs/signals.md asks of
# a lease: with less, a slow round on a loaded machine may have a signal sent a second time
# (answered duplicate), which this test forbids. Still shorter than both outages, so leases
# run out while the database is away.
LEASE_SECONDS = 7


@pytest.fixture(scope="module")
def cluster(django_db_setup, django_db_blocker) -> Iterator[Cluster]:
    with django_db_blocker.unblock():
        source = dict(connection.settings_dict)
    server = Cluster()
    try:
        server.start()
        server.copy_schema(source)
        yield server
    finally:
        server.destroy()


@pytest.fixture
def own_database(cluster, django_db_blocker) -> Iterator[Cluster]:
    """Django's default connection on a fresh database of the test's own server."""
    with django_db_blocker.unblock(), django_on(cluster, cluster.database()):
        try:
            yield cluster
        finally:
            if not cluster.running():
                cluster.start()  # a failed test left it stopped


def fresh_connections() -> None:
    """This process's own connections after a restart: a new pool (the dispatchers' recovery
    is what is measured, not the test's)."""
    connection.close()
    connection.close_pool()


@pytest.fixture
def dispatchers(tmp_path: Path) -> Iterator[Dispatchers]:
    running = Dispatchers(tmp_path, lease_seconds=LEASE_SECONDS)
    try:
        yield running
    finally:
        running.stop_all()


def accounts(count: int):
    record = DealerStationFactory()
    made = []
    for i in range(count):
        customer = CustomerFactory(dealer=record.dealer)
        ZoneFactory(customer=customer, number=1, zone_type=Zone.Type.INSTANT)
        made.append(
            MonitoringAccountFactory(
                customer=customer, station_record=record, account_number=f"{7000 + i}"
            )
        )
    return record, made


KINDS = ["alarm", "restore", "trouble", "trouble_restore", "test"]


def record_event(account, n: int) -> None:
    services.event_record(
        customer=account.customer,
        kind=KINDS[(n + int(account.account_number)) % len(KINDS)],
        zone=1 if KINDS[(n + int(account.account_number)) % len(KINDS)] != "test" else None,
        occurred_at=datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=n),
        source=AlarmEvent.Source.DEVICE,
    )


def dispatcher_lines(log: str) -> list[str]:
    """What the dispatcher itself said about the database."""
    return [line for line in log.splitlines() if line.startswith("dispatcher outage-")]


@pytest.mark.parametrize(
    "outage_seconds",
    [10, pytest.param(60, marks=pytest.mark.slow)],
    ids=["10s", "60s"],
)
def test_delivery_rides_through_a_database_outage(own_database, dispatchers, outage_seconds):
    cluster = own_database
    record, made = accounts(ACCOUNTS)
    for n in range(SIGNALS_PER_ACCOUNT):
        for account in made:
            record_event(account, n)
    total = ACCOUNTS * SIGNALS_PER_ACCOUNT
    assert Signal.objects.count() == total
    faults = Faults(delay_rate=1.0, delay_seconds=REPLY_DELAY_SECONDS)

    with ReceiverEmulator(faults=faults) as emulator:
        for role in ReceiverPath.Role.values:
            path_to(record.receiver, emulator.port, role, connect_timeout=0.5, reply_timeout=1)
        connection.close()
        dispatchers.start("outage-1")
        dispatchers.start("outage-2")
        assert emulator.wait_for_accepted(total // 6, timeout=60), dispatchers.log("outage-1")

        cluster.stop("fast")
        stopped = time.monotonic()
        time.sleep(outage_seconds)
        before_start = len(emulator.accepted)
        cluster.start()
        back = time.monotonic()
        fresh_connections()
        resumed = wait_for(lambda: len(emulator.accepted) > before_start, 30, interval=0.002)
        assert resumed is not None, "\n".join(dispatchers.log(n) for n in dispatchers.processes)
        assert emulator.wait_for_accepted(total, timeout=120), dispatchers.log("outage-1")
        drained = time.monotonic() - back
        everything = wait_for(
            lambda: not Signal.objects.exclude(state=Signal.State.DELIVERED).exists(),
            30,
            interval=0.1,
        )
        codes = dispatchers.stop_all()
        counts = emulator.counts
        accepted = emulator.accepted

    logs = {name: dispatchers.log(name) for name in dispatchers.processes}
    assert everything is not None, Signal.objects.exclude(state=Signal.State.DELIVERED).count()
    assert codes == {"outage-1": 0, "outage-2": 0}, (codes, logs)
    signals = list(Signal.objects.order_by("id"))
    # Nothing lost, nothing sent twice: not even a duplicate answer.
    assert sorted(p.reference for p in accepted) == sorted(s.reference for s in signals)
    assert counts["accepted"] == total
    assert counts.get("duplicate", 0) == 0, counts
    for account in made:
        number = account.account_number
        assert [p.reference for p in emulator.accepted_for(number)] == [
            s.reference for s in signals if s.account_number == number
        ]
    # The receiver's real acceptance is what each signal keeps: one attempt, its "accepted".
    assert DeliveryAttempt.objects.count() == total
    assert set(DeliveryAttempt.objects.values_list("outcome", flat=True)) == {"delivered"}
    assert {s.ack_status for s in signals} == {"accepted"}
    # What the receiver had accepted when the database went away waited, and was recorded
    # (the counts above): the log says how much.
    waited = [
        int(m)
        for log in logs.values()
        for m in re.findall(r"is back after .*?(\d+) delivered", log)
    ]
    assert sum(waited) > 0, "no outcome waited for the database: no batch was in flight"
    # Resumed within a second of the server's return.
    assert resumed < RESUME_BOUND_SECONDS, f"resumed {resumed:.2f} s after the server came back"
    # The log says what waited and why, without a line per retry.
    for log in logs.values():
        assert "the database went away" in log, log[-3000:]
        assert "the database is back" in log, log[-3000:]
        said = dispatcher_lines(log)
        # Gone, still gone every 10 s of the outage it saw, back: nothing else of the
        # dispatcher's, and no line per retry (the connection pool adds a few of its own
        # while it is being replaced).
        (away,) = [float(s) for s in re.findall(r"is back after ([\d.]+) s", log)]
        assert away < back - stopped + 5, log
        assert len(said) <= 2 + int(away // 10), "\n".join(said)
        assert len(log.splitlines()) < 40, log
    print(
        f"outage {outage_seconds} s: {sum(waited)} outcomes waited for the database; "
        f"resumed {resumed * 1000:.0f} ms after the server was back; the other "
        f"{total - before_start} delivered {drained:.1f} s after it; stopped for "
        f"{back - stopped:.1f} s"
    )


def listeners() -> set[int]:
    """The server processes of this database's connections listening for new signals (asked
    on a connection of its own: the test's pool would add its own reconnection delays)."""
    import psycopg

    settings = connection.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], dbname="postgres"
    ) as own:
        rows = own.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s AND query = %s",
            [settings["NAME"], f"LISTEN {wakeup.CHANNEL}"],
        ).fetchall()
    return {pid for (pid,) in rows}


def _quietly(count) -> int:
    try:
        return len(count())
    except Exception:
        return 0


def test_an_alarm_wakes_an_idle_dispatcher_at_once_also_after_its_listener_died(
    own_database, dispatchers
):
    """Polling every 30 s, the dispatcher still delivers a new alarm within milliseconds:
    the transaction that wrote it notified. The listening connection killed, or the whole
    server restarted, it listens again within a second or two, and then wakes as before."""
    cluster = own_database
    record, (account,) = accounts(1)
    n = 0

    recording: list[float] = []

    def alarm_to_acknowledgement() -> float:
        """From the commit of an alarm (the notification) to the receiver's acceptance."""
        nonlocal n
        n += 1
        before = len(emulator.accepted)
        started = time.monotonic()
        services.event_record(
            customer=account.customer,
            kind="alarm",
            zone=1,
            occurred_at=datetime(2025, 6, 1, tzinfo=UTC) + timedelta(seconds=n),
            source=AlarmEvent.Source.DEVICE,
        )
        committed = time.monotonic()
        recording.append(committed - started)
        took = wait_for(lambda: len(emulator.accepted) > before, 10, interval=0.0005)
        assert took is not None, dispatchers.log("wake-1")
        accepted = time.monotonic()
        time.sleep(0.05)  # idle again
        return accepted - committed

    with ReceiverEmulator() as emulator:
        path_to(record.receiver, emulator.port)
        dispatchers.start("wake-1", "--poll-seconds", "30")
        assert wait_for(lambda: len(listeners()) == 1, 30, interval=0.05) is not None
        time.sleep(0.2)
        idle = [alarm_to_acknowledgement() for _ in range(20)]

        # The listening connection dies (its server process killed): listening again soon.
        (killed,) = listeners()
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [killed])
        relistened = wait_for(lambda: len(listeners() - {killed}) == 1, 10, interval=0.01)
        assert relistened is not None, dispatchers.log("wake-1")
        after_kill = [alarm_to_acknowledgement() for _ in range(5)]

        # The whole server restarts while the dispatcher is idle.
        connection.close()
        cluster.stop("fast")
        time.sleep(3)
        cluster.start()
        fresh_connections()
        back = wait_for(lambda: _quietly(listeners) == 1, 10, interval=0.05)
        assert back is not None, dispatchers.log("wake-1")
        after_restart = [alarm_to_acknowledgement() for _ in range(5)]
        dispatchers.stop_all()

    log = dispatchers.log("wake-1")
    assert Signal.objects.filter(state=Signal.State.DELIVERED).count() == n
    assert "lost the connection listening for new signals" in log, log
    # The poll is 30 s: only the notification explains these.
    assert max(idle + after_kill + after_restart) < 1.0, (idle, after_kill, after_restart)
    assert statistics.median(idle) < 0.2, idle
    print(
        f"wake: idle median {statistics.median(idle) * 1000:.1f} ms, max "
        f"{max(idle) * 1000:.1f} ms; after the listener was killed max "
        f"{max(after_kill) * 1000:.1f} ms (listening again after {relistened:.2f} s); after a "
        f"server restart max {max(after_restart) * 1000:.1f} ms (listening again "
        f"{back:.2f} s after it was back); writing the alarm took median "
        f"{statistics.median(recording) * 1000:.1f} ms, max {max(recording) * 1000:.1f} ms"
    )
