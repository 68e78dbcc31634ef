"""Reading XML that came from the network, for every codec that speaks XML.

Everything a receiver (or, in the emulator, a transmitter) sends is untrusted: it is parsed
with entity expansion, DTD loading and network access off, and a document that carries a
DOCTYPE at all is refused before anything else looks at it. One copy of this mechanism, so
that every XML protocol gets the same hardening.
"""

from __future__ import annotations

import codecs
import functools
import re
import threading
from collections.abc import Iterable

from lxml import etree

from signals.codecs.base import ProtocolError

_DECLARED_ENCODING = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^>]*?encoding\s*=\s*[\"']([^\"']*)[\"']"
)
# Matched on the bytes as they are, read as ASCII (see parse_untrusted).
_DOCTYPE = re.compile(rb"<!doctype", re.IGNORECASE)


@functools.lru_cache(maxsize=256)  # a handful of names in practice; looked up per document
def codec_name(name: str | bytes) -> str | None:
    """The canonical Python name of an encoding ("latin-1" -> "iso8859-1"), or None."""
    if isinstance(name, bytes):
        name = name.decode("ascii", "replace")
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        return None


def declared_encoding(data: bytes) -> str | None:
    """The encoding named in the document's XML declaration, as written; None without one."""
    match = _DECLARED_ENCODING.match(data)
    return match.group(1).decode("ascii", "replace") if match else None


def parse_untrusted(
    data: bytes,
    *,
    max_bytes: int,
    what: str,
    encoding: str = "utf-8",
    also: Iterable[str] = (),
) -> etree._Element:
    """Parse bytes from the network into an element, or raise ``ProtocolError``.

    The bytes are read in ``encoding`` whatever they claim, unless their declaration names one
    of ``also`` (then in that one); a declaration naming any other encoding is refused. No
    entity is expanded, no DTD or external resource is loaded, and a DOCTYPE is refused
    outright: no protocol here has a use for one, and refusing it ends every entity trick
    (XXE, billion laughs) before it starts.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise ProtocolError(f"{what} is not bytes")
    if type(data) is not bytes:
        data = bytes(data)
    if len(data) > max_bytes:
        raise ProtocolError(f"{what} too large: {len(data)} bytes (limit {max_bytes})")
    if not data or data.isspace():
        raise ProtocolError(f"{what} is empty")
    reading = codec_name(encoding)
    declared = declared_encoding(data)
    if declared is not None:
        named = codec_name(declared)
        allowed = {reading, *(codec_name(name) for name in also)}
        if named is None or named not in allowed:
            raise ProtocolError(f"{what} is not {encoding.upper()} (declared {declared!r})")
        reading = named
    # The parser reads the bytes in an ASCII-compatible encoding whatever else they claim, so
    # this byte search cannot be dodged with another encoding, and the DOCTYPE is refused
    # before libxml2 sees it.
    if _DOCTYPE.search(data):
        raise ProtocolError(f"{what} contains a DOCTYPE (refused: no DTDs or entities)")
    parser = _parser(reading)
    try:
        tree = etree.fromstring(data, parser).getroottree()
    except etree.XMLSyntaxError as exc:
        raise ProtocolError(f"{what} is not well-formed XML: {first_line(str(exc))}") from None
    except ValueError as exc:  # e.g. an unsupported encoding declaration
        raise ProtocolError(f"{what} cannot be parsed: {first_line(str(exc))}") from None
    docinfo = tree.docinfo
    if docinfo.doctype or docinfo.internalDTD is not None or docinfo.externalDTD is not None:
        raise ProtocolError(f"{what} contains a DOCTYPE (refused: no DTDs or entities)")
    root = tree.getroot()
    if any(True for _ in root.iter(etree.Entity)):
        raise ProtocolError(f"{what} contains entity references (refused)")
    return root


# A parser is set up once per thread and encoding: building one costs more than parsing a
# reply with it. lxml parsers must not be shared between threads (each has its own state and
# error log), and a parse leaves nothing behind in its parser for the next one.
_per_thread = threading.local()


def _parser(encoding: str) -> etree.XMLParser:
    parsers: dict[str, etree.XMLParser] = _per_thread.__dict__.setdefault("parsers", {})
    parser = parsers.get(encoding)
    if parser is None:
        parser = parsers[encoding] = etree.XMLParser(
            encoding=encoding,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            huge_tree=False,
            remove_comments=True,
            remove_pis=True,
            strip_cdata=True,
            collect_ids=False,
            recover=False,
        )
    return parser


def first_line(message: str) -> str:
    return message.splitlines()[0] if message else "unknown error"
