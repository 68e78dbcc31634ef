"""Plain helpers any app may use (dealers is the lowest app): the client's address, time zone
names, and CSV cells a spreadsheet cannot run as formulas."""

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
        address = ipaddress.ip_address(candidate)
    except ValueError:
        return peer
    # An IPv6 scope ("fe80::1%eth0") names an interface of the sender's, not the client, and
    # may be any text at all (a NUL byte, which no database column takes): the address alone.
    return str(address).partition("%")[0]


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


# A spreadsheet opening a CSV file runs a cell starting with one of these as a formula
# ("CSV injection": =HYPERLINK(...), =cmd|...). Tab and CR start one in some of them too.
FORMULA_STARTS = frozenset("=+-@\t\r")


def _runs_as_formula(value: str) -> bool:
    # Apostrophes in front count through: "'=x" is guarded too, so that the guard can be
    # undone exactly (a cell that merely starts with an apostrophe is left alone).
    return value.lstrip("'")[:1] in FORMULA_STARTS


def csv_text(value: str) -> str:
    """A CSV cell that a spreadsheet shows as text and never runs: an apostrophe in front of
    one that would start a formula. ``csv_value`` undoes it, so a file exported with this
    imports back unchanged."""
    return f"'{value}" if _runs_as_formula(value) else value


def csv_value(cell: str) -> str:
    """The value ``csv_text`` wrote into this cell (any other cell as it is)."""
    return cell[1:] if cell[:1] == "'" and _runs_as_formula(cell[1:]) else cell
