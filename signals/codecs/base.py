"""What every receiver protocol shares: the message the portal wants to send, what a reply means,
the protocol error, and the interface a codec implements.

A codec owns its protocol end to end except the sockets: it builds the bytes of one exchange
(with whatever must be fresh at send time: sequence numbers, timestamps, encryption,
credentials), frames them, says when a reply is complete on a stream, reads the reply into one
``Reply`` the dispatcher acts on, builds the protocol's heartbeat, and plays the receiver's
side for the emulator. Transports (``signals.transports``) move its bytes and nothing else.

No database: the dispatcher hands a codec plain values (``Message``, ``ReceiverConfig``) and
records what comes back. What a station must configure for a protocol (its settings form, its
secret, its account and text rules) reaches the apps below signals through
``stations.protocols``, filled from ``Codec.spec()`` when the signals app is ready.
"""

from __future__ import annotations

import enum
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from django import forms

from stations.protocols import ALL_TEXTS, ProtocolSpec, SecretSpec

# Characters that no protocol carries in free text and no database column takes well.
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


class ProtocolError(Exception):
    """Bytes that are not a well-formed, harmless message of the protocol, or a reply that does
    not answer what was sent (another reference, sequence number or account)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Qualifier(enum.StrEnum):
    """Contact ID event qualifier; as a letter in the portal, as a digit in Contact ID."""

    NEW = "E"
    RESTORE = "R"
    STATUS = "P"

    @property
    def contact_id(self) -> int:
        """The Contact ID digit: 1 new event/opening, 3 restore/closing, 6 status."""
        return {Qualifier.NEW: 1, Qualifier.RESTORE: 3, Qualifier.STATUS: 6}[self]


class Outcome(enum.StrEnum):
    """What a receiver's reply means for the signal: the small set the dispatcher acts on."""

    DELIVERED = "delivered"  # the receiver stored it
    DUPLICATE = "duplicate"  # it had it already: delivered too
    RETRY = "retry"  # not stored; try again later with backoff
    FAILOVER = "failover"  # not stored here; try the other path now
    RESYNC = "resync"  # the receiver's clock differs: set ours to it and resend at once, once
    REJECTED = "rejected"  # refused for good: fail the signal now and tell the dealer

    @property
    def delivered(self) -> bool:
        return self in (Outcome.DELIVERED, Outcome.DUPLICATE)


@dataclass(frozen=True)
class Reply:
    """A receiver's answer to one exchange, read by its codec."""

    outcome: Outcome
    status: str  # the protocol's own word or code for it ("accepted", "ACK", "10" ...)
    reason: str = ""
    # RESYNC: the receiver's clock when it answered.
    receiver_time: datetime | None = None
    # Anything else the dispatcher must keep, by name: "heartbeat_seconds" (a heartbeat's
    # receiver asks for fewer: at least this many seconds apart), "new_secret" (a rotation's
    # receiver confirmed this new credential; never logged).
    facts: Mapping[str, str] = field(default_factory=dict)


# What a message's structured fields must look like (compiled once: a dispatcher checks every
# message it sends). XML v1 carries them as they are and checks its packages with the same.
REFERENCE_RE = re.compile(r"[A-Za-z0-9-]{1,64}")
ACCOUNT_RE = re.compile(r"[A-Z0-9-]{1,20}")
CODE_RE = re.compile(r"[0-9]{3}")


@dataclass(frozen=True)
class Message:
    """One alarm signal for one account, as the portal wants to send it, in no protocol yet.

    The outbox row stores exactly these values; a codec turns them into its bytes when it sends.
    Structured fields are checked here so that a bug fails before any bytes exist; free text is
    made fit for the wire by each codec, never refused at send time (a dealer's odd site name
    must not stop an alarm: the forms already refused names the protocol cannot carry).
    """

    reference: str
    account: str
    qualifier: Qualifier
    code: str
    partition: int
    zone: int
    priority: int
    event_time: datetime
    site_name: str
    zone_description: str = ""
    camera_description: str = ""
    video_url: str = ""

    def __post_init__(self) -> None:
        check_signal_fields(self)

    @property
    def contact_id(self) -> str:
        """The Contact ID event without the account: ``1130 01 017``."""
        return f"{self.qualifier.contact_id}{self.code} {self.partition:02d} {self.zone:03d}"


