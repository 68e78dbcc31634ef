"""The device API's limits: 429 with Retry-After, decided before anything is stored."""

from __future__ import annotations

import json
import threading

import pytest
from django.core.cache import caches
from django.db import connection, connections, transaction
from django.test import Client

from signals import limits
from signals.models import AlarmEvent, RequestCount
from tests.factories import BridgeFactory

URL = "/api/devices/events"


@pytest.fixture(autouse=True)
def _fresh_counters(db):
    RequestCount.objects.all().delete()


@pytest.fixture
def device(customer):
    bridge = BridgeFactory(customer=customer, serial="BR-0001")
    from signals import services

    return bridge, services.bridge_token_issue(bridge=bridge)


@pytest.fixture
def clock(monkeypatch):
    """The counters' clock, early in a 60-second window (settings' default)."""
    now = [(int(limits._now()) // 60 + 1) * 60 + 1.0]
    monkeypatch.setattr(limits, "_now", lambda: now[0])
    return now


def _send(token: str, event_id: str, address: str = "198.51.100.10"):
    body = {
        "serial": "BR-0001",
        "event_id": event_id,
        "kind": "alarm",
        "zone": 3,
        "time": "2025-03-04T06:06:07+01:00",
    }
    return Client(REMOTE_ADDR=address).post(
        URL,
        data=json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )


@pytest.mark.django_db
def test_over_the_token_limit_answers_429_with_retry_after_and_stores_nothing(settings, device):
    settings.DEVICE_API_LIMIT_PER_TOKEN = 3
    _, token = device
    for i in range(3):
        assert _send(token, f"ev-{i}", address=f"198.51.100.{i}").status_code == 201
    limited = _send(token, "ev-late", address="198.51.100.99")
    assert limited.status_code == 429
    assert 1 <= int(limited["Retry-After"]) <= settings.DEVICE_API_LIMIT_WINDOW_SECONDS
    assert "send again" in limited.json()["error"]
    # Nothing of the limited event was accepted: the bridge's resend is the first copy.
    assert not AlarmEvent.objects.filter(device_event_id="ev-late").exists()
    assert AlarmEvent.objects.count() == 3


@pytest.mark.django_db
def test_the_resent_event_is_accepted_in_the_next_window(settings, device, clock):
    settings.DEVICE_API_LIMIT_PER_TOKEN = 1
    _, token = device
    assert _send(token, "ev-1").status_code == 201
    limited = _send(token, "ev-2")
    assert limited.status_code == 429
    clock[0] += int(limited["Retry-After"])
    assert _send(token, "ev-2").status_code == 201
    assert set(AlarmEvent.objects.values_list("device_event_id", flat=True)) == {"ev-1", "ev-2"}


@pytest.mark.django_db
def test_over_the_address_limit_answers_429_even_without_a_token(settings, device):
    settings.DEVICE_API_LIMIT_PER_ADDRESS = 2
    _, token = device
    assert _send(token, "ev-1").status_code == 201
    assert _send("wrong-token", "ev-2").status_code == 401
    limited = Client(REMOTE_ADDR="198.51.100.10").post(URL, data="{}", content_type="x")
    assert limited.status_code == 429
    assert limited["Retry-After"]
    # Another address is not held back.
    assert _send(token, "ev-3", address="198.51.100.11").status_code == 201


@pytest.mark.django_db
def test_behind_a_proxy_the_address_limit_is_per_client(settings, device):
    settings.DEVICE_API_LIMIT_PER_ADDRESS = 1
    settings.PORTAL_PROXY_COUNT = 1
    _, token = device

    def via_proxy(client_ip: str, event_id: str):
        return Client(REMOTE_ADDR="10.0.0.5", HTTP_X_FORWARDED_FOR=client_ip).post(
            URL,
            data=json.dumps(
                {
                    "serial": "BR-0001",
                    "event_id": event_id,
                    "kind": "alarm",
                    "zone": 3,
                    "time": "2025-03-04T06:06:07+01:00",
                }
            ),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )

    assert via_proxy("203.0.113.1", "ev-1").status_code == 201
    assert via_proxy("203.0.113.2", "ev-2").status_code == 201
    assert via_proxy("203.0.113.1", "ev-3").status_code == 429


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers: PostgreSQL")
def test_concurrent_requests_are_counted_exactly_across_connections(settings):
    """Sixteen processes' worth of requests at once: exactly the limit get through."""
    settings.DEVICE_API_LIMIT_PER_TOKEN = 5
    barrier = threading.Barrier(16, timeout=20)
    results: list[int | None] = []
    lock = threading.Lock()

    def hit() -> None:
        try:
            barrier.wait()
            wait = limits.wait_for_token("the-same-token")
            with lock:
                results.append(wait)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=hit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 16
    assert results.count(None) == 5


@pytest.mark.django_db
def test_a_later_window_counts_again_in_the_same_row(settings, clock):
    settings.DEVICE_API_LIMIT_PER_TOKEN = 2
    assert [limits.wait_for_token("t") for _ in range(3)] == [None, None, 59]
    clock[0] += 60
    assert [limits.wait_for_token("t") for _ in range(3)] == [None, None, 59]
    (counter,) = RequestCount.objects.all()
    assert (counter.count, counter.window_ends) == (3, int(clock[0]) + 59)


@pytest.mark.django_db
def test_a_request_stamped_a_window_behind_counts_in_the_current_one(settings, clock):
    """A web server whose clock is behind the others' must not start the count afresh."""
    settings.DEVICE_API_LIMIT_PER_TOKEN = 2
    assert limits.wait_for_token("t") is None
    clock[0] -= 60
    assert limits.wait_for_token("t") is None
    clock[0] += 60
    assert limits.wait_for_token("t") == 59
    assert RequestCount.objects.get().count == 3


@pytest.mark.django_db
def test_each_limit_costs_one_statement(settings, django_assert_num_queries):
    settings.DEVICE_API_LIMIT_PER_TOKEN = settings.DEVICE_API_LIMIT_PER_ADDRESS = 10
    limits.wait_for_token("t")  # the row exists: the usual case
    with django_assert_num_queries(1):
        assert limits.wait_for_token("t") is None
    with django_assert_num_queries(1):
        assert limits.wait_for_address("198.51.100.7") is None


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_a_count_of_its_own_does_not_wait_for_the_disk_and_leaves_the_session_as_it_was(
    settings, django_assert_num_queries
):
    """Outside a transaction the count is its own transaction, with synchronous_commit off for
    it alone, in the same round trip; the session's setting is untouched afterwards."""
    settings.DEVICE_API_LIMIT_PER_TOKEN = 2
    session = _synchronous_commit()
    with django_assert_num_queries(1) as sent:
        assert limits.wait_for_token("t") is None
    assert "SET LOCAL synchronous_commit = off;" in sent.captured_queries[0]["sql"]
    assert limits.wait_for_token("t") is None
    assert limits.wait_for_token("t") is not None  # the third of 2: over the limit
    assert RequestCount.objects.get().count == 3
    assert _synchronous_commit() == session


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a PostgreSQL setting")
@pytest.mark.django_db(transaction=True)
def test_a_count_inside_a_transaction_leaves_that_transactions_setting_alone(settings):
    settings.DEVICE_API_LIMIT_PER_TOKEN = 10
    session = _synchronous_commit()
    with transaction.atomic():
        assert limits.wait_for_token("t") is None
        assert _synchronous_commit() == session
    assert RequestCount.objects.get().count == 1


@pytest.mark.django_db
def test_an_address_longer_than_the_key_is_counted_under_its_hash(settings):
    settings.DEVICE_API_LIMIT_PER_ADDRESS = 1
    long = "x" * 500
    assert limits.wait_for_address(long) is None
    assert limits.wait_for_address(long) is not None
    assert limits.wait_for_address(long + "y") is None  # another address, another counter
    assert all(
        len(key) <= limits.KEY_MAX for key in RequestCount.objects.values_list("key", flat=True)
    )


@pytest.mark.django_db
def test_purge_deletes_only_counters_of_windows_long_ended(settings, clock):
    settings.DEVICE_API_LIMIT_PER_TOKEN = 10
    limits.wait_for_token("quiet")
    clock[0] += limits.PURGE_AFTER_SECONDS + 60
    limits.wait_for_token("busy")
    assert limits.purge() == 1
    assert list(RequestCount.objects.values_list("key", flat=True)) == [
        f"device-api:token:60:{limits.token_key('busy')}"
    ]


@pytest.mark.django_db
def test_the_task_engine_purges_the_counters(settings, clock):
    from django.utils.module_loading import import_string

    from signals.tasks import SCHEDULES

    (schedule,) = [s for s in SCHEDULES if s["name"] == "signals.purge_request_counts"]
    settings.DEVICE_API_LIMIT_PER_TOKEN = 10
    limits.wait_for_token("quiet")
    clock[0] += limits.PURGE_AFTER_SECONDS + 60
    assert import_string(schedule["func"])() == 1
    assert not RequestCount.objects.exists()


def test_only_a_hash_of_the_token_names_its_counter():
    assert "secret-token" not in limits.token_key("secret-token")
    assert limits.token_key("a") != limits.token_key("b")


def _redis_url() -> str | None:
    try:
        import redis
    except ImportError:
        return None
    url = "redis://127.0.0.1:6379/15"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return None
    return url


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif(_redis_url() is None, reason="no Redis on 127.0.0.1:6379 (it is optional)")
def test_with_redis_configured_the_limits_count_there(settings):
    settings.CACHES = {
        **settings.CACHES,
        "limits": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": _redis_url(),
        },
    }
    settings.DEVICE_API_LIMIT_PER_TOKEN = 5
    caches["limits"].clear()
    barrier = threading.Barrier(16, timeout=20)
    results: list[int | None] = []

    def hit() -> None:
        barrier.wait()
        results.append(limits.wait_for_token("redis-token"))

    threads = [threading.Thread(target=hit) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert results.count(None) == 5
    assert "RedisCache" in type(caches["limits"]).__name__
    caches["limits"].clear()
