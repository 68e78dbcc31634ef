"""SOS Access v4: the public XML alarm protocol of Nordic alarm receivers, behind the codec seam.

Written from the protocol's public description (docs/protocol-sos-access-v4.md explains it for
station engineers, with worked telegrams):

- One request and one response per TCP connection (optionally TLS). Nothing frames the
  messages: a message ends where its root element ends (or where the connection does).
- Text is ISO-8859-1, printable characters only; one telegram is at most 100,000 characters,
  XML header and tags included. Every field has its own length (``LIMITS``).
- ``alarmrequest`` / ``alarmresponse`` carry alarms (``AL``) and restores (``RE``);
  ``pingrequest`` / ``pingresponse`` are the heartbeat; ``requestnewauthentication`` /
  ``requestnewauthenticationresponse`` rotate the transmitter's password ("authentication").
- Every response has a numeric ``status`` (``Status``), acted on as ``OUTCOMES`` says, and
  echoes the request's ``reference``: a response naming another reference (or none) is no
  answer at all.

The portal is one transmitter per receiver connection: one authentication (the receiver's
protocol secret) for every account it sends, the account in ``transmittercode``; heartbeats
and rotation carry the portal's own transmitter code (a setting). The authentication never
appears in what the portal keeps or shows: attempts keep the telegram with it masked.

Pure Python on lxml, no database. Everything received is untrusted and parsed by
``signals.codecs.xmlsafe`` (no entities, no DTDs, no network, size-limited).
"""

from __future__ import annotations

import enum
import re
import secrets
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, ClassVar

from django import forms
from lxml import etree

from signals.codecs import sia_codes, xmlsafe
from signals.codecs.base import (
    Codec,
    Heard,
    Message,
    Outcome,
    Outgoing,
    ProtocolError,
    Qualifier,
    ReceiverConfig,
    ReceiverSide,
    Reply,
    SendContext,
)
from stations.protocols import SecretSpec

PROTOCOL = "sos_access_v4"
ENCODING = "iso-8859-1"
DECLARATION = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n'
# One telegram, XML header and tags included: characters, one byte each in ISO-8859-1.
MAX_TELEGRAM = 100_000

# What one field may hold: (fewest, most) characters.
LIMITS: dict[str, tuple[int, int]] = {
    "reference": (1, 50),
    "authentication": (15, 15),
    "newauthentication": (15, 15),
    "receiver": (1, 20),
    "transmittertime": (19, 23),
    "alarmtype": (2, 2),
    "transmittertype": (5, 5),
    "transmittercode": (1, 15),
    "transmitterarea": (1, 5),
    "eventcode": (1, 25),
    "section": (1, 5),
    "sectiontext": (1, 40),
    "detector": (1, 5),
    "detectortext": (1, 40),
    "additionalinfo": (1, 2000),
    "pos": (1, 40),
    "info": (1, 255),
    "arrivaltime": (1, 30),
}
TEXT_MAX = LIMITS["detectortext"][1]
ADDITIONAL_INFO_MAX = LIMITS["additionalinfo"][1]
# Printable ISO-8859-1: no C0 or C1 control characters; additionalinfo also takes line breaks.
_PRINTABLE = re.compile("[\x20-\x7e\xa0-\xff]*")
_NOT_PRINTABLE = re.compile("[^\x20-\x7e\xa0-\xff]")
_PRINTABLE_LINES = re.compile("[\x20-\x7e\xa0-\xff\r\n]*")
_TRANSMITTER_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(?:\.\d{3})?")
# The masked authentication in what the portal keeps and shows.
MASK = "*" * 15

# The heartbeat service levels (seconds): 25 h, 5 h, 180 s, 90 s.
SERVICE_LEVELS = (90_000, 18_000, 180, 90)
# A receiver that is not authorised for heartbeats (status 9) is pinged this seldom.
UNAUTHORISED_PING_SECONDS = 90_000 / 2


class Kind(enum.StrEnum):
    """The three exchanges of the protocol, by their request's root element."""

    ALARM = "alarmrequest"
    PING = "pingrequest"
    ROTATION = "requestnewauthentication"

    @property
    def response(self) -> str:
        return {
            Kind.ALARM: "alarmresponse",
            Kind.PING: "pingresponse",
            Kind.ROTATION: "requestnewauthenticationresponse",
        }[self]


_BY_RESPONSE = {kind.response: kind for kind in Kind}
_REQUEST_END = re.compile(rb"</(alarmrequest|pingrequest|requestnewauthentication)\s*>\Z")
_RESPONSE_END = re.compile(
    rb"</(alarmresponse|pingresponse|requestnewauthenticationresponse)\s*>\Z"
)


