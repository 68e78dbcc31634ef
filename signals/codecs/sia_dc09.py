"""SIA DC-09: the common IP alarm transport, over TCP or UDP, with an ``ADM-CID`` (Contact ID)
or ``SIA-DCS`` payload chosen per receiver, optional AES-CBC encryption, and ``NULL``
supervision. Explained for station engineers in ``docs/protocol-sia-dc09.md``.

A frame::

    LF  CRC(4 hex)  0LLL(length, 3 hex)  "token"  seq(4)  R<rcvr>  L<line>  #<acct>  [data]
        [V…][S…][L…]  _HH:MM:SS,MM-DD-YYYY  CR

CRC-16 (the ARC variant: polynomial 0x8005 reflected, initial 0) and the length both cover
everything from the first ``"`` to the last character before CR. Encrypted, ``*`` precedes the
token and everything after the ``[`` (data, extended data, timestamp) is AES-CBC with an
all-zero IV, padded at the front to whole 16-byte blocks with characters other than ``|``,
``[`` and ``]`` followed by ``|``, and sent as upper-case hex.

Where the public material leaves a choice, this codec does what the common receivers do, and
``docs/protocol-sia-dc09.md`` says so: every send carries a fresh sequence number from the
path's counter (so a late ``ACK`` to an earlier send can never be taken for this one), the
timestamp is UTC, and a ``NAK``'s time sets the path's clock for the one immediate resend.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string
import threading
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from django import forms

from signals.codecs.base import (
    Codec,
    Heard,
    Message,
    Outcome,
    Outgoing,
    ProtocolError,
    ReceiverConfig,
    ReceiverSide,
    Reply,
    SendContext,
)
from stations.protocols import SITE_NAME, ZONE_NAME, SecretSpec

PROTOCOL = "sia_dc09"
ADM_CID = "ADM-CID"
SIA_DCS = "SIA-DCS"
NULL = "NULL"
# The extended-data blocks the portal fills: the verification link, the site, the zone.
BLOCKS = {"V": "[V] verification link (the deep link)", "S": "[S] the site", "L": "[L] the zone"}
DEFAULT_BLOCKS = {ADM_CID: ["V"], SIA_DCS: ["V", "S", "L"]}
# The length field has three hex digits.
MAX_BODY = 0xFFF
MAX_FRAME = MAX_BODY + 10
TEXT_MAX = 200
ACCOUNT_RE = re.compile(r"[0-9A-F]{3,16}")
HEX_ID_RE = re.compile(r"[0-9A-F]{1,6}")
# Printable ASCII but the characters that delimit DC-09 blocks and SIA-DCS text.
_TEXT_FORBIDDEN = "[]|^"
_TEXT_RE = re.compile(r"[\x20-\x7e]*")
_TIMESTAMP_FORMAT = "%H:%M:%S,%m-%d-%Y"
_PAD_CHARS = "".join(c for c in string.ascii_letters + string.digits)
# The usual receivers' replay window: a message timestamped outside it is answered NAK.
WINDOW_BEHIND = timedelta(seconds=40)
WINDOW_AHEAD = timedelta(seconds=20)

_HEADER_RE = re.compile(
    rb'"(?P<star>\*?)(?P<token>[A-Z0-9-]{3,8})"(?P<seq>[0-9]{4})'
    rb"(?:R(?P<rcvr>[0-9A-Fa-f]{1,6}))?(?:L(?P<line>[0-9A-Fa-f]{1,6}))?"
    rb"(?:#(?P<acct>[0-9A-Fa-f]{3,16})|A[0-9A-Fa-f]*)?\[(?P<rest>.*)",
    re.S,
)
_TIMESTAMP_RE = re.compile(r"_(\d{2}:\d{2}:\d{2},\d{2}-\d{2}-\d{4})$")


# --- CRC, keys and encryption --------------------------------------------------------------------


def _crc_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _crc_table()


def crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005 reflected, initial 0), the checksum of DC-09 frames (and of
    SIA DC-07 before it); a byte at a time from a table computed once."""
    crc = 0
    for byte in data:
        crc = (crc >> 8) ^ _CRC_TABLE[(crc ^ byte) & 0xFF]
    return crc