@dataclass(frozen=True)
class ReceiverConfig:
    """What a codec needs to know about the receiver it talks to (from ``stations.Receiver``).

    ``settings`` are the protocol's own settings (``Receiver.protocol_settings``, checked by the
    protocol's settings form); ``secret`` is the credential the protocol itself carries (a
    DC-09 key, an SOS Access authentication), never logged or shown.
    """

    receiver_id: int
    protocol: str
    receiver_number: str = ""
    line_number: str = ""
    settings: Mapping[str, Any] = field(default_factory=dict)
    secret: str = field(default="", repr=False)


@dataclass
class SendContext:
    """The per-send facts a codec may need besides the message and the receiver."""

    receiver: ReceiverConfig
    transport: str  # the path's transport: "tcp" (with or without TLS), "udp" or "https"
    now: datetime  # the portal's clock, already set to the receiver's after a RESYNC
    # Hands out the path's next sequence number (protocols that number their messages).
    next_sequence: Callable[[], int] = field(default=lambda: 1)


@dataclass(frozen=True)
class Outgoing:
    """The bytes of one exchange, and what reading its reply needs to remember."""

    wire: bytes  # exactly what the transport sends (framing included)
    shown: bytes  # the protocol message as a person reads it (no framing; decrypted)
    encrypted: bool = False  # ``shown`` is a decrypted view of ``wire``
    expect: Mapping[str, Any] = field(default_factory=dict)  # e.g. the sequence and account


@dataclass(frozen=True)
class Heard:
    """What a receiver (the emulator) made of one request."""

    reply: bytes | None  # what to answer (framing included), None: nothing
    account: str = ""
    reference: str = ""  # the protocol's reference, or a digest of the content when it has none
    summary: str = ""  # one line for the log: the event as the receiver understood it
    accepted: bool = False  # a new alarm the receiver stored (not a duplicate, not refused)
    duplicate: bool = False
    status: str = ""  # what was answered, for the emulator's counts
    heartbeat: bool = False
    message: Any = None  # the request as the protocol's own object, for tests and the log


class ReceiverSide(ABC):
    """The receiver's half of a protocol, for the emulator: reads requests, decides, answers.

    One instance serves one listener; it may keep state (duplicates seen, credentials).
    """

    @abstractmethod
    def request_size(self, buffer: bytes, *, eof: bool) -> int | None:
        """Bytes of the first complete request in ``buffer``; None: more is needed."""

    @abstractmethod
    def handle(self, request: bytes, *, decision: str) -> Heard:
        """Answer one request. ``decision`` is the emulator's fault roll: "ok", "retry" (refuse
        for now) or "failover" (ask for the other path)."""


