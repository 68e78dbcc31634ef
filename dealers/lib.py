"""Plain helpers any app may use (dealers is the lowest app): the client's address, and time
zone names."""

from __future__ import annotations

import functools
import ipaddress
import zoneinfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    """The address of the person (or bridge) that sent this request.

    Without a proxy in front (PORTAL_PROXY_COUNT = 0, the default) it is the peer's address,
    REMOTE_ADDR: a client can write any X-Forwarded-For it likes, so the header is ignored.
    Behind N trusted proxies that each append the address they received the request from to
    X-Forwarded-For, the client is the N-th entry from the right; everything left of it came
    from the client and may be forged. A header with fewer entries, or an entry that is not
    an address, means the request did not come through the proxies: the peer address stands.
    """
    peer = request.META.get("REMOTE_ADDR", "") or ""
    hops = settings.PORTAL_PROXY_COUNT
    if hops <= 0:
        return peer
    # The server joins repeated X-Forwarded-For headers into one, comma-separated.
    header = request.META.get("HTTP_X_FORWARDED_FOR") or ""
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    if len(forwarded) < hops:
        return peer
    candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return peer


@functools.cache
def time_zone_names() -> frozenset[str]:
    """The IANA time zone names this machine knows (read once: the lookup walks the disk)."""
    return frozenset(zoneinfo.available_timezones())


def validate_time_zone(value: str) -> None:
    """An IANA time zone name such as America/New_York."""
    if value not in time_zone_names():
        raise ValidationError(f"{value!r} is not a known time zone (e.g. America/New_York).")


@functools.cache
def time_zone_choices() -> list[tuple[str, str]]:
    """For a choice field: every time zone, sorted, with spaces for underscores."""
    return [(name, name.replace("_", " ")) for name in sorted(time_zone_names())]