def key_bytes(secret: str, key_form: str) -> bytes:
    """The AES key a station typed: 32/48/64 hex digits, or 16/24/32 characters taken as the
    key's bytes themselves (as some receivers do). ``ValueError`` says what is wrong."""
    if key_form == "text":
        if len(secret) not in (16, 24, 32) or not secret.isascii():
            raise ValueError("A key typed as characters has 16, 24 or 32 ASCII characters.")
        return secret.encode("ascii")
    if len(secret) not in (32, 48, 64) or not re.fullmatch(r"[0-9A-Fa-f]*", secret):
        raise ValueError("A hex key has 32, 48 or 64 hex digits (128, 192 or 256 bits).")
    return bytes.fromhex(secret)


def cbc_encrypt(key: bytes, data: bytes) -> bytes:
    """AES-CBC with an all-zero IV over whole 16-byte blocks, as DC-09 uses it."""
    encryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).encryptor()
    return encryptor.update(data) + encryptor.finalize()


def cbc_decrypt(key: bytes, data: bytes) -> bytes:
    decryptor = Cipher(algorithms.AES(key), modes.CBC(bytes(16))).decryptor()
    return decryptor.update(data) + decryptor.finalize()


def encrypt(key: bytes, plain: str, pad: str | None = None) -> str:
    """``plain`` padded at the front (random characters, then ``|``) to whole blocks, AES-CBC
    with a zero IV, as upper-case hex. ``pad`` fixes the padding (known-answer tests)."""
    body = plain.encode("ascii")
    if pad is None:
        length = 16 - (len(body) + 1) % 16 or 16
        pad = "".join(secrets.choice(_PAD_CHARS) for _ in range(length))
    padded = pad.encode("ascii") + b"|" + body
    if len(padded) % 16:
        raise ValueError("the padding does not fill whole blocks")
    return cbc_encrypt(key, padded).hex().upper()


