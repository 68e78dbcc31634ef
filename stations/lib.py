"""Plain helpers for stations: a receiver's paths summed up for a badge, the automation
platforms' profiles, and the one builder of deep-link addresses."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlencode, urlsplit

# A path's state as the dispatchers record it (stations.models.PathHealth.state).
UNKNOWN, UP, DOWN = "unknown", "up", "down"


# --- receiver path health (written by the dispatchers through stations.services) ------------


@dataclass(frozen=True)
class PathObservation:
    """One delivery attempt as path health sees it: did the path answer?

    ``ok`` is a reply from the receiver (a rejection too: the receiver is listening); not ok is
    no connection, no reply in time, a reply that is not one, or a request to use the alternate.
    """

    path_id: int
    ok: bool
    at: datetime
    error: str = ""


def path_state_next(
    state: str, consecutive_failures: int, *, ok: bool, down_after: int
) -> tuple[str, int]:
    """The path's state and consecutive-failure count after one more observation.

    Up on any success; down once ``down_after`` failures follow one another; otherwise as it
    was (a path in the unknown state stays unknown until it answers or reaches the limit).
    """
    if ok:
        return UP, 0
    failures = consecutive_failures + 1
    if failures >= max(down_after, 1):
        return DOWN, failures
    return state, failures


_STATE_LABELS = {UNKNOWN: "unknown", UP: "up", DOWN: "down"}


@dataclass(frozen=True)
class ReceiverHealth:
    """A receiver's paths summed up for a badge on the dealer's station records."""

    state: str  # "up", "down", "degraded" or "unknown"
    label: str
    css: str  # a Bootstrap colour name
    detail: str


def receiver_health_summary(paths: Iterable[tuple[str, str, str]]) -> ReceiverHealth:
    """Sum up ``(role label, state, url)`` of a receiver's paths.

    Up when every path that has answered or failed is up, down when all are down, degraded
    when one is down and another up, unknown before any delivery was tried.
    """
    paths = list(paths)
    detail = "; ".join(f"{role} {url}: {_STATE_LABELS[state]}" for role, state, url in paths)
    known = [state for _, state, _ in paths if state != UNKNOWN]
    if not known:
        return ReceiverHealth("unknown", "Receiver not tried yet", "secondary", detail)
    if all(state == UP for state in known):
        return ReceiverHealth("up", "Receiver up", "success", detail)
    if all(state == DOWN for state in known):
        return ReceiverHealth("down", "Receiver down", "danger", detail)
    down = [role for role, state, _ in paths if state == DOWN]
    return ReceiverHealth("degraded", f"{' and '.join(down)} path down", "warning", detail)


# --- automation platforms -------------------------------------------------------------------
# What the station's automation software is decides how the reference ID is named, whether
# stations on it usually require one, and which URL template its operators paste into it.
# The macro (placeholder) syntax is the platform's own where its public material documents it;
# where it is silent (``documented=False``) the station can set its own tokens in the console,
# and docs/deep-links.md says so.


@dataclass(frozen=True)
class Platform:
    """One automation platform's way of naming things and of building a launch URL."""

    key: str
    label: str
    reference_label: str  # what the platform calls the reference ID
    reference_alias: str  # the deep-link parameter name used for it (DESIGN.md §2)
    requires_reference_id: bool  # the usual choice of stations on this platform
    account_macro: str  # the platform's placeholder for the account (transmitter) number
    reference_macro: str
    zone_macro: str
    where: str  # where in the platform the URL goes
    documented: bool  # whether the macro syntax comes from the platform's public material
    source: str  # what the macros above are based on


PLATFORMS: dict[str, Platform] = {
    "mastermind": Platform(
        key="mastermind",
        label="MASterMind",
        reference_label="Site ID",
        reference_alias="massite",
        requires_reference_id=True,
        account_macro="{cs_no}",
        reference_macro="{site_no}",
        zone_macro="{zone}",
        where="an action step that launches a URL",
        documented=False,
        source="No public MASterMind material names its URL macros: these tokens are "
        "placeholders. Replace them with your MASterMind's field tokens for the transmitter "
        "number, the site number and the event zone (station console, Settings).",
    ),
    "bold_manitou": Platform(
        key="bold_manitou",
        label="Bold Manitou",
        reference_label="serial_no",
        reference_alias="serial_no",
        requires_reference_id=True,
        account_macro="{TX}",
        reference_macro="{CN}",
        zone_macro="{ZN}",
        where="a script message used by the action pattern that launches the URL",
        documented=True,
        source="Manitou's script message codes: {TX} transmitter ID, {CN} customer record "
        "identifier, {ZN} event zone. If your serial_no is not what {CN} gives, set your own "
        "token (station console, Settings).",
    ),
    "sentinel": Platform(
        key="sentinel",
        label="Sentinel",
        reference_label="User Reference",
        reference_alias="uid",
        requires_reference_id=True,
        account_macro="{DeviceID}",
        reference_macro="{UserReference}",
        zone_macro="{ZoneNumber}",
        where="the Special Instructions URL of the customer's actions",
        documented=True,
        source="Sentinel's Special Instructions URL tokens {UserReference} and {ZoneNumber}. "
        "Public material names no token for the transmitter's Device ID: {DeviceID} is a "
        "placeholder; prefer the User Reference form.",
    ),
    "generic": Platform(
        key="generic",
        label="Other (generic)",
        reference_label="Reference ID",
        reference_alias="uid",
        requires_reference_id=False,
        account_macro="{account}",
        reference_macro="{reference}",
        zone_macro="{zone}",
        where="the action that opens a URL during an alarm",
        documented=False,
        source="Generic placeholders: replace them with your software's own tokens "
        "(station console, Settings).",
    ),
}
GENERIC = "generic"


