"""What each receiver protocol asks of a station and of dealers: an extension point.

``stations`` sits below ``signals``, where the protocols live (``signals/codecs/``), so it cannot
ask them directly. Instead each codec registers a ``ProtocolSpec`` here when the signals app is
ready, and everything below signals asks this registry: the receiver forms (the admin, the
station console) for the protocol's own settings and its secret, the path forms for the
transports it can use, and ``customers`` for the account-number and text rules a dealer's
account must meet before it is saved.

Nothing here names a protocol: a protocol nobody registered has no settings, no secret, any
transport and no rules.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django import forms

# The dealer's names a signal may carry; ``ProtocolSpec.texts`` says which ones a protocol does.
SITE_NAME = "site"
ZONE_NAME = "zone"
CAMERA_NAME = "camera"
ALL_TEXTS = frozenset({SITE_NAME, ZONE_NAME, CAMERA_NAME})


@dataclass(frozen=True)
class SecretSpec:
    """The credential a protocol itself carries (kept in ``Receiver.wire_credential``): a DC-09
    encryption key, an SOS Access authentication. Entered in a form, never shown again."""

    label: str
    help_text: str
    required: bool = False
    # (secret typed, the protocol settings cleaned) -> an error message, or None.
    check: Callable[[str, Mapping[str, Any]], str | None] = lambda secret, settings: None


@dataclass(frozen=True)
class ProtocolSpec:
    """What one protocol needs configured, and the rules it puts on what it carries."""

    protocol: str
    label: str
    # The ``ReceiverPath.Transport`` values it can travel over.
    transports: frozenset[str]
    # A form of the protocol's own settings; its cleaned_data is stored in
    # ``Receiver.protocol_settings``. None: the protocol has none.
    settings_form: type[forms.Form] | None = None
    secret: SecretSpec | None = None
    # account number (as transmitted) -> an error message naming the rule, or None.
    account_rule: Callable[[str], str | None] = lambda number: None
    # free text the protocol carries (a site, zone or camera name) -> an error message, or None.
    text_rule: Callable[[str], str | None] = lambda text: None
    # Which of the dealer's names its messages carry (SITE_NAME, ZONE_NAME, CAMERA_NAME): only
    # those are held to ``text_rule``.
    texts: frozenset[str] = ALL_TEXTS
    # Defaults for a receiver that has no settings stored yet.
    defaults: Mapping[str, Any] = field(default_factory=dict)


_SPECS: dict[str, ProtocolSpec] = {}


def register(spec: ProtocolSpec) -> None:
    """Called by the signals app (``SignalsConfig.ready``) for every codec it has."""
    _SPECS[spec.protocol] = spec


def spec_for(protocol: str) -> ProtocolSpec:
    """The protocol's spec; a protocol nobody registered gets one that asks for nothing."""
    spec = _SPECS.get(protocol)
    if spec is None:
        return ProtocolSpec(protocol=protocol, label=protocol, transports=frozenset())
    return spec


def registered() -> list[ProtocolSpec]:
    return list(_SPECS.values())


def settings_form(
    protocol: str,
    *,
    data: Mapping[str, Any] | None = None,
    initial: Mapping[str, Any] | None = None,
    prefix: str | None = None,
) -> forms.Form | None:
    """The protocol's settings form, bound to ``data`` (a POST) or showing ``initial`` (what the
    receiver has stored, over the protocol's defaults). None: the protocol has no settings."""
    spec = spec_for(protocol)
    if spec.settings_form is None:
        return None
    return spec.settings_form(
        data=data, initial={**spec.defaults, **(initial or {})}, prefix=prefix or protocol
    )


def account_problems(protocol: str, number: str) -> list[str]:
    problem = spec_for(protocol).account_rule(number)
    return [problem] if problem else []


def text_problems(protocol: str, text: str, *, kind: str | None = None) -> list[str]:
    """What the protocol says of ``text``; with ``kind`` (SITE_NAME ...), nothing when the
    protocol never carries that kind of name."""
    spec = spec_for(protocol)
    if kind is not None and kind not in spec.texts:
        return []
    problem = spec.text_rule(text)
    return [problem] if problem else []


def account_number_rule(number: str, station_record: Any) -> str | None:
    """The rule ``customers`` checks every account number against (registered by the signals
    app): what the record's receiver's protocol says of the number as it will be transmitted
    (without the station's prefix when the receiver adds it)."""
    receiver = getattr(station_record, "receiver", None)
    if receiver is None:
        return None
    transmitted = number
    prefix = station_record.account_prefix
    if receiver.adds_prefix and prefix and number.startswith(prefix):
        transmitted = number[len(prefix) :]
    problems = account_problems(receiver.protocol, transmitted)
    return " ".join(problems) or None