def decrypt(key: bytes, hex_text: bytes) -> str:
    """The plain text of an encrypted part, its front padding (and ``|``) removed."""
    try:
        data = bytes.fromhex(hex_text.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("encrypted part is not hex") from None
    if not data or len(data) % 16:
        raise ProtocolError("encrypted part is not whole AES blocks")
    plain = cbc_decrypt(key, data).decode("ascii", "replace")
    # Padding runs to the first "|" (this codec, and DC-09 receivers that pad so), or, from
    # receivers that pad without it, to the first character that can start the content.
    bar = plain.find("|")
    start = plain.find("]")
    if bar != -1 and (start == -1 or bar < start):
        return plain[bar + 1 :]
    hash_at = plain.find("#")
    if hash_at != -1 and (start == -1 or hash_at < start):
        return plain[hash_at:]
    return plain[start:] if start != -1 else ""


# --- what the station configures -------------------------------------------------------------


class Dc09SettingsForm(forms.Form):
    """A DC-09 receiver's own settings (stored in ``Receiver.protocol_settings``)."""

    payload = forms.ChoiceField(
        choices=[(ADM_CID, "ADM-CID (Contact ID)"), (SIA_DCS, "SIA-DCS")],
        help_text="The event format the receiver expects.",
    )
    adm_cid_blocks = forms.MultipleChoiceField(
        label="Extended data with ADM-CID",
        choices=list(BLOCKS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Some receivers take one block at most with ADM-CID (and answer NAK to more).",
    )
    sia_dcs_blocks = forms.MultipleChoiceField(
        label="Extended data with SIA-DCS",
        choices=list(BLOCKS.items()),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    key_form = forms.ChoiceField(
        label="Encryption key typed as",
        choices=[
            ("hex", "hex digits (32, 48 or 64)"),
            ("text", "characters taken as the key's bytes (16, 24 or 32)"),
        ],
        help_text="How the receiver's software takes the key. Without a key, no encryption.",
    )
    supervision_seconds = forms.IntegerField(
        label="NULL supervision every (seconds)",
        min_value=0,
        max_value=86_400,
        help_text="0: no supervision messages. The receiver raises a line fault after a "
        "silence it decides; send well within it.",
    )
    supervision_account = forms.RegexField(
        regex=ACCOUNT_RE,
        max_length=16,
        help_text="The account number NULL messages carry: 3-16 hex digits.",
        error_messages={"invalid": "Use 3 to 16 hex digits (0-9, A-F)."},
    )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in ("adm_cid_blocks", "sia_dcs_blocks"):
            # The verification link always goes first, then the site, then the zone.
            cleaned[name] = [b for b in BLOCKS if b in (cleaned.get(name) or [])]
        return cleaned


SETTINGS_DEFAULTS: dict[str, Any] = {
    "payload": ADM_CID,
    "adm_cid_blocks": DEFAULT_BLOCKS[ADM_CID],
    "sia_dcs_blocks": DEFAULT_BLOCKS[SIA_DCS],
    "key_form": "hex",
    "supervision_seconds": 0,
    "supervision_account": "0000",
}


def check_key(secret: str, settings: Mapping[str, Any]) -> str | None:
    if not secret:
        return None
    try:
        key_bytes(secret, settings.get("key_form", "hex"))
    except ValueError as exc:
        return str(exc)
    return None


def account_problem(number: str) -> str | None:
    if not ACCOUNT_RE.fullmatch(number):
        return "SIA DC-09 carries account numbers of 3 to 16 hex digits (0-9, A-F)."
    return None


def text_problem(text: str) -> str | None:
    odd = sorted({c for c in text if c in _TEXT_FORBIDDEN or not _TEXT_RE.fullmatch(c)})
    if odd:
        shown = " ".join(repr(c) for c in odd[:5])
        return (
            "SIA DC-09 carries printable ASCII letters, digits, spaces and punctuation, without "
            f"[ ] | or ^; not: {shown}."
        )
    return None


def fit_text(text: str) -> str:
    """Text made fit for a DC-09 block at send time (the forms already refuse names DC-09 cannot
    carry; a name stored before, or a receiver that changed protocol, must still not stop an
    alarm)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    kept = "".join(c if c.isprintable() and c not in _TEXT_FORBIDDEN else "?" for c in ascii_text)
    return kept[:TEXT_MAX]


# --- SIA-DCS event codes ------------------------------------------------------------------------

# Contact ID code -> the SIA code for a new event and for a restore (SIA DC-03's vocabulary).
# Codes not listed go as UA/UR (untyped zone alarm/restore); docs/protocol-sia-dc09.md lists them.
_SIA_CODES: dict[str, tuple[str, str]] = {
    **{f"{n}": ("FA", "FR") for n in range(110, 120)},
    "120": ("PA", "PR"),
    **{f"{n}": ("HA", "HR") for n in range(121, 130)},
    **{f"{n}": ("BA", "BR") for n in range(130, 140)},
    "137": ("TA", "TR"),
    "301": ("AT", "AR"),
    "305": ("RR", "RR"),
    "306": ("YG", "YG"),
    "350": ("YC", "YK"),
    "354": ("YC", "YK"),
    "380": ("UT", "UJ"),
    "401": ("OP", "CL"),
    "406": ("OC", "OC"),
    "407": ("OP", "CL"),
    "601": ("RX", "RX"),
    "602": ("RP", "RP"),
}


def sia_code(code: str, restore: bool) -> str:
    new, restored = _SIA_CODES.get(code, ("UA", "UR"))
    return restored if restore else new


# --- frames ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One DC-09 message, read or to be written (``content`` is what follows the ``[``)."""

    token: str
    sequence: int
    receiver: str
    line: str
    account: str
    content: str  # data "]" extended data "_" timestamp, decrypted
    encrypted: bool = False

    @property
    def data(self) -> str:
        return self.content.split("]", 1)[0]

    @property
    def blocks(self) -> dict[str, str]:
        rest = self.content.split("]", 1)[1] if "]" in self.content else ""
        return {m[1][0]: m[1][1:] for m in re.finditer(r"\[([^\[\]]*)\]", rest) if m[1]}

    @property
    def timestamp(self) -> datetime | None:
        found = _TIMESTAMP_RE.search(self.content)
        if found is None:
            return None
        try:
            return datetime.strptime(found[1], _TIMESTAMP_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return None


def header(frame: Frame) -> str:
    star = "*" if frame.encrypted else ""
    receiver = f"R{frame.receiver}" if frame.receiver else ""
    account = f"#{frame.account}" if frame.account else "A0"
    return f'"{star}{frame.token}"{frame.sequence:04d}{receiver}L{frame.line or "0"}{account}'


def wrap(body: str) -> bytes:
    """``body`` (from the first ``"``) as a whole frame: LF, CRC, length, body, CR."""
    data = body.encode("ascii")
    if len(data) > MAX_BODY:
        raise ProtocolError(f"frame too long: {len(data)} characters (limit {MAX_BODY})")
    return b"\n" + f"{crc16(data):04X}0{len(data):03X}".encode() + data + b"\r"


def encode_frame(frame: Frame, key: bytes | None) -> tuple[bytes, bytes]:
    """The frame on the wire, and as a person reads it (decrypted when encrypted)."""
    shown = header(frame) + "[" + frame.content
    if key is None:
        return wrap(shown), wrap(shown)
    return wrap(header(frame) + "[" + encrypt(key, frame.content)), wrap(shown)


def frame_size(buffer: bytes) -> int | None:
    """Bytes of the first complete frame (LF … CR) in ``buffer``; None: more is needed."""
    if not buffer:
        return None
    if buffer[0] != 0x0A:
        raise ProtocolError("not a DC-09 frame (no LF first)")
    end = buffer.find(b"\r")
    if end == -1:
        if len(buffer) > MAX_FRAME:
            raise ProtocolError(f"frame too long (no CR in {MAX_FRAME} bytes)")
        return None
    return end + 1


def decode_frame(data: bytes, key: bytes | None) -> Frame:
    """Read one whole frame, checking its CRC and length; ``ProtocolError`` says what is wrong."""
    if len(data) < 11 or data[:1] != b"\n" or data[-1:] != b"\r":
        raise ProtocolError("not a DC-09 frame")
    body = data[9:-1]
    try:
        crc, length = int(data[1:5], 16), int(data[5:9], 16)
    except ValueError:
        raise ProtocolError("frame has no CRC and length") from None
    if crc16(body) != crc:
        raise ProtocolError("frame CRC does not match")
    if len(body) != length:
        raise ProtocolError("frame length does not match")
    match = _HEADER_RE.fullmatch(body)
    if match is None:
        raise ProtocolError("frame header is not DC-09")
    encrypted = bool(match["star"])
    rest = match["rest"]
    if encrypted and match["token"] != b"NAK":
        if key is None:
            raise ProtocolError("encrypted frame, and no key")
        content = decrypt(key, rest)
    else:
        content = rest.decode("ascii", "replace")
    return Frame(
        token=match["token"].decode(),
        sequence=int(match["seq"]),
        receiver=(match["rcvr"] or b"").decode().upper(),
        line=(match["line"] or b"").decode().upper(),
        account=(match["acct"] or b"").decode().upper(),
        content=content,
        encrypted=encrypted,
    )


def timestamp(now: datetime) -> str:
    return "_" + now.astimezone(UTC).strftime(_TIMESTAMP_FORMAT)


# --- the codec ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    payload: str
    blocks: list[str]
    key: bytes | None
    receiver: str
    line: str
    supervision_seconds: int
    supervision_account: str


def settings_of(receiver: ReceiverConfig) -> Settings:
    values = {**SETTINGS_DEFAULTS, **receiver.settings}
    key = None
    if receiver.secret:
        try:
            key = key_bytes(receiver.secret, values["key_form"])
        except ValueError as exc:
            raise ProtocolError(f"the receiver's key is not usable: {exc}") from None
    payload = values["payload"] if values["payload"] in (ADM_CID, SIA_DCS) else ADM_CID
    blocks_key = "adm_cid_blocks" if payload == ADM_CID else "sia_dcs_blocks"
    number, line = receiver.receiver_number.upper(), receiver.line_number.upper()
    return Settings(
        payload=payload,
        blocks=[b for b in BLOCKS if b in values[blocks_key]],
        key=key,
        # Prefixes a receiver cannot read are left out (R) or sent as 0 (L), never refused.
        receiver=number if HEX_ID_RE.fullmatch(number) else "",
        line=line if HEX_ID_RE.fullmatch(line) else "0",
        supervision_seconds=int(values["supervision_seconds"] or 0),
        supervision_account=values["supervision_account"],
    )


class SiaDc09Codec(Codec):
    protocol = PROTOCOL
    label = "SIA DC-09"
    transports = frozenset({"tcp", "udp"})
    persistent = True
    traffic_supervises = True
    max_reply_bytes = MAX_FRAME
    settings_form = Dc09SettingsForm
    settings_defaults = SETTINGS_DEFAULTS
    # The [S] and [L] blocks; no block carries a camera's name.
    texts = frozenset({SITE_NAME, ZONE_NAME})
    secret = SecretSpec(
        label="Encryption key",
        help_text="AES-128/192/256, typed as the settings say (hex digits or characters); "
        "empty: messages go unencrypted",
        check=check_key,
    )

    def account_problem(self, number: str) -> str | None:
        return account_problem(number)

    def text_problem(self, text: str) -> str | None:
        return text_problem(text)

    def prepare(self, message: Message, receiver: ReceiverConfig) -> bytes:
        problem = account_problem(message.account)
        if problem:
            raise ProtocolError(problem)
        settings_of(receiver)  # a key that cannot be used refuses now, not at every send
        return b""

    def data(self, message: Message, payload: str) -> str:
        if payload == ADM_CID:
            return f"#{message.account}|{message.contact_id}"
        code = sia_code(message.code, restore=message.qualifier == "R")
        return f"#{message.account}|Nri{message.partition:02d}/{code}{message.zone:03d}"

    def build(self, message: Message, prepared: bytes, ctx: SendContext) -> Outgoing:
        settings = settings_of(ctx.receiver)
        texts = {
            "V": message.video_url,
            "S": fit_text(message.site_name),
            "L": fit_text(message.zone_description),
        }
        blocks = [b for b in settings.blocks if texts[b]]
        data = self.data(message, settings.payload)
        sequence = ctx.next_sequence()
        while True:
            content = data + "]" + "".join(f"[{b}{texts[b]}]" for b in blocks) + timestamp(ctx.now)
            frame = Frame(
                token=settings.payload,
                sequence=sequence,
                receiver=settings.receiver,
                line=settings.line,
                account=message.account,
                content=content,
                encrypted=settings.key is not None,
            )
            try:
                wire, shown = encode_frame(frame, settings.key)
                break
            except ProtocolError:
                if not blocks:
                    raise
                blocks.pop()  # too long for one frame: the last block goes, the link stays
        return Outgoing(
            wire=wire,
            shown=shown,
            encrypted=settings.key is not None,
            expect={"sequence": sequence, "account": message.account},
        )

    def reply_size(self, buffer: bytes, *, eof: bool) -> int | None:
        return frame_size(buffer)

    def read_reply(self, data: bytes, sent: Outgoing, ctx: SendContext) -> Reply:
        settings = settings_of(ctx.receiver)
        frame = decode_frame(data, settings.key)
        if frame.token == "NAK":
            receiver_time = frame.timestamp
            if receiver_time is None:
                return Reply(Outcome.RETRY, "NAK", "NAK without the receiver's time")
            return Reply(
                Outcome.RESYNC,
                "NAK",
                f"receiver's clock: {receiver_time:%Y-%m-%d %H:%M:%S} UTC",
                receiver_time=receiver_time,
            )
        expected_sequence, expected_account = sent.expect["sequence"], sent.expect["account"]
        if frame.sequence != expected_sequence or frame.account != expected_account:
            raise ProtocolError(
                f"{frame.token} names sequence {frame.sequence:04d} and account "
                f"{frame.account or '-'}, expected {expected_sequence:04d} and {expected_account}"
            )
        if frame.token == "ACK":
            return Reply(Outcome.DELIVERED, "ACK")
        if frame.token == "DUH":
            return Reply(
                Outcome.REJECTED, "DUH", "the receiver could not understand the message (DUH)"
            )
        raise ProtocolError(f"unexpected reply {frame.token!r}")

    def heartbeat_seconds(self, receiver: ReceiverConfig) -> float | None:
        seconds = int({**SETTINGS_DEFAULTS, **receiver.settings}["supervision_seconds"] or 0)
        return float(seconds) if seconds > 0 else None

    def build_heartbeat(self, ctx: SendContext) -> Outgoing | None:
        settings = settings_of(ctx.receiver)
        sequence = ctx.next_sequence()
        frame = Frame(
            token=NULL,
            sequence=sequence,
            receiver=settings.receiver,
            line=settings.line,
            account=settings.supervision_account,
            content="]" + timestamp(ctx.now),
            encrypted=settings.key is not None,
        )
        wire, shown = encode_frame(frame, settings.key)
        return Outgoing(
            wire=wire,
            shown=shown,
            encrypted=settings.key is not None,
            expect={"sequence": sequence, "account": settings.supervision_account},
        )

    def receiver_side(self, config: ReceiverConfig) -> ReceiverSide:
        return Dc09Receiver(config)


# --- the receiver's side ------------------------------------------------------------------------


@dataclass
class Dc09Receiver(ReceiverSide):
    """A DC-09 receiver: checks CRC and length (a bad one gets no answer, as receivers do),
    decrypts with its key, answers NAK with its own time to a timestamp outside its window, DUH
    to what it cannot read, ACK to the rest. A message that repeats the last one stored for its
    account (same data and extended data) is a duplicate: ACKed, not stored again."""

    config: ReceiverConfig
    clock_skew: timedelta = timedelta(0)
    _last: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        values = {**SETTINGS_DEFAULTS, **self.config.settings}
        self.key = key_bytes(self.config.secret, values["key_form"]) if self.config.secret else None

    def now(self) -> datetime:
        return datetime.now(UTC) + self.clock_skew

    def request_size(self, buffer: bytes, *, eof: bool) -> int | None:
        return frame_size(buffer)

    def _answer(self, token: str, frame: Frame | None) -> bytes:
        if token == "NAK" or frame is None:
            return wrap(f'"NAK"0000R0L0A0[]{timestamp(self.now())}')
        reply = Frame(
            token=token,
            sequence=frame.sequence,
            receiver=frame.receiver,
            line=frame.line,
            account=frame.account,
            content="]" + timestamp(self.now()),
            encrypted=frame.encrypted and self.key is not None,
        )
        return encode_frame(reply, self.key if reply.encrypted else None)[0]

    def handle(self, request: bytes, *, decision: str) -> Heard:
        try:
            frame = decode_frame(request, self.key)
        except ProtocolError as exc:
            if "CRC" in exc.reason or "length" in exc.reason:
                return Heard(None, status="bad-crc", summary=exc.reason)
            return Heard(wrap('"DUH"0000R0L0A0[]'), status="invalid", summary=exc.reason)
        stamp = frame.timestamp
        now = self.now()
        if (frame.encrypted or stamp is not None) and (
            stamp is None or not now - WINDOW_BEHIND <= stamp <= now + WINDOW_AHEAD
        ):
            return Heard(
                self._answer("NAK", frame),
                account=frame.account,
                status="nak",
                summary=f"timestamp {stamp} outside the window",
            )
        if frame.token == NULL:
            return Heard(
                self._answer("ACK", frame),
                account=frame.account,
                status="heartbeat",
                heartbeat=True,
                message=frame,
            )
        if frame.token not in (ADM_CID, SIA_DCS):
            return Heard(self._answer("DUH", frame), account=frame.account, status="invalid")
        summary = f"{frame.token} {frame.data} {frame.blocks}"
        content = frame.content.rsplit("_", 1)[0]
        digest = hashlib.sha256(f"{frame.account}|{content}".encode()).hexdigest()[:16]
        heard: dict[str, Any] = {
            "account": frame.account,
            "reference": digest,
            "summary": summary,
            "message": frame,
        }
        if decision == "retry":
            return Heard(self._answer("NAK", frame), status="rejected", **heard)
        if decision == "failover":
            return Heard(None, status="failover", **heard)
        with self._lock:
            duplicate = self._last.get(frame.account) == content
            self._last[frame.account] = content
        return Heard(
            self._answer("ACK", frame),
            status="duplicate" if duplicate else "accepted",
            accepted=not duplicate,
            duplicate=duplicate,
            **heard,
        )

    def forget(self) -> None:
        with self._lock:
            self._last.clear()
