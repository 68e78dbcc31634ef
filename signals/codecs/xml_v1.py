"""Portal XML v1: the portal's own alarm package and the receiver's reply, over length-prefixed
TCP (optionally TLS) or HTTPS POST.

Pure Python on lxml, with no database. The wire format is specified by
``schemas/signal-v1.xsd`` and ``schemas/reply-v1.xsd`` and explained for station engineers in
``docs/protocol-xml-v1.md``. Every package is validated against the schema when its outbox row
is written, and the row keeps the exact bytes: every resend repeats them.

Everything received from the network (replies here, packages in the emulator) is untrusted: it is
parsed with entity expansion, DTD loading and network access off, and a document that carries a
DOCTYPE at all is refused before anything else looks at it.

Framing over TCP: every message, either way, is a 4-byte unsigned big-endian length followed by
that many bytes. A connection carries any number of package/reply pairs, one at a time.
"""

from __future__ import annotations

import enum
import functools
import re
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from lxml import etree

from signals.codecs import xmlsafe
from signals.codecs.base import (
    ACCOUNT_RE,
    REFERENCE_RE,
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
    check_signal_fields,
    require,
)

PROTOCOL = "xml_v1"
NAMESPACE = "urn:dealer-portal:signal:v1"
VERSION = "1"
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "schemas"
# Room for the longest legal package many times over; anything bigger is not ours.
MAX_PACKAGE_BYTES = 256 * 1024
MAX_REPLY_BYTES = 64 * 1024
# The TCP framing: a frame is a 4-byte big-endian length and at most this many bytes.
HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 256 * 1024

SITE_NAME_MAX = 200
DESCRIPTION_MAX = 200
REASON_MAX = 500
URL_MAX = 2000

