"""How many requests the device API takes, per bridge token and per address.

Fixed windows counted in a cache every web process shares (settings.CACHES["limits"]: the
database by default, Redis when DJANGO_LIMITS_REDIS_URL is set), so the limits hold across
gunicorn workers and machines. The API asks before it accepts anything: a request over a
limit is answered 429 with Retry-After and nothing of it is stored, so the bridge sends the
same event again later and nothing it was told was accepted is ever dropped.
"""

from __future__ import annotations

import hashlib
import math
import time

from django.conf import settings
from django.core.cache import caches


def _now() -> float:
    return time.time()


def _wait(scope: str, ident: str, *, limit: int, window: int) -> int | None:
    """Count one request; seconds until the window ends if it is over the limit, else None."""
    if limit <= 0:
        return None  # this limit is off
    now = _now()
    index = int(now // window)
    key = f"device-api:{scope}:{window}:{index}:{ident}"
    cache = caches["limits"]
    cache.add(key, 0, timeout=window * 2)
    try:
        count = cache.incr(key)
    except ValueError:  # expired between add and incr: a new window
        cache.add(key, 1, timeout=window * 2)
        count = 1
    if count <= limit:
        return None
    return max(1, math.ceil((index + 1) * window - now))


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