def platform(key: str) -> Platform:
    """The profile of a platform key; an unknown key is treated as generic."""
    return PLATFORMS.get(key, PLATFORMS[GENERIC])


# --- deep links -----------------------------------------------------------------------------
# The one place a deep link's address is built: the alarm packages, the customer page and the
# deep-link template pages all use it, so what a dealer pastes is what a signal carries.
DEEP_LINK_PATH = "/monitoring"
URL_MAX = 500


def deep_link_url(base_url: str, params: dict[str, str]) -> str:
    """``<base>/monitoring?<params>``, each value percent-encoded; '' for a base that is not
    an http(s) URL (a missing link must never stop an alarm)."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return ""
    return f"{base_url.rstrip('/')}{DEEP_LINK_PATH}?{urlencode(params)}"


def zone_text(zone: int) -> str:
    """A zone as deep links carry it: zero-padded to three digits (017)."""
    return f"{zone:03d}"


def deep_link_template(base_url: str, parameter: str, macro: str, zone_macro: str) -> str:
    """A URL template for an automation platform: the macros stay as the platform writes them
    (braces and all), because the platform replaces them before it opens the URL."""
    base = deep_link_url(base_url, {})
    if not base:
        return ""
    return f"{base}{parameter}={macro}&zone={zone_macro}"


@dataclass(frozen=True)
class LinkExample:
    """A real account of the station, to show a template filled in."""

    account_number: str
    reference_id: str
    zone: int | None
    site_name: str


@dataclass(frozen=True)
class LinkForm:
    """One URL template to paste into the platform, and the same template filled in."""

    key: str  # "account" or "reference"
    title: str
    parameter: str
    template: str
    example: str  # '' without an example account (or without its reference ID)
    recommended: bool


@dataclass(frozen=True)
class DeepLinkGuide:
    """What a deep-link page shows for one station."""

    platform: Platform
    reference_label: str
    reference_required: bool
    forms: list[LinkForm]
    example: LinkExample | None


def _filled(template: str, values: dict[str, str]) -> str:
    """The template as the platform opens it: each macro replaced by its value."""
    for macro, value in values.items():
        template = template.replace(macro, quote(value, safe=""))
    return template


def deep_link_guide(
    *,
    profile: Platform,
    macros: tuple[str, str, str],
    reference_label: str,
    reference_required: bool,
    base_url: str,
    example: LinkExample | None,
) -> DeepLinkGuide:
    """The URL templates for a station's platform, built from ``base_url`` (PORTAL_BASE_URL).

    The platform decides the order: where the reference ID is what the platform finds a site
    by (or the station requires it), its form comes first and is the recommended one.
    """
    account_macro, reference_macro, zone_macro = macros
    zone = zone_text(example.zone) if example and example.zone is not None else "001"
    account = LinkForm(
        key="account",
        title="By account number",
        parameter="act",
        template=deep_link_template(base_url, "act", account_macro, zone_macro),
        example=_filled(
            deep_link_template(base_url, "act", account_macro, zone_macro),
            {account_macro: example.account_number, zone_macro: zone},
        )
        if example
        else "",
        recommended=not reference_required,
    )
    reference_template = deep_link_template(
        base_url, profile.reference_alias, reference_macro, zone_macro
    )
    reference = LinkForm(
        key="reference",
        title=f"By {reference_label}",
        parameter=profile.reference_alias,
        template=reference_template,
        example=_filled(
            reference_template, {reference_macro: example.reference_id, zone_macro: zone}
        )
        if example and example.reference_id
        else "",
        recommended=reference_required,
    )
    forms = [reference, account] if reference_required else [account, reference]
    return DeepLinkGuide(
        platform=profile,
        reference_label=reference_label,
        reference_required=reference_required,
        forms=forms,
        example=example,
    )


# --- history, told as changes ---------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One change kept by django-simple-history, told for people."""

    at: object  # datetime
    user: object  # the user who made it, or None
    subject: str
    action: str


def history_changes(rows: Iterable, *, subject, fields: dict[str, str]) -> list[Change]:
    """Tell historical rows as changes: created, deleted, or which of ``fields`` (name ->
    label) changed since the object's previous row among ``rows`` (fetch them newest first,
    as many as the page shows; the oldest row of an object without its predecessor is told
    as "changed")."""
    rows = sorted(rows, key=lambda row: (row.history_date, row.history_id))
    previous: dict[object, object] = {}
    changes = []
    for row in rows:
        before = previous.get(row.id)
        previous[row.id] = row
        if row.history_type == "+":
            action = "created"
        elif row.history_type == "-":
            action = "deleted"
        elif before is None:
            action = "changed"
        else:
            changed = [
                label
                for name, label in fields.items()
                if getattr(before, name) != getattr(row, name)
            ]
            action = "changed " + ", ".join(changed) if changed else "changed"
        changes.append(Change(row.history_date, row.history_user, subject(row), action))
    return changes
