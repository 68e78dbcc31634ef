"""How many requests the device API takes, per bridge token and per address.

Fixed windows counted where every web process sees the same count, so the limits hold across
gunicorn workers and machines: by default in the database (``RequestCount``, one statement per
request and limit), or in Redis when DJANGO_LIMITS_REDIS_URL is set (settings.CACHES["limits"]).
The API asks before it accepts anything: a request over a limit is answered 429 with
Retry-After and nothing of it is stored, so the bridge sends the same event again later and
nothing it was told was accepted is ever dropped.
"""

from __future__ import annotations

import functools
import hashlib
import math
import time

from django.conf import settings
from django.core.cache import caches
from django.db import connection

from signals.models import RequestCount

# A key longer than the column (an address nobody should send) is counted under its hash.
KEY_MAX = RequestCount._meta.get_field("key").max_length
# A window ended this long ago is nobody's current window, even on a machine whose clock is
# behind: ``purge`` deletes its counter.
PURGE_AFTER_SECONDS = 300


def _now() -> float:
    return time.time()


def _wait(scope: str, ident: str, *, limit: int, window: int) -> int | None:
    """Count one request; seconds until the window ends if it is over the limit, else None."""
    if limit <= 0:
        return None  # this limit is off
    now = _now()
    window_ends = (int(now // window) + 1) * window
    prefix = f"device-api:{scope}:{window}:"
    key = prefix + ident
    if len(key) > KEY_MAX:
        key = prefix + "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
    if "limits" in settings.CACHES:
        count = _count_in_cache(f"{key}:{window_ends}", window)
    else:
        count = _count_in_database(key, window_ends)
    if count <= limit:
        return None
    return max(1, math.ceil(window_ends - now))


def _count_in_database(key: str, window_ends: int) -> int:
    """Count one request in the key's row and return the window's count, in one statement.

    The row is created with 1, or its count goes up by 1 while the window is the one it counts,
    or starts again at 1 in a later window. The database does it in the row, under the row's
    lock, so requests counted at once in several processes are each counted (PostgreSQL and
    SQLite both take this statement). A request from a machine whose clock is a window behind
    counts in the row's current window rather than start an older one.

    On PostgreSQL, outside a transaction, the count's own transaction does not wait for its
    write-ahead log to reach the disk (``synchronous_commit`` off for it alone, set in the same
    round trip): a count a crash loses lets one more request through, and waiting for the
    flush cost every event two flushes more than storing it. Inside a caller's transaction the
    setting would be the caller's too, so there the count waits as the transaction does."""
    sql, params = _count_sql(), [key, window_ends]
    with connection.cursor() as cursor:
        if (
            connection.vendor == "postgresql"
            and connection.get_autocommit()
            and not connection.in_atomic_block
        ):
            # One query string: PostgreSQL runs it as one transaction, the setting its own.
            cursor.execute(f"SET LOCAL synchronous_commit = off; {sql}", params)
            cursor.nextset()
        else:
            cursor.execute(sql, params)
        return cursor.fetchone()[0]


@functools.cache
def _count_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(RequestCount._meta.db_table)
    key, ends, count = (
        quote(RequestCount._meta.get_field(name).column) for name in ("key", "window_ends", "count")
    )
    later = f"excluded.{ends} > counter.{ends}"
    return (
        f"INSERT INTO {table} AS counter ({key}, {ends}, {count}) VALUES (%s, %s, 1) "
        f"ON CONFLICT ({key}) DO UPDATE SET "
        f"{count} = CASE WHEN {later} THEN 1 ELSE counter.{count} + 1 END, "
        f"{ends} = CASE WHEN {later} THEN excluded.{ends} ELSE counter.{ends} END "
        f"RETURNING {count}"
    )


def _count_in_cache(key: str, window: int) -> int:
    """Count one request in the limits' cache (Redis: ``incr`` is atomic there)."""
    cache = caches["limits"]
    cache.add(key, 0, timeout=window * 2)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.add(key, 1, timeout=window * 2)
        return 1


def purge() -> int:
    """Delete the counters whose window ended a while ago; returns how many."""
    ended = int(_now()) - PURGE_AFTER_SECONDS
    deleted, _ = RequestCount.objects.filter(window_ends__lt=ended).delete()
    return deleted


def token_key(token: str) -> str:
    """A bridge token's name in the counters: a hash, never the secret itself."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def wait_for_address(address: str) -> int | None:
    return _wait(
        "address",
        address or "unknown",
        limit=settings.DEVICE_API_LIMIT_PER_ADDRESS,
        window=settings.DEVICE_API_LIMIT_WINDOW_SECONDS,
    )


def wait_for_token(token: str) -> int | None:
    return _wait(
        "token",
        token_key(token),
        limit=settings.DEVICE_API_LIMIT_PER_TOKEN,
        window=settings.DEVICE_API_LIMIT_WINDOW_SECONDS,
    )