class Status(enum.IntEnum):
    """A response's ``status``; the name is the protocol's ``info`` word."""

    OK = 0
    INVALID_LENGTH = 1
    INVALID_XML = 2
    WRONG_CONTENT = 3
    NOT_AUTHORIZED = 4
    NOT_TREATED_NOT_DISTRIBUTED = 5
    MANDATORY_DATA_MISSING = 7
    SERVICE_UNAVAILABLE = 9
    DUPLICATED_ALARM = 10
    SERVER_ERROR = 98
    OTHER_ERROR = 99
    XML_HEADER_MISSING_OR_INVALID = 100
    PING_TO_OFTEN = 101


# What each status means, in words for the dealer's signal list and e-mail.
MEANINGS: dict[int, str] = {
    Status.OK: "delivered",
    Status.INVALID_LENGTH: "the telegram is too long",
    Status.INVALID_XML: "the telegram is not valid XML",
    Status.WRONG_CONTENT: "a field holds what the receiver cannot take (too long, wrong form)",
    Status.NOT_AUTHORIZED: "not authorised: wrong transmitter code, receiver or authentication",
    Status.NOT_TREATED_NOT_DISTRIBUTED: "not treated nor distributed: use the failover address",
    Status.MANDATORY_DATA_MISSING: "a mandatory field is missing",
    Status.SERVICE_UNAVAILABLE: "not authorised for the heartbeat service",
    Status.DUPLICATED_ALARM: "already received",
    Status.SERVER_ERROR: "server error at the receiver",
    Status.OTHER_ERROR: "error at the receiver: use the failover address",
    Status.XML_HEADER_MISSING_OR_INVALID: "the XML header is missing or invalid",
    Status.PING_TO_OFTEN: "heartbeats too often",
}

# Our request was bad: the receiver will refuse the same telegram however often it is sent.
_OUR_FAULT = {
    Status.INVALID_LENGTH,
    Status.INVALID_XML,
    Status.WRONG_CONTENT,
    Status.MANDATORY_DATA_MISSING,
    Status.XML_HEADER_MISSING_OR_INVALID,
}

# What each status means for an alarm. Any other status: not stored, try again later.
ALARM_OUTCOMES: dict[int, Outcome] = {
    Status.OK: Outcome.DELIVERED,
    Status.DUPLICATED_ALARM: Outcome.DUPLICATE,
    Status.NOT_TREATED_NOT_DISTRIBUTED: Outcome.FAILOVER,
    Status.OTHER_ERROR: Outcome.FAILOVER,
    Status.SERVER_ERROR: Outcome.RETRY,
    Status.NOT_AUTHORIZED: Outcome.REJECTED,
    **dict.fromkeys(_OUR_FAULT, Outcome.REJECTED),
}
# A heartbeat: any answer shows the receiver is there, except a request for the other path;
# 101 and 9 also slow the heartbeats down (``Reply.facts["heartbeat_seconds"]``).
PING_OUTCOMES: dict[int, Outcome] = {
    Status.OK: Outcome.DELIVERED,
    Status.PING_TO_OFTEN: Outcome.DELIVERED,
    Status.DUPLICATED_ALARM: Outcome.DELIVERED,
    Status.SERVICE_UNAVAILABLE: Outcome.REJECTED,
    Status.NOT_AUTHORIZED: Outcome.REJECTED,
    Status.NOT_TREATED_NOT_DISTRIBUTED: Outcome.FAILOVER,
    Status.OTHER_ERROR: Outcome.FAILOVER,
    Status.SERVER_ERROR: Outcome.RETRY,
    **dict.fromkeys(_OUR_FAULT, Outcome.REJECTED),
}
# A rotation: only OK with a usable new authentication changes anything.
ROTATION_OUTCOMES: dict[int, Outcome] = {
    Status.OK: Outcome.DELIVERED,
    Status.NOT_AUTHORIZED: Outcome.REJECTED,
    Status.NOT_TREATED_NOT_DISTRIBUTED: Outcome.FAILOVER,
    Status.OTHER_ERROR: Outcome.FAILOVER,
    Status.SERVER_ERROR: Outcome.RETRY,
    **dict.fromkeys(_OUR_FAULT, Outcome.REJECTED),
}
_OUTCOMES = {Kind.ALARM: ALARM_OUTCOMES, Kind.PING: PING_OUTCOMES, Kind.ROTATION: ROTATION_OUTCOMES}