class Codec(ABC):
    """One receiver protocol. Subclasses are registered in ``signals.codecs``."""

    protocol: ClassVar[str]  # the ``stations.Receiver.Protocol`` value
    label: ClassVar[str]
    # The path transports the protocol can use (``stations.ReceiverPath.Transport`` values).
    transports: ClassVar[frozenset[str]]
    # Keep a TCP connection open for the next exchange (False: one exchange per connection).
    persistent: ClassVar[bool] = True
    # A delivered alarm counts as the receiver's supervision (no heartbeat needed that round).
    traffic_supervises: ClassVar[bool] = True
    # What a station configures: the protocol's own settings (a Django form whose cleaned data
    # is stored in ``Receiver.protocol_settings``), their defaults, and the protocol's secret.
    settings_form: ClassVar[type[forms.Form] | None] = None
    settings_defaults: ClassVar[Mapping[str, Any]] = {}
    secret: ClassVar[SecretSpec | None] = None
    # Which of the dealer's names (``stations.protocols`` SITE_NAME, ZONE_NAME, CAMERA_NAME) the
    # protocol's messages carry: the names a dealer saves are held to ``text_problem`` for these.
    texts: ClassVar[frozenset[str]] = ALL_TEXTS

    def spec(self) -> ProtocolSpec:
        """What ``stations.protocols`` keeps of this codec for the apps below signals."""
        return ProtocolSpec(
            protocol=self.protocol,
            label=self.label,
            transports=self.transports,
            settings_form=self.settings_form,
            secret=self.secret,
            account_rule=self.account_problem,
            text_rule=self.text_problem,
            texts=self.texts,
            defaults=self.settings_defaults,
        )

    # --- the account form, and the outbox row ---------------------------------------------

    def account_problem(self, number: str) -> str | None:
        """Why the protocol cannot carry this account number as a dealer typed it, or None."""
        return None

    def text_problem(self, text: str) -> str | None:
        """Why the protocol cannot carry this text (a site, zone or camera name), or None."""
        return None

    def prepare(self, message: Message, receiver: ReceiverConfig) -> bytes:
        """Check the message against the protocol when its outbox row is written and return
        what must stay fixed for every send (b"" when everything is built at send time).
        Raises ``ProtocolError`` when the protocol cannot send it at all."""
        return b""

    # --- sending ----------------------------------------------------------------------------

    @abstractmethod
    def build(self, message: Message, prepared: bytes, ctx: SendContext) -> Outgoing:
        """The bytes of one send of ``message`` (``prepared`` is what ``prepare`` returned)."""

    @abstractmethod
    def reply_size(self, buffer: bytes, *, eof: bool) -> int | None:
        """Bytes of the first complete reply in ``buffer`` read from a stream; None when more
        is needed. ``eof``: the receiver closed the connection. Raises ``ProtocolError`` for
        bytes that cannot become a reply (too large, not this protocol)."""

    max_reply_bytes: ClassVar[int] = 64 * 1024

    @abstractmethod
    def read_reply(self, data: bytes, sent: Outgoing, ctx: SendContext) -> Reply:
        """The receiver's answer to ``sent``; ``ProtocolError`` when it is not one."""

    def reply_shown(self, data: bytes, ctx: SendContext) -> bytes:
        """The reply as the attempt keeps it: the protocol's message, without the transport's
        framing (XML v1's length prefix); whatever bytes it holds."""
        return data

    content_type: ClassVar[str] = "application/octet-stream"  # HTTPS only
    # How a person reads the protocol's bytes (what was sent and the reply, on signal pages).
    text_encoding: ClassVar[str] = "utf-8"

    # --- supervision --------------------------------------------------------------------------

    def heartbeat_seconds(self, receiver: ReceiverConfig) -> float | None:
        """How often to check an idle path with the protocol's heartbeat; None: never."""
        return None

    def build_heartbeat(self, ctx: SendContext) -> Outgoing | None:
        return None

    @property
    def rotates_secret(self) -> bool:
        """Whether the protocol can ask its receiver for a new secret."""
        return type(self).build_secret_rotation is not Codec.build_secret_rotation

    def build_secret_rotation(self, ctx: SendContext) -> Outgoing | None:
        """The exchange asking the receiver for a new protocol secret; ``read_reply`` puts the
        confirmed one in ``Reply.facts["new_secret"]``. None: the protocol cannot rotate it."""
        return None

    # --- the receiver's side ----------------------------------------------------------------

    @abstractmethod
    def receiver_side(self, config: ReceiverConfig) -> ReceiverSide:
        """A receiver for the emulator, configured as ``config`` (key, credentials ...)."""


def strip_controls(text: str) -> str:
    """``text`` without control characters (a receiver would see them as framing or garbage)."""
    return _CONTROL_CHARS.sub(" ", text)


def check_signal_fields(signal: Any) -> None:
    """Check the structured fields every alarm signal carries (a ``Message``, an XML v1
    ``Package``: frozen dataclasses), or raise ValueError naming the first that is wrong; the
    qualifier ("E", "R", "P" or the enum) becomes the enum."""
    object.__setattr__(signal, "qualifier", Qualifier(signal.qualifier))
    require(REFERENCE_RE.fullmatch(signal.reference), "reference", signal.reference)
    require(ACCOUNT_RE.fullmatch(signal.account), "account", signal.account)
    require(CODE_RE.fullmatch(signal.code), "code", signal.code)
    require(_is_int_in(signal.partition, 0, 99), "partition", signal.partition)
    require(_is_int_in(signal.zone, 0, 999), "zone", signal.zone)
    require(_is_int_in(signal.priority, 1, 9), "priority", signal.priority)
    require(
        isinstance(signal.event_time, datetime) and signal.event_time.utcoffset() is not None,
        "event_time (must be timezone-aware)",
        signal.event_time,
    )
    require(signal.site_name != "", "site_name", signal.site_name)


def require(ok: object, name: str, value: object) -> None:
    """Raise ValueError saying ``name`` is invalid unless ``ok``."""
    if not ok:
        raise ValueError(f"invalid {name}: {value!r}")


def _is_int_in(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
