"""Plain helpers for signals: event kinds, the built-in code table, code resolution, priority,
references, device tokens, periodic-test slots, and the dispatcher's backoff and path health.

No queries and no I/O: selectors fetch the rows, these functions decide.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import re
import secrets
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Protocol

from django.db import models
from lxml import etree

from customers.models import Zone
from signals.codecs.base import Qualifier


class EventKind(models.TextChoices):
    """What happened at a site (``AlarmEvent.kind``)."""

    ALARM = "alarm", "Alarm"
    RESTORE = "restore", "Restore"
    TROUBLE = "trouble", "Trouble"
    TROUBLE_RESTORE = "trouble_restore", "Trouble restore"
    CAMERA_LOST = "camera_lost", "Camera connection lost"
    CAMERA_RESTORED = "camera_restored", "Camera connection restored"
    BRIDGE_OFFLINE = "bridge_offline", "Bridge offline"
    BRIDGE_ONLINE = "bridge_online", "Bridge back online"
    POWER_LOST = "power_lost", "Power lost"
    POWER_RESTORED = "power_restored", "Power restored"
    ARM = "arm", "Armed"
    DISARM = "disarm", "Disarmed"
    CANCEL = "cancel", "Cancel"
    TEST = "test", "Test signal"
    PERIODIC_TEST = "periodic_test", "Periodic test"
    CAMERAS_VIEWED = "cameras_viewed", "Cameras viewed by an operator"
    VERDICT_REAL = "verdict_real", "Operator verdict: verified real"
    VERDICT_FALSE_ALARM = "verdict_false_alarm", "Operator verdict: false alarm"
    VERDICT_UNVERIFIED = "verdict_unverified", "Operator verdict: unable to verify"
    PROGRAMMING_CHANGE = "programming_change", "Programming changed"
    RESTART = "restart", "Restart"
    DEVICE_ADDED = "device_added", "Device added"
    DEVICE_REMOVED = "device_removed", "Device removed"


# What a bridge may report itself. The others come from the portal: its test button, the
# periodic-test schedule, operators opening the cameras, and the portal noticing a bridge gone.
DEVICE_KINDS = frozenset(EventKind) - {
    EventKind.PERIODIC_TEST,
    EventKind.CAMERAS_VIEWED,
    EventKind.VERDICT_REAL,
    EventKind.VERDICT_FALSE_ALARM,
    EventKind.VERDICT_UNVERIFIED,
    EventKind.BRIDGE_OFFLINE,
    EventKind.BRIDGE_ONLINE,
}
# What a station's operator does in the portal: each goes to that operator's station only.
OPERATOR_KINDS = frozenset(
    {
        EventKind.CAMERAS_VIEWED,
        EventKind.VERDICT_REAL,
        EventKind.VERDICT_FALSE_ALARM,
        EventKind.VERDICT_UNVERIFIED,
    }
)
# Kinds whose code depends on the zone's type: they need a zone (or a camera channel with one).
ZONE_KINDS = frozenset({EventKind.ALARM, EventKind.RESTORE})
# Kinds about one camera: they need its channel.
CAMERA_KINDS = frozenset({EventKind.CAMERA_LOST, EventKind.CAMERA_RESTORED})


class Trigger(models.TextChoices):
    """An entry of the alarm library: a zone type's alarm, or a system event.

    Restores share their event's entry and code and go out with qualifier R.
    """

    ZONE_INSTANT = f"zone.{Zone.Type.INSTANT}", "Zone alarm: Instant"
    ZONE_FOLLOWER = f"zone.{Zone.Type.FOLLOWER}", "Zone alarm: Follower"
    ZONE_24H = f"zone.{Zone.Type.TWENTY_FOUR_HOUR}", "Zone alarm: 24-hour"
    ZONE_ENTRY_EXIT = f"zone.{Zone.Type.ENTRY_EXIT}", "Zone alarm: Entry/Exit"
    ZONE_EXT_ENTRY_EXIT = f"zone.{Zone.Type.EXTERIOR_ENTRY_EXIT}", "Zone alarm: Exterior Entry/Exit"
    ZONE_EXT_INSTANT = f"zone.{Zone.Type.EXTERIOR_INSTANT}", "Zone alarm: Exterior Instant"
    ZONE_INTERCOM_ARMED = f"zone.{Zone.Type.INTERCOM_ARMED}", "Zone alarm: Intercom Armed"
    TROUBLE = "trouble", "Zone or sensor trouble"
    CAMERA_LOST = "camera_lost", "Camera connection lost"
    BRIDGE_OFFLINE = "bridge_offline", "Bridge offline"
    POWER_LOST = "power_lost", "Bridge power lost"
    ARM_DISARM = "arm_disarm", "Remote arm / disarm"
    CANCEL = "cancel", "Cancel"
    TEST = "test", "Test signal (manual)"
    PERIODIC_TEST = "periodic_test", "Periodic test"
    CAMERAS_VIEWED = "cameras_viewed", "Cameras viewed"
    VERDICT_REAL = "verdict_real", "Operator verdict: verified real"
    VERDICT_FALSE_ALARM = "verdict_false_alarm", "Operator verdict: false alarm"
    VERDICT_UNVERIFIED = "verdict_unverified", "Operator verdict: unable to verify"
    PROGRAMMING_CHANGE = "programming_change", "Programming change"
    RESTART = "restart", "Restart / power on"
    DEVICE_ADDED = "device_added", "Device added"
    DEVICE_REMOVED = "device_removed", "Device removed"


# Built-in Contact ID codes, used when no library entry says otherwise
# (shared/reference/alarm-protocols.md). Our own choices where the reference has none:
# 380 for zone troubles (sensor trouble), 301 power lost (AC loss), 601 manual test,
# 531 / 532 module added / removed, and 606 for "cameras viewed": Contact ID's "listen-in to
# follow" is the nearest standard code for an operator verifying a site; stations that want
# another (609 video transmitter active, say) set it in the dealer's library. An operator's
# verdict: 139 "verified real" is Contact ID's own "burglary verified" (intrusion verifier,
# SIA BV), the code automation software already answers with a verified response; 406 "false
# alarm" is Contact ID's "cancel" of the alarm; "unable to verify" has no standard code, so it
# takes 610, unassigned in the 6xx system range (priority 6: it never overtakes an alarm).
DEFAULT_CODES: dict[str, str] = {
    Trigger.ZONE_INSTANT: "130",
    Trigger.ZONE_FOLLOWER: "132",
    Trigger.ZONE_24H: "133",
    Trigger.ZONE_ENTRY_EXIT: "134",
    Trigger.ZONE_EXT_ENTRY_EXIT: "134",
    Trigger.ZONE_EXT_INSTANT: "136",
    Trigger.ZONE_INTERCOM_ARMED: "420",
    Trigger.TROUBLE: "380",
    Trigger.CAMERA_LOST: "380",
    Trigger.BRIDGE_OFFLINE: "350",
    Trigger.POWER_LOST: "301",
    Trigger.ARM_DISARM: "407",
    Trigger.CANCEL: "406",
    Trigger.TEST: "601",
    Trigger.PERIODIC_TEST: "602",
    Trigger.CAMERAS_VIEWED: "606",
    Trigger.VERDICT_REAL: "139",
    Trigger.VERDICT_FALSE_ALARM: "406",
    Trigger.VERDICT_UNVERIFIED: "610",
    Trigger.PROGRAMMING_CHANGE: "306",
    Trigger.RESTART: "305",
    Trigger.DEVICE_ADDED: "531",
    Trigger.DEVICE_REMOVED: "532",
}

# kind -> (library entry, qualifier). None: the zone's type picks the entry. Contact ID sends
# arming as a closing (R) and disarming as an opening (E).
_KIND_RULES: dict[str, tuple[str | None, Qualifier]] = {
    EventKind.ALARM: (None, Qualifier.NEW),
    EventKind.RESTORE: (None, Qualifier.RESTORE),
    EventKind.TROUBLE: (Trigger.TROUBLE, Qualifier.NEW),
    EventKind.TROUBLE_RESTORE: (Trigger.TROUBLE, Qualifier.RESTORE),
    EventKind.CAMERA_LOST: (Trigger.CAMERA_LOST, Qualifier.NEW),
    EventKind.CAMERA_RESTORED: (Trigger.CAMERA_LOST, Qualifier.RESTORE),
    EventKind.BRIDGE_OFFLINE: (Trigger.BRIDGE_OFFLINE, Qualifier.NEW),
    EventKind.BRIDGE_ONLINE: (Trigger.BRIDGE_OFFLINE, Qualifier.RESTORE),
    EventKind.POWER_LOST: (Trigger.POWER_LOST, Qualifier.NEW),
    EventKind.POWER_RESTORED: (Trigger.POWER_LOST, Qualifier.RESTORE),
    EventKind.ARM: (Trigger.ARM_DISARM, Qualifier.RESTORE),
    EventKind.DISARM: (Trigger.ARM_DISARM, Qualifier.NEW),
    EventKind.CANCEL: (Trigger.CANCEL, Qualifier.NEW),
    EventKind.TEST: (Trigger.TEST, Qualifier.NEW),
    EventKind.PERIODIC_TEST: (Trigger.PERIODIC_TEST, Qualifier.NEW),
    EventKind.CAMERAS_VIEWED: (Trigger.CAMERAS_VIEWED, Qualifier.NEW),
    EventKind.VERDICT_REAL: (Trigger.VERDICT_REAL, Qualifier.NEW),
    EventKind.VERDICT_FALSE_ALARM: (Trigger.VERDICT_FALSE_ALARM, Qualifier.NEW),
    EventKind.VERDICT_UNVERIFIED: (Trigger.VERDICT_UNVERIFIED, Qualifier.NEW),
    EventKind.PROGRAMMING_CHANGE: (Trigger.PROGRAMMING_CHANGE, Qualifier.NEW),
    EventKind.RESTART: (Trigger.RESTART, Qualifier.NEW),
    EventKind.DEVICE_ADDED: (Trigger.DEVICE_ADDED, Qualifier.NEW),
    EventKind.DEVICE_REMOVED: (Trigger.DEVICE_REMOVED, Qualifier.NEW),
}


def zone_trigger(zone_type: str) -> str:
    return f"zone.{zone_type}"


def trigger_for(kind: str, zone_type: str | None = None) -> str:
    """The library entry an event of ``kind`` uses.

    A zone alarm the portal has no zone for is treated as Instant: an alarm is never dropped
    for want of configuration.
    """
    trigger, _ = _KIND_RULES[kind]
    if trigger is None:
        return zone_trigger(zone_type or Zone.Type.INSTANT)
    return trigger


def qualifier_for(kind: str) -> Qualifier:
    return _KIND_RULES[kind][1]


# --- code resolution ------------------------------------------------------------------------


class CodeRule(Protocol):
    """What resolution reads from a library entry (``signals.models.EventCode``)."""

    trigger: str
    customer_id: int | None
    zone_id: int | None
    event_code: str
    enabled: bool


def rule_level(rule: CodeRule, *, customer_id: int, zone_id: int | None) -> int | None:
    """3 for this zone's entry, 2 for this site's, 1 for the dealer's; None if not for us."""
    if rule.zone_id is not None:
        return 3 if zone_id is not None and rule.zone_id == zone_id else None
    if rule.customer_id is not None:
        return 2 if rule.customer_id == customer_id else None
    return 1