class Secret(str):
    """A credential: prints as itself where it must (the wire), never in a ``repr`` (logs,
    dataclass reprs, tracebacks)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('<hidden>')"


# --- the messages -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request, as its elements' texts (None: the element is absent)."""

    kind: Kind
    authentication: str = field(repr=False)
    transmittercode: str
    transmittertype: str
    reference: str | None = None
    receiver: str | None = None
    transmittertime: str | None = None
    alarmtype: str | None = None
    transmitterarea: str | None = None
    eventcode: str | None = None
    section: str | None = None
    sectiontext: str | None = None
    detector: str | None = None
    detectortext: str | None = None
    additionalinfo: str | None = None
    position: str | None = None

    # The elements each kind carries, in the order they are written.
    ORDER: ClassVar[dict[Kind, tuple[str, ...]]] = {
        Kind.ALARM: (
            "reference",
            "authentication",
            "receiver",
            "transmittertime",
            "alarmtype",
            "transmittertype",
            "transmittercode",
            "transmitterarea",
            "eventcode",
            "section",
            "sectiontext",
            "detector",
            "detectortext",
            "additionalinfo",
            "position",
        ),
        Kind.PING: ("authentication", "reference", "transmittercode", "transmittertype"),
        Kind.ROTATION: ("authentication", "reference", "transmittercode", "transmittertype"),
    }
    MANDATORY: ClassVar[dict[Kind, tuple[str, ...]]] = {
        Kind.ALARM: (
            "authentication",
            "receiver",
            "transmittertype",
            "transmittercode",
            "eventcode",
        ),
        Kind.PING: ("authentication", "transmittercode", "transmittertype"),
        Kind.ROTATION: ("authentication", "transmittercode", "transmittertype"),
    }

    def problem(self) -> tuple[Status, str] | None:
        """What is wrong with this request by the protocol's rules, or None."""
        for name in self.MANDATORY[self.kind]:
            if getattr(self, name) is None:
                return Status.MANDATORY_DATA_MISSING, f"<{name}> is missing"
        for name in self.ORDER[self.kind]:
            value = getattr(self, name)
            if value is None:
                continue
            if problem := field_problem("pos" if name == "position" else name, value):
                return Status.WRONG_CONTENT, problem
        if self.alarmtype is not None and self.alarmtype not in ("AL", "RE"):
            return Status.WRONG_CONTENT, "<alarmtype> is AL or RE"
        if self.transmittertime is not None and not _TRANSMITTER_TIME.fullmatch(
            self.transmittertime
        ):
            return Status.WRONG_CONTENT, "<transmittertime> is YYYY-MM-DD HH:MM:SS.mmm"
        return None


@dataclass(frozen=True)
class Response:
    """One response, as the receiver sent it."""

    kind: Kind
    status: int
    reference: str | None = None
    info: str = ""
    arrivaltime: str = ""
    newauthentication: str | None = field(default=None, repr=False)


def field_problem(name: str, value: str) -> str | None:
    """Why ``value`` cannot be the text of element ``name``, or None."""
    low, high = LIMITS[name]
    if not low <= len(value) <= high:
        span = f"{low}" if low == high else f"{low}-{high}"
        return f"<{name}> holds {span} characters, not {len(value)}"
    allowed = _PRINTABLE_LINES if name == "additionalinfo" else _PRINTABLE
    if not allowed.fullmatch(value):
        return f"<{name}> holds printable ISO-8859-1 characters only"
    return None


def fit(text: str, max_length: int) -> str:
    """Free text made fit for a field: what ISO-8859-1 cannot print becomes ``?`` (a control
    character a space), then trimmed and cut to ``max_length``. Never refuses: an alarm
    must not stop for a dealer's odd site name (the forms already refused those)."""

    def replace(match: re.Match[str]) -> str:
        char = match.group(0)
        return " " if ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F else "?"

    return " ".join(_NOT_PRINTABLE.sub(replace, text).split())[:max_length].strip()


# --- writing ------------------------------------------------------------------------------------


def encode_request(request: Request, *, check: bool = True) -> bytes:
    """The request as an ISO-8859-1 telegram with its XML header. With ``check`` (always, but
    for tests of receivers) a request that breaks the protocol's rules raises ``ProtocolError``.
    """
    if check and (problem := request.problem()):
        raise ProtocolError(f"cannot send this {request.kind.value}: {problem[1]}")
    root = etree.Element(request.kind.value)
    for name in Request.ORDER[request.kind]:
        value = getattr(request, name)
        if value is None:
            continue
        if name == "position":
            etree.SubElement(etree.SubElement(root, "position"), "pos").text = value
        else:
            etree.SubElement(root, name).text = value
    telegram = DECLARATION + etree.tostring(
        root, encoding=ENCODING, xml_declaration=False, pretty_print=True
    )
    if len(telegram) > MAX_TELEGRAM:
        raise ProtocolError(f"telegram too long: {len(telegram)} characters")
    return telegram


def encode_response(
    kind: Kind,
    status: Status | int,
    *,
    reference: str | None,
    info: str | None = None,
    arrival: datetime | None = None,
    new_authentication: str | None = None,
) -> bytes:
    """A receiver's response (the emulator and test receivers)."""
    root = etree.Element(kind.response)
    if reference is not None:
        etree.SubElement(root, "reference").text = reference
    etree.SubElement(root, "status").text = str(int(status))
    name = Status(status).name if int(status) in Status._value2member_map_ else "UNKNOWN"
    etree.SubElement(root, "info").text = fit(info or name, LIMITS["info"][1])
    if new_authentication is not None:
        etree.SubElement(root, "newauthentication").text = new_authentication
    etree.SubElement(root, "arrivaltime").text = format_time(arrival or datetime.now(UTC))
    return DECLARATION + etree.tostring(
        root, encoding=ENCODING, xml_declaration=False, pretty_print=True
    )


