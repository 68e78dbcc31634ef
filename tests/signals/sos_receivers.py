"""An SOS Access v4 receiver written for the tests, independently of the portal's codec: its own
reading of the protocol's public description (element lengths, printable ISO-8859-1, the header,
one request per connection) on the standard library's XML parser, a plain socket server, and
hand-written responses. The codec is checked against it, not only against itself.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from tests.signals.loopback import LoopbackServer

HEADER = '<?xml version="1.0" encoding="ISO-8859-1"?>'
# From the protocol's description: element -> (fewest, most characters, mandatory).
ALARM_ELEMENTS = {
    "reference": (1, 50, False),
    "authentication": (15, 15, True),
    "receiver": (1, 20, True),
    "transmittertime": (23, 23, False),
    "alarmtype": (2, 2, False),
    "transmittertype": (5, 5, True),
    "transmittercode": (1, 15, True),
    "transmitterarea": (1, 5, False),
    "eventcode": (1, 25, True),
    "section": (1, 5, False),
    "sectiontext": (1, 40, False),
    "detector": (1, 5, False),
    "detectortext": (1, 40, False),
    "additionalinfo": (1, 2000, False),
}
LINK_ELEMENTS = {
    "authentication": (15, 15, True),
    "reference": (1, 50, False),
    "transmittercode": (1, 15, True),
    "transmittertype": (5, 5, True),
}
ELEMENTS = {
    "alarmrequest": ALARM_ELEMENTS,
    "pingrequest": LINK_ELEMENTS,
    "requestnewauthentication": LINK_ELEMENTS,
}
RESPONSES = {
    "alarmrequest": "alarmresponse",
    "pingrequest": "pingresponse",
    "requestnewauthentication": "requestnewauthenticationresponse",
}
PRINTABLE = re.compile("[\x20-\x7e\xa0-\xff]*")
PRINTABLE_LINES = re.compile("[\x20-\x7e\xa0-\xff\n\r]*")

# What a scripted answer may be besides bytes.
CLOSE = b"\x00close"  # close the connection without answering
HANG = b"\x00hang"  # keep the connection open, never answer


class Violation(Exception):
    """A request that breaks the protocol, with the status a receiver answers."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass
class Heard:
    """One request as this receiver read it."""

    kind: str
    fields: dict[str, str]
    raw: bytes


def parse(raw: bytes) -> Heard:
    """Read one request strictly, or raise ``Violation``."""
    if len(raw) > 100_000:
        raise Violation(1, "too long")
    text = raw.decode("iso-8859-1")
    if not text.startswith(HEADER):
        raise Violation(100, "header")
    if "<!DOCTYPE" in text.upper():
        raise Violation(2, "doctype")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise Violation(2, str(exc)) from None
    spec = ELEMENTS.get(root.tag)
    if spec is None:
        raise Violation(2, f"unknown request {root.tag}")
    fields: dict[str, str] = {}
    for child in root:
        if child.tag not in spec or child.tag in fields or len(child):
            raise Violation(3, f"element {child.tag}")
        fields[child.tag] = child.text or ""
    for name, (low, high, mandatory) in spec.items():
        if name not in fields:
            if mandatory:
                raise Violation(7, f"missing {name}")
            continue
        value = fields[name]
        pattern = PRINTABLE_LINES if name == "additionalinfo" else PRINTABLE
        if not low <= len(value) <= high or not pattern.fullmatch(value):
            raise Violation(3, f"{name}={value!r}")
    if fields.get("alarmtype", "AL") not in ("AL", "RE"):
        raise Violation(3, "alarmtype")
    return Heard(root.tag, fields, raw)


def response(
    kind: str,
    status: int,
    reference: str | None,
    *,
    info: str = "INFO",
    extra: str = "",
) -> bytes:
    """A response written by hand: ``kind`` is the request's root element."""
    tag = RESPONSES[kind]
    ref = f"<reference>{reference}</reference>" if reference is not None else ""
    body = (
        f"{HEADER}\n<{tag}>{ref}<status>{status}</status><info>{info}</info>"
        f"{extra}<arrivaltime>2025-03-04 05:06:08.123</arrivaltime></{tag}>"
    )
    return body.encode("iso-8859-1")


Respond = Callable[[Heard, int], bytes]


@dataclass
class Drip:
    """Answer these bytes one at a time, ``pause`` seconds apart."""

    data: bytes
    pause: float


@dataclass
class IndependentReceiver(LoopbackServer):
    """A loopback SOS Access receiver (TLS with ``ssl_context``) that answers each request with
    ``respond(heard, n)`` (``n`` counts requests from 0) and then closes the connection, as the
    protocol has it. A request it cannot read is answered with the status the protocol names,
    or with ``respond`` when ``respond_to_violations``."""

    respond: Respond
    ssl_context: ssl.SSLContext | None = None
    heard: list[Heard] = field(default_factory=list)
    violations: list[Violation] = field(default_factory=list)
    port: int = 0
    connections: int = 0  # accepted so far

    def __post_init__(self) -> None:
        LoopbackServer.__init__(self)

    def _accepted(self, conn: socket.socket) -> None:
        # Kept once wrapped in TLS (``_serve``), so that exiting shuts the connection in use.
        with self._lock:
            self.connections += 1

    @property
    def requests(self) -> list[Heard]:
        with self._lock:
            return list(self.heard)

    def _serve(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            if self.ssl_context is not None:
                conn.settimeout(5)
                conn = self.ssl_context.wrap_socket(conn, server_side=True)
            self._keep(conn)
            with conn:
                conn.settimeout(10)
                raw = self._read(conn)
                if raw is None:
                    return
                try:
                    heard = parse(raw)
                except Violation as exc:
                    with self._lock:
                        self.violations.append(exc)
                    conn.sendall(response("alarmrequest", exc.status, None, info="BAD"))
                    return
                with self._lock:
                    n = len(self.heard)
                    self.heard.append(heard)
                answer = self.respond(heard, n)
                if answer == CLOSE:
                    return
                if answer == HANG:
                    self._stopping.wait(30)
                    return
                if isinstance(answer, Drip):
                    for byte in answer.data:
                        if self._stopping.is_set():
                            return
                        conn.sendall(bytes([byte]))
                        time.sleep(answer.pause)
                    return
                conn.sendall(answer)

    @staticmethod
    def _read(conn: socket.socket) -> bytes | None:
        buffer = b""
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                return buffer or None
            buffer += chunk
            if re.search(rb"</(alarmrequest|pingrequest|requestnewauthentication)>\s*$", buffer):
                return buffer


@contextmanager
def independent_receiver(
    respond: Respond, ssl_context: ssl.SSLContext | None = None
) -> Iterator[IndependentReceiver]:
    with IndependentReceiver(respond, ssl_context) as receiver:
        yield receiver


def ok(heard: Heard, n: int) -> bytes:
    """Answer every request OK, echoing its reference."""
    return response(heard.kind, 0, heard.fields.get("reference"), info="OK")