def code_resolve(
    trigger: str, rules: Iterable[CodeRule], *, customer_id: int, zone_id: int | None = None
) -> str | None:
    """The Contact ID code to send, or None when the winning entry is switched off.

    The most specific entry wins: the zone's, then the site's, then the dealer's library, then
    the built-in default. A switched-off entry stops the signal only when it is the winner, so
    a site can switch back on what the dealer switched off, and the other way round.
    """
    best: CodeRule | None = None
    best_level = 0
    for rule in rules:
        if rule.trigger != trigger:
            continue
        level = rule_level(rule, customer_id=customer_id, zone_id=zone_id)
        if level is not None and level > best_level:
            best, best_level = rule, level
    if best is None:
        return DEFAULT_CODES[trigger]
    return best.event_code if best.enabled else None


# --- priority -------------------------------------------------------------------------------

PRIORITY_FIRE = 1
PRIORITY_HOLD_UP = 2
PRIORITY_BURGLARY = 3
PRIORITY_OTHER_ALARM = 4
PRIORITY_TROUBLE = 5
PRIORITY_SYSTEM = 6


def priority_for(code: str, *, qualifier: Qualifier | str, is_alarm: bool = False) -> int:
    """The dispatcher's order across accounts: 1 goes first.

    By Contact ID family: fire (11x) 1, panic / hold-up / duress (12x) 2, burglary (13x) 3,
    other alarms (the rest of 1xx, 2xx supervisory) 4, troubles (3xx) 5, open/close, access,
    bypass and tests (4xx-9xx) 6. A zone alarm is never below "other alarm" whatever its code
    (an Intercom Armed zone sends 420), and a restore never above "trouble": it needs no one
    to act. Within one account, signals always leave in the order they happened.
    """
    number = int(code)
    if 110 <= number <= 119:
        priority = PRIORITY_FIRE
    elif 120 <= number <= 129:
        priority = PRIORITY_HOLD_UP
    elif 130 <= number <= 139:
        priority = PRIORITY_BURGLARY
    elif number < 300:
        priority = PRIORITY_OTHER_ALARM
    elif number < 400:
        priority = PRIORITY_TROUBLE
    else:
        priority = PRIORITY_SYSTEM
    if is_alarm:
        priority = min(priority, PRIORITY_OTHER_ALARM)
    if Qualifier(qualifier) is Qualifier.RESTORE:
        priority = max(priority, PRIORITY_TROUBLE)
    return priority