def format_time(value: datetime) -> str:
    """``2025-03-04 05:06:07.000`` in UTC (23 characters)."""
    value = value.astimezone(UTC)
    # Not strftime's %Y: it writes year 999 as "999", which the format has no room for.
    return f"{value.year:04d}-{value:%m-%d %H:%M:%S}.{value.microsecond // 1000:03d}"


def masked(request: Request) -> Request:
    """The request as the portal keeps and shows it: the authentication hidden."""
    return Request(**{**_values(request), "authentication": MASK})


def _values(request: Request) -> dict[str, Any]:
    return {f.name: getattr(request, f.name) for f in fields(request)}


# --- reading ------------------------------------------------------------------------------------


def message_size(buffer: bytes, end: re.Pattern[bytes], *, eof: bool) -> int | None:
    """Bytes of the first complete message in ``buffer`` on a stream: up to the end of its
    root element (whitespace after it included), or all of it at the end of the connection."""
    if len(buffer) > MAX_TELEGRAM:
        raise ProtocolError(f"telegram too long: over {MAX_TELEGRAM} characters")
    if end.search(buffer.rstrip()[-80:]):
        return len(buffer)
    return len(buffer) if eof and buffer else None


def _children(root: etree._Element, allowed: set[str], what: str) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag not in allowed:
            raise ProtocolError(f"{what} has an unknown element <{child.tag}>")
        if child.tag in found:
            raise ProtocolError(f"{what} has <{child.tag}> twice")
        if child.tag != "position" and len(child):
            raise ProtocolError(f"{what}: <{child.tag}> holds elements")
        found[child.tag] = child
    return found


def decode_response(data: bytes) -> Response:
    """Read a receiver's response, or raise ``ProtocolError`` saying what is wrong with it.

    Read as ISO-8859-1 (UTF-8 when it says so: the status and reference are ASCII either way);
    unknown elements are ignored, so that a receiver may add its own.
    """
    root = xmlsafe.parse_untrusted(
        data, max_bytes=MAX_TELEGRAM, what="response", encoding=ENCODING, also=("utf-8",)
    )
    kind = _BY_RESPONSE.get(root.tag) if isinstance(root.tag, str) else None
    if kind is None:
        raise ProtocolError(f"not an SOS Access response: <{root.tag}>")
    texts: dict[str, str] = {}
    for child in root:
        if not isinstance(child.tag, str):
            continue
        if child.tag in texts:
            raise ProtocolError(f"response has <{child.tag}> twice")
        texts[child.tag] = (child.text or "").strip()
    status = texts.get("status", "")
    if not re.fullmatch(r"[0-9]{1,3}", status):
        raise ProtocolError(f"response has no numeric <status> (got {status[:20]!r})")
    reference = texts.get("reference")
    # The protocol's own example names it <authentication>; its element list <newauthentication>.
    new = texts.get("newauthentication", texts.get("authentication"))
    return Response(
        kind=kind,
        status=int(status),
        reference=reference[:60] if reference is not None else None,
        info=texts.get("info", "")[:255],
        arrivaltime=texts.get("arrivaltime", "")[:30],
        newauthentication=Secret(new) if new is not None else None,
    )


def decode_request(data: bytes) -> Request:
    """Read a transmitter's request strictly (the receiver's side). Raises ``RequestError``
    with the status to answer."""
    if len(data) > MAX_TELEGRAM:
        raise RequestError(Status.INVALID_LENGTH, f"telegram over {MAX_TELEGRAM} characters")
    declared = xmlsafe.declared_encoding(data)
    if not data.lstrip().startswith(b"<?xml"):
        raise RequestError(Status.XML_HEADER_MISSING_OR_INVALID, "no XML header")
    named = xmlsafe.codec_name(declared) if declared is not None else "utf-8"
    ascii_only = data.isascii()
    # UTF-8 and ISO-8859-1 read ASCII alike: a transmitter that declares UTF-8 (or nothing,
    # which means UTF-8) is understood as long as it sends ASCII only.
    if named != "iso8859-1" and not (named in ("utf-8", "ascii") and ascii_only):
        raise RequestError(
            Status.XML_HEADER_MISSING_OR_INVALID,
            f"the XML header must declare ISO-8859-1 (declared {declared or 'none'})",
        )
    try:
        root = xmlsafe.parse_untrusted(
            data,
            max_bytes=MAX_TELEGRAM,
            what="request",
            encoding=ENCODING,
            also=("utf-8", "ascii"),
        )
    except ProtocolError as exc:
        raise RequestError(Status.INVALID_XML, exc.reason) from None
    try:
        kind = Kind(root.tag) if isinstance(root.tag, str) else None
    except ValueError:
        kind = None
    if kind is None:
        raise RequestError(Status.INVALID_XML, f"unknown request <{root.tag}>")
    try:
        children = _children(root, set(Request.ORDER[kind]), kind.value)
    except ProtocolError as exc:
        raise RequestError(Status.WRONG_CONTENT, exc.reason) from None
    values: dict[str, str | None] = {}
    for name, child in children.items():
        if not len(child) and not (child.text or "").strip():
            # Transmitters write optional elements they have no value for as empty ones
            # (sos-access does): absent, then; a mandatory one is missing (7).
            continue
        if name == "position":
            pos = child.find("pos")
            if pos is None or len(child) != 1:
                raise RequestError(Status.WRONG_CONTENT, "<position> holds one <pos>")
            values[name] = pos.text or ""
        else:
            values[name] = child.text or ""
    request = Request(
        kind=kind,
        authentication=values.pop("authentication", None),  # type: ignore[arg-type]
        transmittercode=values.pop("transmittercode", None),  # type: ignore[arg-type]
        transmittertype=values.pop("transmittertype", None),  # type: ignore[arg-type]
        **values,
    )
    if problem := request.problem():
        raise RequestError(*problem, reference=_usable_reference(request.reference))
    return request