RECEIVER_ID_RE = re.compile(r"[A-Za-z0-9]{1,20}")
# Characters XML 1.0 cannot carry at all (not even as character references).
_ILLEGAL_XML_CHARS = re.compile("[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
REPLACEMENT_CHAR = "\ufffd"
# Whatever str.isspace() calls whitespace (re's \s is the same test).
_WHITESPACE = re.compile(r"\s")

_NS = {"s": NAMESPACE}
_NSMAP = {None: NAMESPACE}


class Status(enum.StrEnum):
    """What the receiver did with a package."""

    ACCEPTED = "accepted"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    FAILOVER = "failover"


@dataclass(frozen=True)
class Package:
    """One alarm signal for one account, as plain values (the dispatcher reads it from a row).

    Structured fields are checked here so that a bug fails before any bytes exist. Free text
    (site name, descriptions) is made XML-safe by ``encode``, never refused: a dealer's odd site
    name must not stop an alarm.
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
    receiver_number: str = ""
    receiver_line: str = ""

    def __post_init__(self) -> None:
        check_signal_fields(self)
        for name in ("receiver_number", "receiver_line"):
            value = getattr(self, name)
            require(value == "" or RECEIVER_ID_RE.fullmatch(value), name, value)
        require(self.video_url == "" or _is_http_url(self.video_url), "video_url", self.video_url)

    @property
    def contact_id_qualifier(self) -> int:
        return self.qualifier.contact_id


@dataclass(frozen=True)
class Ack:
    """A receiver's decoded answer to one package."""

    reference: str
    status: Status
    reason: str = ""
    received_at: datetime | None = field(default=None, compare=False)

    @property
    def delivered(self) -> bool:
        """The receiver holds the signal: never send this reference again."""
        return self.status in (Status.ACCEPTED, Status.DUPLICATE)

    @property
    def wants_failover(self) -> bool:
        """The receiver asks for the alternate path."""
        return self.status is Status.FAILOVER


# --- building -----------------------------------------------------------------------------------


def xml_safe(text: str, max_length: int | None = None) -> str:
    """Replace characters XML 1.0 cannot carry with U+FFFD and cut to ``max_length``."""
    cleaned = _ILLEGAL_XML_CHARS.sub(REPLACEMENT_CHAR, text)
    return cleaned if max_length is None else cleaned[:max_length]


def format_datetime(value: datetime) -> str:
    """An aware datetime as an xs:dateTime in UTC with a ``Z``."""
    if value.utcoffset() is None:
        raise ValueError("naive datetime: the wire format always carries a UTC offset")
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def build_package(package: Package, *, sent_at: datetime | None = None) -> etree._Element:
    """The ``<signal>`` element for ``package`` (use ``encode`` for bytes)."""
    root = etree.Element(_tag("signal"), nsmap=_NSMAP, version=VERSION)
    _child(root, "reference", package.reference)
    _child(root, "account", package.account)
    if package.receiver_number or package.receiver_line:
        receiver = etree.SubElement(root, _tag("receiver"))
        if package.receiver_number:
            receiver.set("number", package.receiver_number)
        if package.receiver_line:
            receiver.set("line", package.receiver_line)
    event = etree.SubElement(root, _tag("event"))
    _child(event, "qualifier", package.qualifier.value)
    _child(event, "code", package.code)
    _child(event, "partition", f"{package.partition:02d}")
    _child(event, "zone", f"{package.zone:03d}")
    _child(event, "priority", str(package.priority))
    _child(event, "eventTime", format_datetime(package.event_time))
    site = etree.SubElement(root, _tag("site"))
    _child(site, "name", xml_safe(package.site_name, SITE_NAME_MAX))
    if package.zone_description:
        _child(site, "zoneDescription", xml_safe(package.zone_description, DESCRIPTION_MAX))
    if package.camera_description:
        _child(site, "cameraDescription", xml_safe(package.camera_description, DESCRIPTION_MAX))
    if package.video_url:
        _child(site, "videoUrl", package.video_url)
    if sent_at is not None:
        _child(root, "sentAt", format_datetime(sent_at))
    return root


def encode(package: Package, *, sent_at: datetime | None = None) -> bytes:
    """The package as UTF-8 bytes with an XML declaration, validated against signal-v1.xsd.

    ``sent_at`` is when the portal built the package. The outbox stores these exact bytes and
    every resend repeats them, so it is not the time of any one attempt.
    """
    root = build_package(package, sent_at=sent_at)
    _assert_valid(_signal_schema(), root, "package")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def build_reply(
    reference: str, status: Status | str, reason: str | None = None, *, received_at: datetime | None
) -> etree._Element:
    root = etree.Element(_tag("reply"), nsmap=_NSMAP, version=VERSION)
    _child(root, "reference", reference)
    _child(root, "status", Status(status).value)
    if reason:
        _child(root, "reason", xml_safe(reason, REASON_MAX))
    if received_at is not None:
        _child(root, "receivedAt", format_datetime(received_at))
    return root


def encode_reply(
    reference: str,
    status: Status | str,
    reason: str | None = None,
    *,
    received_at: datetime | None = None,
) -> bytes:
    """A receiver's reply as UTF-8 bytes, validated against reply-v1.xsd."""
    if not REFERENCE_RE.fullmatch(reference):
        raise ValueError(f"invalid reference: {reference!r}")
    root = build_reply(reference, status, reason, received_at=received_at)
    _assert_valid(_reply_schema(), root, "reply")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


# A reference and a time that encode_reply writes as they are, to cut its output around.
_MARK_REFERENCE = "REPLY-REFERENCE-MARK"
_MARK_TIME = datetime(1999, 12, 31, 23, 59, 58, 123456, tzinfo=UTC)


@functools.lru_cache(maxsize=16)
def _reply_around(status: Status, reason: str) -> tuple[bytes, bytes, bytes] | None:
    """``encode_reply``'s bytes for ``status`` and ``reason``, cut around the reference and the
    received time; None if the marks are not each there once (a reason that holds one)."""
    sample = encode_reply(_MARK_REFERENCE, status, reason, received_at=_MARK_TIME)
    head, *rest = sample.split(_MARK_REFERENCE.encode())
    if len(rest) != 1:
        return None
    middle, *tail = rest[0].split(format_datetime(_MARK_TIME).encode())
    return (head, middle, tail[0]) if len(tail) == 1 else None


def templated_reply(
    reference: str, status: Status, reason: str = "", *, received_at: datetime
) -> bytes:
    """``encode_reply(reference, status, reason, received_at=received_at)``, byte for byte,
    from the bytes ``encode_reply`` wrote once for this status and reason: a receiver answers
    with it without building and validating a tree per package (a fifth of the emulator's CPU).

    What it puts in is written as it is, so the reply is as valid as the one it was cut from:
    a reference (``REFERENCE_RE``: letters, digits and '-') and a time as ``format_datetime``
    writes it."""
    if not REFERENCE_RE.fullmatch(reference):
        raise ValueError(f"invalid reference: {reference!r}")
    around = _reply_around(Status(status), reason)
    if around is None:
        return encode_reply(reference, status, reason, received_at=received_at)
    head, middle, tail = around
    when = format_datetime(received_at).encode()
    return b"".join((head, reference.encode(), middle, when, tail))


# --- reading untrusted bytes --------------------------------------------------------------------


def parse_untrusted(data: bytes, *, max_bytes: int, what: str) -> etree._Element:
    """Parse bytes from the network as UTF-8 XML, hardened (``signals.codecs.xmlsafe``), or
    raise ``ProtocolError``."""
    return xmlsafe.parse_untrusted(data, max_bytes=max_bytes, what=what, encoding="utf-8")


def decode_reply(data: bytes, *, expected_reference: str | None = None) -> Ack:
    """Read a receiver's reply, or raise ``ProtocolError`` saying what was wrong with it.

    With ``expected_reference``, a reply that answers another package is an error too: the
    sender must never mark a signal delivered on the strength of someone else's answer.
    """
    root = parse_untrusted(data, max_bytes=MAX_REPLY_BYTES, what="reply")
    _check_root(root, "reply")
    _assert_valid(_reply_schema(), root, "reply", error=ProtocolError)
    fields = _texts(root)
    reference = fields.get("reference", "").strip()
    if expected_reference is not None and reference != expected_reference:
        raise ProtocolError(
            f"reply is for reference {reference!r}, expected {expected_reference!r}"
        )
    received_at_text = fields.get("receivedAt", "")
    return Ack(
        reference=reference,
        status=Status(fields.get("status", "")),
        reason=fields.get("reason", ""),
        received_at=_parse_datetime(received_at_text, "receivedAt") if received_at_text else None,
    )


def validate_package(data: bytes) -> None:
    """Raise ``ProtocolError`` unless ``data`` is a harmless package valid against the XSD."""
    root = parse_untrusted(data, max_bytes=MAX_PACKAGE_BYTES, what="package")
    _check_root(root, "signal")
    _assert_valid(_signal_schema(), root, "package", error=ProtocolError)


def decode_package(data: bytes) -> Package:
    """Read a package (the receiver's side: the emulator, and tests)."""
    root = parse_untrusted(data, max_bytes=MAX_PACKAGE_BYTES, what="package")
    _check_root(root, "signal")
    _assert_valid(_signal_schema(), root, "package", error=ProtocolError)
    fields = _texts(root)
    receiver = root.find(_tag("receiver"))
    event = _texts(root.find(_tag("event")))
    site = _texts(root.find(_tag("site")))
    try:
        return Package(
            reference=fields.get("reference", "").strip(),
            account=fields.get("account", "").strip(),
            receiver_number=receiver.get("number", "") if receiver is not None else "",
            receiver_line=receiver.get("line", "") if receiver is not None else "",
            qualifier=Qualifier(event.get("qualifier", "")),
            code=event.get("code", ""),
            partition=int(event.get("partition", "")),
            zone=int(event.get("zone", "")),
            priority=int(event.get("priority", "")),
            event_time=_parse_datetime(event.get("eventTime", ""), "eventTime"),
            site_name=site.get("name", ""),
            zone_description=site.get("zoneDescription", ""),
            camera_description=site.get("cameraDescription", ""),
            video_url=site.get("videoUrl", "").strip(),
        )
    except ValueError as exc:  # schema-valid yet not representable, e.g. year 10000
        raise ProtocolError(f"package cannot be read: {exc}") from None


def salvage_reference(data: bytes) -> str | None:
    """The reference of a package that failed validation, when one can still be read safely.

    A receiver uses it to address its ``rejected`` reply; ``None`` when there is none to trust.
    """
    try:
        root = parse_untrusted(data, max_bytes=MAX_PACKAGE_BYTES, what="package")
    except ProtocolError:
        return None
    reference = (root.findtext("s:reference", namespaces=_NS) or "").strip()
    return reference if REFERENCE_RE.fullmatch(reference) else None


# --- helpers ------------------------------------------------------------------------------------


# Each thread validates with schemas of its own. libxml2 keeps a schema's names in a
# dictionary of the thread that built it; lxml's FAQ asks for such objects to be used in the
# thread that made them (cached per thread), and a schema shared by a dispatcher's lanes, even
# behind a lock, once left a lane spinning inside the validation for good. Each thread parses
# the two small schema files once (about a millisecond); the files' bytes are read once.
# Building is one thread at a time, and the importing thread builds first: lanes building
# their first schemas at once crashed the process now and then (libxml2, "double free or
# corruption": 1 in 40 fresh processes whose 8 threads started together).
_per_thread = threading.local()
_building = threading.Lock()


@functools.cache
def _schema_source(filename: str) -> bytes:
    return (SCHEMA_DIR / filename).read_bytes()


def _load_schema(filename: str) -> etree.XMLSchema:
    schemas: dict[str, etree.XMLSchema] = _per_thread.__dict__.setdefault("schemas", {})
    schema = schemas.get(filename)
    if schema is None:
        with _building:
            parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
            document = etree.fromstring(
                _schema_source(filename), parser, base_url=str(SCHEMA_DIR / filename)
            )
            schema = schemas[filename] = etree.XMLSchema(document)
    return schema


def _signal_schema() -> etree.XMLSchema:
    return _load_schema("signal-v1.xsd")


def _reply_schema() -> etree.XMLSchema:
    return _load_schema("reply-v1.xsd")


# The importing thread (a process's main thread) builds first, before any lane or connection
# thread exists: libxml2 sets up its schema machinery once, on one thread.
_signal_schema()
_reply_schema()


def _assert_valid(
    schema: etree.XMLSchema,
    root: etree._Element,
    what: str,
    *,
    error: type[Exception] = ValueError,
) -> None:
    # The schema is this thread's own (its error log too): no lock.
    if schema.validate(root):
        return
    last = schema.error_log.last_error
    detail = f"line {last.line}: {last.message}" if last is not None else "invalid"
    raise error(f"{what} does not match its schema: {detail}")


def _check_root(root: etree._Element, name: str) -> None:
    expected = _tag(name)
    if root.tag != expected:
        raise ProtocolError(f"expected root element {expected}, got {root.tag}")


_PREFIX = f"{{{NAMESPACE}}}"


def _tag(name: str) -> str:
    return f"{_PREFIX}{name}"


def _child(parent: etree._Element, name: str, text: str) -> None:
    """Append ``<name>text</name>`` (built with lxml's own calls: its ElementMaker costs more
    than the rest of a reply)."""
    etree.SubElement(parent, _tag(name)).text = text


def _texts(element: etree._Element) -> dict[str, str]:
    """The text of each child element by its name. Only for elements valid against the schema,
    which puts every child in the portal's namespace, once at most, and nothing but elements
    (the parser drops comments and processing instructions): a dictionary, not a path search
    per field."""
    return {child.tag.removeprefix(_PREFIX): child.text or "" for child in element}


def _parse_datetime(text: str, what: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ProtocolError(f"{what} is not a date and time Python can read: {text!r}") from None
    if value.utcoffset() is None:  # the schema already insists; belt and braces
        raise ProtocolError(f"{what} has no UTC offset: {text!r}")
    return value


def _is_http_url(value: str) -> bool:
    if len(value) > URL_MAX or _ILLEGAL_XML_CHARS.search(value) or _WHITESPACE.search(value):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


# --- framing over TCP ---------------------------------------------------------------------------


def encode_frame(payload: bytes) -> bytes:
    """``payload`` with its length prefix; refuses anything over ``MAX_FRAME_BYTES``."""
    if len(payload) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame too large: {len(payload)} bytes (limit {MAX_FRAME_BYTES})")
    return HEADER.pack(len(payload)) + payload


def frame_size(buffer: bytes) -> int | None:
    """Bytes of the first complete frame in ``buffer`` (prefix included); None: need more."""
    if len(buffer) < HEADER.size:
        return None
    (length,) = HEADER.unpack_from(buffer)
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame too large: {length} bytes (limit {MAX_FRAME_BYTES})")
    total = HEADER.size + length
    return total if len(buffer) >= total else None


def recv_frame(sock: socket.socket, *, deadline: float | None = None) -> bytes | None:
    """Read one frame from a blocking socket, and not a byte more (a receiver's side, and
    tests); ``None`` when the peer closed cleanly between frames. ``deadline``
    (``time.monotonic()``) bounds it all; ``ConnectionError`` for a frame too large or cut off.
    """
    header = _recv_exact(sock, HEADER.size, deadline, allow_eof=True)
    if header is None:
        return None
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME_BYTES:
        raise ConnectionError(f"frame too large: {length} bytes (limit {MAX_FRAME_BYTES})")
    return _recv_exact(sock, length, deadline, allow_eof=False) or b""


def _recv_exact(
    sock: socket.socket, size: int, deadline: float | None, *, allow_eof: bool
) -> bytes | None:
    chunks: list[bytes] = []
    received = 0
    while received < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("deadline passed")
            sock.settimeout(remaining)
        chunk = sock.recv(min(size - received, 65536))
        if not chunk:
            if allow_eof and received == 0:
                return None
            raise ConnectionError("connection closed mid-frame")
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


# --- the codec ----------------------------------------------------------------------------------

_STATUS_OUTCOME = {
    Status.ACCEPTED: Outcome.DELIVERED,
    Status.DUPLICATE: Outcome.DUPLICATE,
    Status.REJECTED: Outcome.RETRY,
    Status.FAILOVER: Outcome.FAILOVER,
}


def _receiver_id(value: str) -> str:
    # Receiver and line numbers the XML cannot carry are left out rather than stop an alarm.
    return value if RECEIVER_ID_RE.fullmatch(value or "") else ""


def package_for(message: Message, receiver: ReceiverConfig) -> Package:
    """The XML v1 package of ``message`` for ``receiver``."""
    return Package(
        reference=message.reference,
        account=message.account,
        receiver_number=_receiver_id(receiver.receiver_number),
        receiver_line=_receiver_id(receiver.line_number),
        qualifier=message.qualifier,
        code=message.code,
        partition=message.partition,
        zone=message.zone,
        priority=message.priority,
        event_time=message.event_time,
        site_name=message.site_name,
        zone_description=message.zone_description,
        camera_description=message.camera_description,
        video_url=message.video_url if _is_http_url(message.video_url) else "",
    )


class XmlV1Codec(Codec):
    """The portal's own XML v1 behind the codec seam."""

    protocol = PROTOCOL
    label = "Portal XML v1"
    transports = frozenset({"tcp", "https"})
    persistent = True
    content_type = "application/xml; charset=utf-8"
    max_reply_bytes = MAX_FRAME_BYTES + HEADER.size

    def account_problem(self, number: str) -> str | None:
        if not ACCOUNT_RE.fullmatch(number):
            return "Portal XML v1 carries account numbers of 1-20 letters A-Z, digits or '-'."
        return None

    def prepare(self, message: Message, receiver: ReceiverConfig) -> bytes:
        # Built once, when the outbox row is written: sentAt is when the package was built, and
        # every resend repeats these exact bytes.
        try:
            return encode(package_for(message, receiver), sent_at=datetime.now(UTC))
        except ValueError as exc:
            raise ProtocolError(str(exc)) from None

    def build(self, message: Message, prepared: bytes, ctx: SendContext) -> Outgoing:
        document = prepared or self.prepare(message, ctx.receiver)
        wire = document if ctx.transport == "https" else encode_frame(document)
        return Outgoing(wire=wire, shown=document, expect={"reference": message.reference})

    def reply_size(self, buffer: bytes, *, eof: bool) -> int | None:
        return frame_size(buffer)

    def read_reply(self, data: bytes, sent: Outgoing, ctx: SendContext) -> Reply:
        document = data if ctx.transport == "https" else data[HEADER.size :]
        ack = decode_reply(document, expected_reference=sent.expect["reference"])
        return Reply(_STATUS_OUTCOME[ack.status], ack.status.value, ack.reason)

    def reply_shown(self, data: bytes, ctx: SendContext) -> bytes:
        return data if ctx.transport == "https" else data[HEADER.size :]

    def receiver_side(self, config: ReceiverConfig) -> ReceiverSide:
        return XmlV1Receiver()


class XmlV1Receiver(ReceiverSide):
    """A receiver of XML v1 packages: validates each against the schema, answers ``duplicate``
    for a reference it has accepted before."""

    # Used as the reply's reference when a rejected package has no readable one of its own.
    UNKNOWN_REFERENCE = "unknown"

    def __init__(self) -> None:
        self._accepted: set[str] = set()
        self._lock = threading.Lock()

    def request_size(self, buffer: bytes, *, eof: bool) -> int | None:
        return frame_size(buffer)

    def handle(self, request: bytes, *, decision: str) -> Heard:
        document = request[HEADER.size :]
        try:
            package = decode_package(document)
        except ProtocolError as exc:
            reference = salvage_reference(document) or self.UNKNOWN_REFERENCE
            reply = encode_reply(reference, Status.REJECTED, f"invalid package: {exc.reason}")
            return Heard(
                encode_frame(reply), reference=reference, status="invalid", summary=exc.reason
            )
        summary = f"code={package.qualifier.value}{package.code} zone={package.zone:03d}"
        heard: dict[str, Any] = {
            "account": package.account,
            "reference": package.reference,
            "summary": summary,
            "message": package,
        }
        if decision in ("retry", "failover"):
            status = Status.REJECTED if decision == "retry" else Status.FAILOVER
            reason = (
                "emulated rejection: try again later"
                if decision == "retry"
                else "emulated failover: use the alternate path"
            )
            reply = templated_reply(
                package.reference, status, reason, received_at=datetime.now(UTC)
            )
            return Heard(encode_frame(reply), status=status.value, **heard)
        with self._lock:
            duplicate = package.reference in self._accepted
            self._accepted.add(package.reference)
        status = Status.DUPLICATE if duplicate else Status.ACCEPTED
        reply = templated_reply(package.reference, status, received_at=datetime.now(UTC))
        return Heard(
            encode_frame(reply),
            status=status.value,
            accepted=not duplicate,
            duplicate=duplicate,
            **heard,
        )

    def forget(self) -> None:
        with self._lock:
            self._accepted.clear()
