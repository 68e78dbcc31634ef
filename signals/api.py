"""The device API: bridges report events here.

``POST /api/devices/events`` with ``Authorization: Bearer <token>`` and a JSON object::

    {"serial": "BR-0001", "event_id": "42", "kind": "alarm", "zone": 17,
     "time": "2025-03-04T05:06:07+01:00"}

``channel`` (the camera channel) may stand in for ``zone``; ``description`` is optional.
Answers are JSON: 201 with the event and its signal references, 200 with the same body for
an event the bridge already sent (the same id, kind, zone, channel and time), 4xx with
``{"error": "<reason>"}`` for anything else.
Too many requests per token or per address answer 429 with Retry-After; such an event is not
stored, and the bridge sends it again (signals/limits.py).
An unknown serial and a wrong token get the same 401, so serials cannot be probed.
"""

from __future__ import annotations

import functools
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from customers.lib import ALLOWED_CHARACTERS, SERIAL_RE, normalise_identifier
from customers.models import ZONE_MAX, ZONE_MIN, Bridge
from dealers.lib import client_address
from signals import lib, limits, selectors, services
from signals.models import AlarmEvent

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 16 * 1024
MAX_TOKEN_LENGTH = 200
EVENT_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
DESCRIPTION_MAX = 200
_BEARER_RE = re.compile(r"Bearer\s+(\S+)", re.IGNORECASE)
# Compared against when the serial is unknown, so both failures take the same time.
_NO_BRIDGE_HASH = lib.device_token_hash("no such bridge")


class DeviceInputError(Exception):
    """A request the device must fix; the message says how."""


@dataclass(frozen=True)
class DeviceEvent:
    event_id: str
    kind: str
    zone: int | None
    channel: int | None
    occurred_at: datetime
    description: str
    # The time as the device sent it (printable), whether or not it could be right.
    time_sent: str = ""


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="devices"'
    return response


def _bearer_token(request: HttpRequest) -> str | None:
    match = _BEARER_RE.fullmatch(request.META.get("HTTP_AUTHORIZATION", "").strip())
    if match is None or len(match.group(1)) > MAX_TOKEN_LENGTH:
        return None
    return match.group(1)


def _serial(data: dict[str, Any]) -> str:
    serial = data.get("serial")
    if not isinstance(serial, str) or not serial.strip():
        raise DeviceInputError("serial is required: the serial number on the bridge's label.")
    serial = normalise_identifier(serial)
    if not SERIAL_RE.match(serial):
        # No bridge can have it; and it must never reach the database (NUL bytes, say).
        raise DeviceInputError(
            f"serial must be 4-32 characters: {ALLOWED_CHARACTERS}, as on the label."
        )
    return serial


def _trusted(bridge: Bridge | None, token: str) -> Bridge | None:
    """The bridge if ``token`` is its own; None for no bridge or another token, alike."""
    if bridge is None:
        lib.device_token_matches(token, _NO_BRIDGE_HASH)
        return None
    return bridge if lib.device_token_matches(token, bridge.token_hash) else None


def _authenticate(data: dict[str, Any], token: str) -> Bridge | None:
    return _trusted(selectors.bridge_by_serial(_serial(data)), token)


def _event_id(data: dict[str, Any]) -> str:
    value = data.get("event_id")
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**20:
        value = str(value)
    if not isinstance(value, str) or not EVENT_ID_RE.fullmatch(value):
        raise DeviceInputError(
            "event_id is required: the device's own id for this event, 1-64 letters, digits, "
            "'.', '_', ':' or '-' (the same id again is the same event)."
        )
    return value