# --- references and tokens ------------------------------------------------------------------


def reference_new() -> str:
    """A signal's opaque, unique reference: 36 characters of [0-9a-f-] (a random UUID)."""
    return str(uuid.uuid4())


TOKEN_PREFIX = "brt_"


def device_token_new() -> str:
    """A bridge's API token: 256 random bits, URL-safe, with a recognisable prefix."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def device_token_hash(token: str) -> str:
    """SHA-256 hex of the token. Enough for 256 random bits; a slow hash adds nothing."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def device_token_matches(token: str, token_hash: str) -> bool:
    """Constant-time comparison; a bridge with no token accepts none."""
    return bool(token_hash) and hmac.compare_digest(device_token_hash(token), token_hash)


# --- periodic tests -------------------------------------------------------------------------

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def periodic_slot_start(now: datetime, interval: timedelta, *, seed: int) -> datetime:
    """The start of the interval ``now`` falls in, for one account.

    Slots are fixed (so running the command twice in one slot creates one test) and shifted
    per account by ``seed`` (so a station's accounts do not all test at the same second).
    """
    period = int(interval.total_seconds())
    if period <= 0:
        raise ValueError("the interval must be positive")
    # Knuth's multiplicative hash spreads consecutive ids across the interval.
    offset = (seed * 2654435761) % period
    elapsed = int((now - _EPOCH).total_seconds()) - offset
    return _EPOCH + timedelta(seconds=offset + elapsed - elapsed % period)