class RequestError(Exception):
    """A request the receiver refuses, with the status to answer."""

    def __init__(self, status: Status, reason: str, *, reference: str | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.reference = reference


def _usable_reference(reference: str | None) -> str | None:
    if reference is None or field_problem("reference", reference):
        return None
    return reference


# --- event codes ----------------------------------------------------------------------------

EVENT_CODE_STYLES = (
    ("sia", "SIA two-letter codes (BA, FA, ...), alarm or restore in <alarmtype>"),
    ("contact_id", "Contact ID codes (130, 110, ...), alarm or restore in <alarmtype>"),
)
_OVERRIDE_LINE = re.compile(r"([ERP]?)([0-9]{3})\s*=\s*(\S(?:.*\S)?)")


def parse_overrides(text: str) -> dict[str, str]:
    """``130=BA`` / ``R407=CL`` lines as a dict; raises ``ValueError`` naming a bad line."""
    overrides: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        match = _OVERRIDE_LINE.fullmatch(line)
        if not match or field_problem("eventcode", match.group(3)):
            raise ValueError(
                f"line {number}: write CODE=EVENTCODE, e.g. 130=BA or R407=CL (the event code "
                "1-25 printable characters)"
            )
        overrides[match.group(1) + match.group(2)] = match.group(3)
    return overrides


def event_code(message: Message, settings: Mapping[str, Any]) -> tuple[str, str]:
    """The ``eventcode`` and ``alarmtype`` of a message for a receiver's settings.

    A restore (qualifier R) of an alarm, trouble or bypass is ``RE`` with the alarm's own code
    (the protocol's example restores a fire alarm as ``RE`` + ``FA``); openings and closings
    (4xx) and tests (6xx) are events, not conditions: always ``AL``, the code telling which.
    """
    qualifier = Qualifier(message.qualifier)
    if settings.get("event_codes") == "contact_id":
        code, alarm_type = message.code, "RE" if qualifier is Qualifier.RESTORE else "AL"
    else:
        codes = sia_codes.codes_for(message.code)
        if codes.two_state or message.code[:1] in "46":
            code = codes.restore if qualifier is Qualifier.RESTORE else codes.event
            alarm_type = "AL"
        else:
            code = codes.event
            alarm_type = "RE" if qualifier is Qualifier.RESTORE else "AL"
    try:
        overrides = parse_overrides(str(settings.get("event_code_overrides") or ""))
    except ValueError:
        overrides = {}  # the settings form refuses bad lines; never stop an alarm for one
    code = overrides.get(f"{qualifier.value}{message.code}", overrides.get(message.code, code))
    return code, alarm_type


# --- the settings a station configures ----------------------------------------------------


def _printable_validator(value: str) -> None:
    if not _PRINTABLE.fullmatch(value):
        raise forms.ValidationError("Printable ISO-8859-1 (Western European) characters only.")


class SosAccessSettingsForm(forms.Form):
    """What the alarm operator gives a transmitter, and how the portal talks to it."""

    receiver = forms.CharField(
        label="Receiver (<receiver>)",
        max_length=20,
        validators=[_printable_validator],
        help_text="1-20 characters from the alarm operator: which monitoring centre of the "
        "receiver gets the alarms.",
    )
    transmitter_type = forms.CharField(
        label="Transmitter type (<transmittertype>)",
        min_length=5,
        max_length=5,
        validators=[_printable_validator],
        help_text="5 characters from the alarm operator, e.g. SV300.",
    )
    link_transmitter_code = forms.CharField(
        label="Portal's transmitter code",
        max_length=15,
        required=False,
        validators=[_printable_validator],
        help_text="1-15 characters from the alarm operator: the transmitter code of the "
        "portal's own connection, carried by heartbeats and password rotation (alarms carry "
        "each site's account number).",
    )
    event_codes = forms.ChoiceField(
        label="Event codes",
        choices=EVENT_CODE_STYLES,
        help_text="What <eventcode> carries. See docs/protocol-sos-access-v4.md for the table.",
    )
    event_code_overrides = forms.CharField(
        label="Event code overrides",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="One per line, Contact ID code (optionally with its qualifier E, R or P) = "
        "what to send, e.g. 606=LF or R407=CL.",
    )
    heartbeat_level = forms.TypedChoiceField(
        label="Heartbeat service level",
        coerce=int,
        choices=[
            (0, "None: no heartbeats"),
            (90_000, "25 hours"),
            (18_000, "5 hours"),
            (180, "180 seconds (needs an alternate path)"),
            (90, "90 seconds (needs an alternate path)"),
        ],
        help_text="The monitored-connection level agreed with the alarm operator.",
    )
    pings_per_interval = forms.IntegerField(
        label="Heartbeats per interval",
        min_value=2,
        max_value=6,
        help_text="At least 2 (the protocol's minimum); 3-6 recommended.",
    )

    def clean_event_code_overrides(self) -> str:
        text = self.cleaned_data.get("event_code_overrides", "")
        try:
            parse_overrides(text)
        except ValueError as exc:
            raise forms.ValidationError(str(exc)) from None
        return text

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("heartbeat_level") and not cleaned.get("link_transmitter_code"):
            self.add_error(
                "link_transmitter_code", "Heartbeats need the portal's transmitter code."
            )
        return cleaned


def _secret_problem(secret: str, settings: Mapping[str, Any]) -> str | None:
    if len(secret) != 15 or not _PRINTABLE.fullmatch(secret):
        return "An SOS Access authentication is exactly 15 printable ISO-8859-1 characters."
    return None


# --- the codec ------------------------------------------------------------------------------


class SosAccessCodec(Codec):
    """SOS Access v4 over TCP or TLS, one exchange per connection."""

    protocol = PROTOCOL
    label = "SOS Access v4"
    transports = frozenset({"tcp"})
    persistent = False
    # The receiver supervises the connection with heartbeats only: alarms do not count.
    traffic_supervises = False
    max_reply_bytes = MAX_TELEGRAM
    text_encoding = ENCODING
    settings_form = SosAccessSettingsForm
    settings_defaults: ClassVar[Mapping[str, Any]] = {
        "receiver": "",
        "transmitter_type": "",
        "link_transmitter_code": "",
        "event_codes": "sia",
        "event_code_overrides": "",
        "heartbeat_level": 90_000,
        "pings_per_interval": 3,
    }
    secret = SecretSpec(
        label="Authentication",
        help_text="the 15-character password the alarm operator issued (rotate it from the "
        "station console once the receiver answers)",
        required=True,
        check=_secret_problem,
    )

    # --- the account form, and the outbox row ---------------------------------------------

    def account_problem(self, number: str) -> str | None:
        low, high = LIMITS["transmittercode"]
        if not low <= len(number) <= high or not _PRINTABLE.fullmatch(number):
            return f"SOS Access v4 carries account numbers (transmitter codes) of {low}-{high} "
            "characters."
        return None

    def text_problem(self, text: str) -> str | None:
        bad = sorted(set(_NOT_PRINTABLE.findall(text)))
        if not bad:
            return None
        shown = ", ".join(repr(char) for char in bad[:5])
        return (
            "SOS Access v4 carries only printable Western European (ISO-8859-1) characters, "
            f"not {shown}."
        )

    def prepare(self, message: Message, receiver: ReceiverConfig) -> bytes:
        # Everything is built at send time (the authentication may have been rotated since).
        if problem := self.account_problem(message.account):
            raise ProtocolError(problem)
        return b""

    # --- sending ----------------------------------------------------------------------------

    def settings(self, receiver: ReceiverConfig) -> dict[str, Any]:
        return {**self.settings_defaults, **receiver.settings}

    def _credential(self, receiver: ReceiverConfig) -> str:
        if _secret_problem(receiver.secret, {}):
            raise ProtocolError("the receiver has no valid SOS Access authentication configured")
        return receiver.secret

    def alarm_request(self, message: Message, receiver: ReceiverConfig) -> Request:
        settings = self.settings(receiver)
        code, alarm_type = event_code(message, settings)
        return Request(
            kind=Kind.ALARM,
            reference=message.reference,
            authentication=self._credential(receiver),
            receiver=str(settings["receiver"] or receiver.receiver_number) or None,
            transmittertime=format_time(message.event_time),
            alarmtype=alarm_type,
            transmittertype=str(settings["transmitter_type"]) or None,
            transmittercode=message.account,
            eventcode=code,
            section=f"{message.partition:02d}",
            sectiontext=fit(message.camera_description, TEXT_MAX) or None,
            detector=f"{message.zone:03d}",
            detectortext=fit(message.zone_description, TEXT_MAX) or None,
            additionalinfo=additional_info(message) or None,
        )

    def build(self, message: Message, prepared: bytes, ctx: SendContext) -> Outgoing:
        request = self.alarm_request(message, ctx.receiver)
        return self._outgoing(request)

    def _outgoing(self, request: Request) -> Outgoing:
        return Outgoing(
            wire=encode_request(request),
            shown=encode_request(masked(request)),
            expect={"kind": request.kind.value, "reference": request.reference},
        )

    def reply_size(self, buffer: bytes, *, eof: bool) -> int | None:
        return message_size(buffer, _RESPONSE_END, eof=eof)

    def read_reply(self, data: bytes, sent: Outgoing, ctx: SendContext) -> Reply:
        kind = Kind(sent.expect["kind"])
        response = decode_response(data)
        if response.kind is not kind:
            raise ProtocolError(f"<{response.kind.response}> does not answer <{kind.value}>")
        if response.reference != sent.expect["reference"]:
            raise ProtocolError(
                f"response is for reference {response.reference!r}, "
                f"expected {sent.expect['reference']!r}"
            )
        outcome = _OUTCOMES[kind].get(response.status, Outcome.RETRY)
        reason = _reason(response)
        facts: dict[str, str] = {}
        if kind is Kind.PING:
            settings = self.settings(ctx.receiver)
            if response.status == Status.PING_TO_OFTEN:
                # Never flood: the slowest rate the service level still allows (two a level).
                level = int(settings["heartbeat_level"] or SERVICE_LEVELS[0])
                facts["heartbeat_seconds"] = f"{level / 2:g}"
            elif response.status == Status.SERVICE_UNAVAILABLE:
                facts["heartbeat_seconds"] = f"{UNAUTHORISED_PING_SECONDS:g}"
        if kind is Kind.ROTATION and outcome is Outcome.DELIVERED:
            new = response.newauthentication
            if new is None or _secret_problem(new, {}):
                raise ProtocolError(
                    "the receiver confirmed the rotation without a usable new authentication"
                )
            facts["new_secret"] = Secret(new)
        return Reply(outcome, str(response.status), reason, facts=facts)

    def reply_shown(self, data: bytes, ctx: SendContext) -> bytes:
        # A rotation's answer carries the new password: never kept.
        return re.sub(
            rb"(<(newauthentication|authentication)\s*>)[^<]*(</)",
            rb"\1" + MASK.encode() + rb"\3",
            data,
        )

    # --- supervision and rotation -------------------------------------------------------

    def heartbeat_seconds(self, receiver: ReceiverConfig) -> float | None:
        settings = self.settings(receiver)
        level = int(settings["heartbeat_level"] or 0)
        if not level or not settings["link_transmitter_code"] or not receiver.secret:
            return None
        pings = min(max(int(settings["pings_per_interval"] or 3), 2), 6)
        return level / pings

    def _link_request(self, kind: Kind, receiver: ReceiverConfig, prefix: str) -> Request:
        settings = self.settings(receiver)
        return Request(
            kind=kind,
            authentication=self._credential(receiver),
            reference=f"{prefix}-{secrets.token_hex(8)}",
            transmittercode=str(settings["link_transmitter_code"]) or None,  # type: ignore[arg-type]
            transmittertype=str(settings["transmitter_type"]) or None,  # type: ignore[arg-type]
        )

    def build_heartbeat(self, ctx: SendContext) -> Outgoing | None:
        return self._outgoing(self._link_request(Kind.PING, ctx.receiver, "ping"))

    def build_secret_rotation(self, ctx: SendContext) -> Outgoing | None:
        return self._outgoing(self._link_request(Kind.ROTATION, ctx.receiver, "auth"))

    # --- the receiver's side ----------------------------------------------------------------

    def receiver_side(self, config: ReceiverConfig) -> ReceiverSide:
        return SosAccessReceiver(config)


def _reason(response: Response) -> str:
    try:
        name = Status(response.status).name
    except ValueError:
        return f"unknown status {response.status}: {response.info}".strip(": ")
    meaning = MEANINGS[response.status]
    info = response.info.strip()
    said = f" (receiver: {info})" if info and info != name else ""
    return f"{name}: {meaning}{said}"


def additional_info(message: Message) -> str:
    """``<additionalinfo>``: the deep link alone on the first line (so that software can find
    it), then the site, the zone and camera in full, and the Contact ID event; lines that do not
    fit in 2,000 characters are left out (a cut link would be a wrong one)."""
    lines = []
    if message.video_url and not _NOT_PRINTABLE.search(message.video_url):
        lines.append(message.video_url)
    lines.append(f"Site: {fit(message.site_name, 200)}")
    if message.zone:
        zone = fit(message.zone_description, 200)
        lines.append(f"Zone {message.zone:03d}" + (f": {zone}" if zone else ""))
    if message.camera_description:
        lines.append(f"Camera: {fit(message.camera_description, 200)}")
    lines.append(f"Contact ID: {message.contact_id}")
    text = ""
    for line in lines:
        candidate = f"{text}\n{line}" if text else line
        if len(candidate) <= ADDITIONAL_INFO_MAX:
            text = candidate
    return text


# --- the receiver's side (the emulator) ---------------------------------------------------------


class SosAccessReceiver(ReceiverSide):
    """A strict SOS Access v4 receiver for the emulator.

    With a secret configured (a valid authentication) it accepts only that one (and, after a
    rotation, the new one, which retires the old one when first used); without, any
    well-formed one.
    Duplicates are recognised by transmitter code and reference. Pings from one transmitter
    closer than ``emulator_min_ping_seconds`` (setting, default 1) apart are answered 101;
    ``emulator_heartbeat_service`` false answers every ping 9.
    """

    def __init__(self, config: ReceiverConfig) -> None:
        self._lock = threading.Lock()
        # A secret that cannot be an SOS Access authentication leaves the receiver open
        # (run_receiver refuses one; a test may construct the emulator with any config).
        self._current = None if _secret_problem(config.secret, {}) else config.secret
        self._pending: str | None = None
        self._accepted: set[tuple[str, str]] = set()
        self._last_ping: dict[str, float] = {}
        self.min_ping_seconds = float(config.settings.get("emulator_min_ping_seconds", 1.0))
        self.heartbeat_service = config.settings.get("emulator_heartbeat_service", True) not in (
            False,
            "false",
            "0",
            0,
        )

    def request_size(self, buffer: bytes, *, eof: bool) -> int | None:
        if len(buffer) > MAX_TELEGRAM:
            return len(buffer)  # answered INVALID_LENGTH
        return message_size(buffer, _REQUEST_END, eof=eof)

    def forget(self) -> None:
        with self._lock:
            self._accepted.clear()
            self._last_ping.clear()

    def _authorised(self, authentication: str) -> bool:
        """Whether the authentication is valid now; the first use of a rotated one retires the
        old one (the protocol: the old stays valid until the new one is first received)."""
        with self._lock:
            if self._pending is not None and authentication == self._pending:
                self._current, self._pending = self._pending, None
                return True
            return self._current is None or authentication == self._current

    def handle(self, request: bytes, *, decision: str) -> Heard:
        try:
            parsed = decode_request(request)
        except RequestError as exc:
            kind = _salvage_kind(request)
            reply = encode_response(kind, exc.status, reference=exc.reference, info=None)
            return Heard(reply, reference=exc.reference or "", status="invalid", summary=exc.reason)
        common: dict[str, Any] = {
            "account": parsed.transmittercode,
            "reference": parsed.reference or "",
            "message": parsed,
        }

        def answer(status: Status, word: str, **extra: Any) -> Heard:
            new = extra.pop("new_authentication", None)
            reply = encode_response(
                parsed.kind, status, reference=parsed.reference, new_authentication=new
            )
            return Heard(reply, status=word, **common, **extra)

        if not self._authorised(parsed.authentication):
            return answer(Status.NOT_AUTHORIZED, "unauthorised", summary="wrong authentication")
        if decision == "retry":
            return answer(Status.SERVER_ERROR, "rejected", summary="emulated server error")
        if decision == "failover":
            return answer(Status.NOT_TREATED_NOT_DISTRIBUTED, "failover", summary="emulated")
        if parsed.kind is Kind.PING:
            return self._ping(parsed, answer)
        if parsed.kind is Kind.ROTATION:
            new = "".join(secrets.choice(_PASSWORD_ALPHABET) for _ in range(15))
            with self._lock:
                self._pending = new
            return answer(Status.OK, "rotated", new_authentication=new, summary="rotated")
        summary = (
            f"{parsed.alarmtype or 'AL'} {parsed.eventcode} section={parsed.section or '-'} "
            f"detector={parsed.detector or '-'}"
        )
        key = (parsed.transmittercode, parsed.reference or "")
        with self._lock:
            duplicate = parsed.reference is not None and key in self._accepted
            self._accepted.add(key)
        if duplicate:
            return answer(Status.DUPLICATED_ALARM, "duplicate", duplicate=True, summary=summary)
        return answer(Status.OK, "accepted", accepted=True, summary=summary)

    def _ping(self, parsed: Request, answer) -> Heard:
        if not self.heartbeat_service:
            return answer(Status.SERVICE_UNAVAILABLE, "heartbeat_unavailable", heartbeat=True)
        now = time.monotonic()
        with self._lock:
            last = self._last_ping.get(parsed.transmittercode)
            too_often = last is not None and now - last < self.min_ping_seconds
            if not too_often:
                self._last_ping[parsed.transmittercode] = now
        if too_often:
            return answer(Status.PING_TO_OFTEN, "ping_too_often", heartbeat=True)
        return answer(Status.OK, "heartbeat", heartbeat=True)


_PASSWORD_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def _salvage_kind(request: bytes) -> Kind:
    """Which response to answer a request that could not be read with."""
    for kind in (Kind.ROTATION, Kind.PING):
        if f"<{kind.value}".encode() in request[:4096]:
            return kind
    return Kind.ALARM