def _number(data: dict[str, Any], name: str, low: int, high: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 3:
        value = int(value)  # zero-padded text such as "017"
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DeviceInputError(f"{name} must be a whole number from {low} to {high}.")
    return value


# A device's clock can be wrong: one never set after a power cut starts at 1970 or 2000, and a
# wrong time zone puts it hours ahead. What it reports still happened, and just now: a time
# before DEVICE_TIME_EARLIEST or more than DEVICE_TIME_AHEAD past the portal's clock gives way
# to the time the portal received it. An alarm is never refused for its bridge's clock (the
# bridge would not send a 400 again), and no time stored is one a page cannot show in a site's
# time zone, nor one that keeps an event at the top of the operator's list for years.
DEVICE_TIME_EARLIEST = datetime(2020, 1, 1, tzinfo=UTC)
DEVICE_TIME_AHEAD = timedelta(minutes=1)


def _stated_time(data: dict[str, Any]) -> tuple[str, datetime | None]:
    """The device's ``time`` as sent and in UTC (None: beyond what a date holds in UTC)."""
    value = data.get("time")
    hint = "e.g. 2025-03-04T05:06:07+01:00"
    if not isinstance(value, str) or len(value) > 64:
        raise DeviceInputError(f"time is required: an ISO-8601 date and time ({hint}).")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DeviceInputError(f"time is not an ISO-8601 date and time ({hint}).") from None
    if parsed.utcoffset() is None:
        raise DeviceInputError(f"time must carry its UTC offset ({hint}).")
    try:
        return value, parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        return value, None


def _possible(stated: datetime | None, now: datetime) -> bool:
    """Whether a device's time (in UTC) is one its clock could give at ``now``."""
    return stated is not None and DEVICE_TIME_EARLIEST <= stated <= now + DEVICE_TIME_AHEAD


def device_time(data: dict[str, Any]) -> tuple[datetime, str]:
    """When it happened: the device's ``time``, or the portal's clock when that cannot be
    right; then also the time as the device sent it, else ''."""
    return _kept_time(*_stated_time(data))


def _kept_time(sent: str, stated: datetime | None) -> tuple[datetime, str]:
    now = timezone.now()
    return (stated, "") if _possible(stated, now) else (now, sent)


def parse_event(data: dict[str, Any], bridge: Bridge) -> DeviceEvent:
    """Check every field of an authenticated request; ``DeviceInputError`` says what is wrong."""
    kind = data.get("kind")
    if not isinstance(kind, str) or kind not in lib.DEVICE_KINDS:
        allowed = ", ".join(sorted(lib.DEVICE_KINDS))
        raise DeviceInputError(f"kind must be one of: {allowed}.")
    zone = _number(data, "zone", ZONE_MIN, ZONE_MAX)
    channel = _number(data, "channel", 1, bridge.channel_count)
    if kind in lib.ZONE_KINDS and zone is None and channel is None:
        raise DeviceInputError(f"A {kind} needs its zone (or the camera channel).")
    if kind in lib.CAMERA_KINDS and channel is None:
        raise DeviceInputError(f"A {kind} needs the camera channel.")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise DeviceInputError("description must be text.")
    # Printable text only: control characters (NUL among them) have no place in a log line.
    description = _printable(description)
    event_id = _event_id(data)
    sent, stated = _stated_time(data)
    occurred_at, wrong_clock = _kept_time(sent, stated)
    if wrong_clock:
        # Said where the dealer and the operator see the event, so the clock gets fixed.
        note = f"(bridge clock said {_printable(wrong_clock)})"
        description = f"{description[: DESCRIPTION_MAX - len(note) - 1]} {note}".lstrip()
        logger.warning(
            "bridge %s: event %s said it happened at %r; recorded at the time received",
            bridge.serial,
            event_id,
            wrong_clock,
        )
    return DeviceEvent(
        event_id=event_id,
        kind=kind,
        zone=zone,
        channel=channel,
        occurred_at=occurred_at,
        description=description[:DESCRIPTION_MAX],
        # Kept to compare (``same_event``): the instant read, in UTC, or, beyond what a date
        # holds in UTC, the text sent.
        time_sent=stated.isoformat() if stated is not None else _printable(sent),
    )


def _printable(text: str) -> str:
    return "".join(ch for ch in text if ch.isprintable())


def _instant(text: str) -> datetime | str:
    """A kept device time, comparable: the instant in UTC, or the text as it is when it names
    none (beyond what a date holds in UTC)."""
    try:
        return datetime.fromisoformat(text).astimezone(UTC)
    except (ValueError, OverflowError):
        return text


_CLOCK_NOTE_RE = re.compile(r"\(bridge clock said (.{1,64})\)\Z")


def _stored_time_sent(stored: AlarmEvent) -> datetime | str:
    """The time the device sent for a stored event: kept since signals 0015. Before, the one
    its description's clock note gives when it was replaced (a time its clock could not give
    when it was received), else the time stored."""
    if stored.device_time_sent:
        return _instant(stored.device_time_sent)
    note = _CLOCK_NOTE_RE.search(stored.description)
    if note is not None:
        said = _instant(note[1])
        if not isinstance(said, datetime) or not _possible(said, stored.received_at):
            return said
    return stored.occurred_at


def same_event(stored: AlarmEvent, fields: DeviceEvent) -> bool:
    """Whether a request with the id of an event the bridge sent already reports that event
    (sent again: its answer was lost), rather than another one (a bridge reset to its factory
    settings counts its ids from 1 again). The description may differ. The zone is compared
    when the request names one (without it the stored zone was the camera's). The time is the
    one the device sent, whether or not the portal kept it (``_stored_time_sent``): a retry
    can fall on the other side of the window the first send fell on (a clock a little fast)."""
    return (
        fields.kind == stored.kind
        and fields.channel == stored.channel
        and (fields.zone is None or fields.zone == stored.zone_number)
        and _instant(fields.time_sent) == _stored_time_sent(stored)
    )


def _too_many(wait: int, what: str) -> JsonResponse:
    response = _error(429, f"Too many requests from this {what}: send again in {wait} s.")
    response["Retry-After"] = str(wait)
    return response


def _answer(event: AlarmEvent) -> JsonResponse:
    references = event.references
    if references is None:  # a stored event: read them
        references = selectors.event_references(event)
    body = {"event": str(event.code), "references": references}
    return JsonResponse(body, status=201 if event.is_new else 200)


def _logs_refusals(view):
    """Every refusal is logged with its reason, so an event that never became a signal can be
    explained from the portal alone (the body is not logged: it may hold a token)."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest) -> JsonResponse:
        response = view(request)
        if response.status_code >= 400:
            try:
                reason = json.loads(response.content).get("error", "")
            except ValueError:
                reason = ""
            logger.warning(
                "device API refused a request from %s: %s %s",
                client_address(request),
                response.status_code,
                lib.text_safe(reason, 300),
            )
        return response

    return wrapper


def limited(request: HttpRequest) -> tuple[str | None, JsonResponse | None]:
    """The bearer token, or the answer that refuses the request before anything is read."""
    if (wait := limits.wait_for_address(client_address(request))) is not None:
        return None, _too_many(wait, "address")
    token = _bearer_token(request)
    if token is None:
        return None, _error(401, "Send the bridge's token as 'Authorization: Bearer <token>'.")
    if (wait := limits.wait_for_token(token)) is not None:
        return None, _too_many(wait, "bridge token")
    return token, None


def declared_length(request: HttpRequest) -> int:
    """The body's declared length; a missing one is 0."""
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise DeviceInputError("Content-Length is not a number.") from None
    if declared < 0:
        raise DeviceInputError("Content-Length is not a number.")
    return declared


def json_body(request: HttpRequest, most: int) -> dict[str, Any] | JsonResponse:
    """The request's JSON object, read no further than ``most`` bytes, or the answer refusing it."""
    try:
        declared = declared_length(request)
    except DeviceInputError as exc:
        return _error(400, str(exc))
    if declared > most:
        return _error(413, f"The body is larger than {most} bytes.")
    body = request.read(most + 1)
    if len(body) > most:
        return _error(413, f"The body is larger than {most} bytes.")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return _error(400, "The body is not valid JSON.")
    if not isinstance(data, dict):
        return _error(400, "The body must be a JSON object.")
    return data


@csrf_exempt
@never_cache
@_logs_refusals
def device_events(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        response = _error(405, "Use POST.")
        response["Allow"] = "POST"
        return response
    # The limits are decided before anything is read or stored: a limited event is not kept,
    # and the bridge sends it again after Retry-After (signals/limits.py).
    token, refusal = limited(request)
    if refusal is not None:
        return refusal
    data = json_body(request, MAX_BODY_BYTES)
    if isinstance(data, JsonResponse):
        return data
    try:
        serial = _serial(data)
        # The bridge and the event it may have sent already, in one round trip; a wrong token
        # is answered before a wrong event id, as before anything else.
        try:
            event_id, wrong_event_id = _event_id(data), None
        except DeviceInputError as exc:
            event_id, wrong_event_id = "", exc
        site_codes = None
        if wrong_event_id is None:
            # With the site's zone and library, for a new event (nothing read is used before
            # the token is checked; a bad zone is answered by parse_event, after it).
            try:
                zone = _number(data, "zone", ZONE_MIN, ZONE_MAX)
            except DeviceInputError:
                zone = None
            read = selectors.bridge_and_device_event(serial, event_id, zone=zone)
            found, existing, site_codes = read.bridge, read.existing, read.site_codes
        else:
            found, existing = selectors.bridge_by_serial(serial), None
        bridge = _trusted(found, token)
        if bridge is None:
            return _error(401, "Unknown bridge serial or wrong token.")
        if wrong_event_id is not None:
            raise wrong_event_id
        if existing is not None and existing.customer_id != bridge.customer_id:
            existing = None  # read for the site the bridge left while it was read
        fields = parse_event(data, bridge)
        # The same event sent again is answered as the first time. Another event with its id
        # is a new one: an alarm is never answered as an old one (``same_event``).
        if existing is not None and same_event(existing, fields):
            return _answer(existing)
    except DeviceInputError as exc:
        return _error(400, str(exc))
    event = services.event_record(
        customer=bridge.customer,
        kind=fields.kind,
        zone=fields.zone,
        bridge=bridge,
        channel=fields.channel,
        occurred_at=fields.occurred_at,
        source=AlarmEvent.Source.DEVICE,
        device_event_id=fields.event_id,
        device_time_sent=fields.time_sent,
        description=fields.description,
        device_event_checked=True,  # just above
        site_codes=site_codes,
        supersedes=existing,
    )
    return _answer(event)


# The device API's shared parts, for the other device endpoints (media uploads, heartbeats and
# commands in media/api.py): one way to authenticate, limit, read, refuse and log (with
# limited, declared_length and json_body above).
authenticate_bridge = _authenticate
error_response = _error
logs_refusals = _logs_refusals
parse_number = _number