# --- delivery: backoff ------------------------------------------------------

# Beyond this the doubling no longer matters (any cap is reached) and floats would overflow.
_BACKOFF_MAX_EXPONENT = 32


def backoff_delay(attempts: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Seconds to wait before the next try of a signal that has failed ``attempts`` times.

    ``base`` doubles with each attempt up to ``cap``; the wait is then drawn from the upper half
    of that ("equal jitter"), so signals that failed together do not all come back together,
    and the wait never exceeds ``cap``.
    """
    exponent = min(max(attempts - 1, 0), _BACKOFF_MAX_EXPONENT)
    ceiling = min(cap, base * 2**exponent)
    return ceiling / 2 + rng.random() * ceiling / 2


# --- what receivers say, fit for a text column ----------------------------------------------

# C0 controls but tab, line feed and carriage return, DEL, and lone surrogates: PostgreSQL
# refuses NUL in text and no database can store a lone surrogate; none of them reads well.
_UNSAFE_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")
# Control characters of the upper half (ISO-8859-1 decodes bytes 0x80-0x9f to them).
_C1_CHARS = re.compile("[\x80-\x9f]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def text_safe(text: str, max_length: int | None = None) -> str:
    """``text`` with every character a text column or a person cannot take shown as an escape
    (``\\x00``, ``\\udc80``), then cut to ``max_length``.

    Used on everything that may hold what a receiver sent (replies' reasons, errors naming
    what came back) before it is written: one odd byte must never stop a batch being recorded.
    """
    cleaned = _UNSAFE_CHARS.sub(_escape, text)
    return cleaned if max_length is None else cleaned[:max_length]


def bytes_for_people(data: bytes, encoding: str = "utf-8") -> tuple[str, bool]:
    """Bytes from the network as text for a page, and whether it had to be escaped.

    Text in ``encoding`` (the protocol's: ``Codec.text_encoding``) without control characters
    is shown as it is; anything else (a NUL, UTF-16, binary) shows its odd bytes as ``\\xNN``
    escapes, and the second value says so.
    """
    data = bytes(data)
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError):
        return text_safe(data.decode("utf-8", "backslashreplace")), True
    safe = _C1_CHARS.sub(_escape, text_safe(text))
    return safe, safe != text


def payload_for_people(data: bytes) -> str:
    """A signal's bytes for the signal list: XML indented (one element a line), anything else
    as ``bytes_for_people`` shows it. The XML is parsed without entities or network, and
    shown as sent when it does not parse."""
    data = bytes(data)
    if data.lstrip().startswith(b"<"):
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, remove_blank_text=True, huge_tree=False
        )
        try:
            root = etree.fromstring(data, parser)
        except etree.XMLSyntaxError:
            pass
        else:
            text = etree.tostring(root, pretty_print=True, encoding="unicode").rstrip()
            declaration = data.lstrip().split(b"?>", 1)[0] + b"?>"
            if declaration.startswith(b"<?xml"):
                text = declaration.decode("ascii", "replace") + "\n" + text
            return text_safe(text)
    return bytes_for_people(data)[0]


def retired_device_id(row, field: str) -> str:
    """The id a row a device named (an event, an upload) keeps once the device used the id for
    something else: ``<id>~<pk>``, within the field's length, unique at its site, and never a
    device's id (devices' ids have no "~")."""
    suffix = f"~{row.pk}"
    keep = row._meta.get_field(field).max_length - len(suffix)
    return f"{getattr(row, field)[:keep]}{suffix}"
