"""Portal XML v1: packages validate and say what they should; replies are untrusted input."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from lxml import etree

from signals.codecs import xml_v1, xmlsafe
from signals.codecs.base import Outcome, ReceiverConfig, SendContext
from signals.codecs.xml_v1 import (
    MAX_REPLY_BYTES,
    Ack,
    ProtocolError,
    Qualifier,
    Status,
    XmlV1Codec,
    decode_package,
    decode_reply,
    encode,
    encode_reply,
    validate_package,
    xml_safe,
)
from tests.signals import make_message, make_package

SCHEMAS = xml_v1.SCHEMA_DIR
NS = {"s": "urn:dealer-portal:signal:v1"}


def schema(name: str) -> etree.XMLSchema:
    # Loaded here from the file, not through the module's cache: the test checks the shipped XSD.
    return etree.XMLSchema(etree.parse(str(SCHEMAS / name)))


def parse(data: bytes) -> etree._Element:
    return etree.fromstring(data)


def xpath_text(root: etree._Element, path: str) -> str:
    (value,) = root.xpath(path, namespaces=NS)
    return str(value)


# --- packages -----------------------------------------------------------------------------------


def test_package_validates_against_the_xsd_and_carries_every_field() -> None:
    data = encode(make_package(), sent_at=datetime(2025, 3, 4, 5, 6, 9, tzinfo=UTC))

    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse(data)
    schema("signal-v1.xsd").assertValid(root)
    assert xpath_text(root, "/s:signal/@version") == "1"
    assert xpath_text(root, "/s:signal/s:reference/text()") == "sig-0001"
    assert xpath_text(root, "/s:signal/s:account/text()") == "AB1234"
    assert xpath_text(root, "/s:signal/s:receiver/@number") == "R1"
    assert xpath_text(root, "/s:signal/s:receiver/@line") == "L2"
    assert xpath_text(root, "/s:signal/s:event/s:qualifier/text()") == "E"
    assert xpath_text(root, "/s:signal/s:event/s:code/text()") == "130"
    assert xpath_text(root, "/s:signal/s:event/s:partition/text()") == "01"
    assert xpath_text(root, "/s:signal/s:event/s:zone/text()") == "017"
    assert xpath_text(root, "/s:signal/s:event/s:priority/text()") == "3"
    assert xpath_text(root, "/s:signal/s:event/s:eventTime/text()") == "2025-03-04T05:06:07Z"
    assert xpath_text(root, "/s:signal/s:site/s:name/text()") == "Main Street Store"
    assert xpath_text(root, "/s:signal/s:site/s:zoneDescription/text()") == "Back door"
    assert xpath_text(root, "/s:signal/s:site/s:cameraDescription/text()") == "Loading bay"
    assert (
        xpath_text(root, "/s:signal/s:site/s:videoUrl/text()")
        == "https://portal.example/monitoring?act=AB1234&zone=017"
    )
    assert xpath_text(root, "/s:signal/s:sentAt/text()") == "2025-03-04T05:06:09Z"


def test_blank_optional_fields_are_left_out() -> None:
    package = make_package(
        zone_description="",
        camera_description="",
        video_url="",
        receiver_number="",
        receiver_line="",
    )
    root = parse(encode(package))

    schema("signal-v1.xsd").assertValid(root)
    assert root.xpath("/s:signal/s:receiver", namespaces=NS) == []
    assert [el.tag.split("}")[1] for el in root.find("s:site", NS)] == ["name"]
    assert root.xpath("/s:signal/s:sentAt", namespaces=NS) == []


def test_package_round_trips() -> None:
    package = make_package(qualifier="R", code="602", partition=0, zone=0, priority=9)

    decoded = decode_package(encode(package))

    assert decoded == package
    assert decoded.qualifier is Qualifier.RESTORE
    validate_package(encode(package))


@pytest.mark.parametrize(
    ("qualifier", "digit"), [(Qualifier.NEW, 1), (Qualifier.RESTORE, 3), (Qualifier.STATUS, 6)]
)
def test_qualifier_maps_to_the_contact_id_digit(qualifier: Qualifier, digit: int) -> None:
    assert make_package(qualifier=qualifier).contact_id_qualifier == digit


def test_event_time_in_another_offset_is_sent_as_the_same_instant_in_utc() -> None:
    local = datetime(2025, 3, 4, 7, 6, 7, tzinfo=timezone(timedelta(hours=2)))
    root = parse(encode(make_package(event_time=local)))

    assert xpath_text(root, "/s:signal/s:event/s:eventTime/text()") == "2025-03-04T05:06:07Z"


def test_a_naive_event_time_cannot_make_a_package() -> None:
    with pytest.raises(ValueError, match="event_time"):
        make_package(event_time=datetime(2025, 3, 4, 5, 6, 7))


@pytest.mark.parametrize("event_time", ["2025-03-04T05:06:07", "2025-03-04T05:06:07.250"])
def test_the_schema_refuses_an_event_time_without_an_offset(event_time: str) -> None:
    data = encode(make_package()).replace(
        b"<eventTime>2025-03-04T05:06:07Z</eventTime>",
        f"<eventTime>{event_time}</eventTime>".encode(),
    )
    assert f"<eventTime>{event_time}<".encode() in data
    assert not schema("signal-v1.xsd").validate(parse(data))

    with pytest.raises(ProtocolError, match="schema"):
        validate_package(data)
    with pytest.raises(ProtocolError):
        decode_package(data)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("reference", ""),
        ("reference", "has space"),
        ("reference", "x" * 65),
        ("account", "ab12"),
        ("account", "A" * 21),
        ("qualifier", "X"),
        ("code", "13"),
        ("code", "1300"),
        ("partition", 100),
        ("zone", 1000),
        ("zone", -1),
        ("priority", 0),
        ("priority", 10),
        ("site_name", ""),
        ("receiver_number", "R 1"),
        ("video_url", "javascript:alert(1)"),
        ("video_url", "https://portal.example/a b"),
    ],
)
def test_package_refuses_bad_structured_values(field: str, value: object) -> None:
    with pytest.raises(ValueError):
        make_package(**{field: value})


HOSTILE_TEXTS = [
    "<script>alert('x')</script>",
    "Smith & Sons",
    "]]> <![CDATA[ x ]]>",
    "bell\x07 nul\x00 esc\x1b del\x7f",
    "\ufffe\uffff",
    "lone \ud800 surrogate",
    "alarm 🚨 café 日本",
    "line one\r\nline two\ttab",
    "\"quotes\" and 'apostrophes'",
]


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_user_text_round_trips_safely(text: str) -> None:
    package = make_package(site_name=text, zone_description=text, camera_description=text)

    data = encode(package)

    schema("signal-v1.xsd").assertValid(parse(data))
    assert b"<script>" not in data
    decoded = decode_package(data)
    assert decoded.site_name == xml_safe(text)
    assert decoded.zone_description == xml_safe(text)
    assert decoded.camera_description == xml_safe(text)


def test_illegal_characters_become_the_replacement_character() -> None:
    assert xml_safe("a\x00b\x1bc\ud800d\ufffe") == "a\ufffdb\ufffdc\ufffdd\ufffd"
    assert xml_safe("tab\tnew\nline\r") == "tab\tnew\nline\r"


def test_overlong_text_is_cut_to_the_schema_limits() -> None:
    package = make_package(site_name="n" * 500, zone_description="z" * 500)

    decoded = decode_package(encode(package))

    assert decoded.site_name == "n" * 200
    assert decoded.zone_description == "z" * 200


@settings(max_examples=150, deadline=None)
@given(
    site_name=st.text(st.characters(exclude_categories=()), min_size=1, max_size=300),
    zone_description=st.text(st.characters(exclude_categories=()), max_size=300),
)
def test_any_text_gives_a_valid_package(site_name: str, zone_description: str) -> None:
    data = encode(make_package(site_name=site_name, zone_description=zone_description))

    validate_package(data)
    decoded = decode_package(data)
    assert decoded.site_name == xml_safe(site_name, 200)
    assert decoded.zone_description == xml_safe(zone_description, 200)


def test_validate_package_refuses_a_reply_and_garbage() -> None:
    with pytest.raises(ProtocolError, match="root element"):
        validate_package(encode_reply("sig-0001", Status.ACCEPTED))
    with pytest.raises(ProtocolError, match="well-formed"):
        validate_package(b"<signal")


# --- replies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "delivered", "wants_failover"),
    [
        (Status.ACCEPTED, True, False),
        (Status.DUPLICATE, True, False),
        (Status.REJECTED, False, False),
        (Status.FAILOVER, False, True),
    ],
)
def test_reply_round_trips_with_what_the_sender_should_do(
    status: Status, delivered: bool, wants_failover: bool
) -> None:
    received_at = datetime(2025, 3, 4, 5, 6, 8, tzinfo=UTC)
    data = encode_reply("sig-0001", status, "because <reasons> & more", received_at=received_at)

    root = parse(data)
    schema("reply-v1.xsd").assertValid(root)
    assert xpath_text(root, "/s:reply/s:status/text()") == status.value
    ack = decode_reply(data, expected_reference="sig-0001")
    assert ack == Ack("sig-0001", status, "because <reasons> & more")
    assert ack.received_at == received_at
    assert ack.delivered is delivered
    assert ack.wants_failover is wants_failover


@settings(max_examples=300, deadline=None)
@given(
    reference=st.from_regex(r"[A-Za-z0-9-]{1,64}", fullmatch=True),
    status=st.sampled_from(Status),
    reason=st.sampled_from(
        [
            "",
            "emulated rejection: try again later",
            "emulated failover: use the alternate path",
            "because <reasons> & more",
            # A reason holding one of the marks the template is cut at: built as a tree.
            "see REPLY-REFERENCE-MARK",
            "at 1999-12-31T23:59:58.123456Z",
        ]
    ),
    received_at=st.datetimes(
        min_value=datetime(1970, 1, 2),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=5, minutes=30))]
        ),
    ),
)
# A whole second: written without a fraction, shorter than the mark's time.
@example(
    reference="sig-0001",
    status=Status.ACCEPTED,
    reason="",
    received_at=datetime(2026, 11, 30, 23, 0, 0, tzinfo=timezone(timedelta(hours=1))),
)
def test_a_templated_reply_is_the_built_reply_byte_for_byte(
    reference: str, status: Status, reason: str, received_at: datetime
) -> None:
    """The receiver's replies come from a template cut out of encode_reply's bytes once per
    status and reason: they must be exactly what encode_reply builds and validates."""
    built = encode_reply(reference, status, reason, received_at=received_at)
    assert xml_v1.templated_reply(reference, status, reason, received_at=received_at) == built


def test_a_templated_reply_refuses_a_reference_it_would_have_to_escape() -> None:
    with pytest.raises(ValueError, match="invalid reference"):
        xml_v1.templated_reply("a<b", Status.ACCEPTED, received_at=datetime.now(UTC))


def test_the_codec_prepares_the_package_once_and_frames_it_per_transport() -> None:
    codec = XmlV1Codec()
    message = make_message()
    receiver = ReceiverConfig(receiver_id=1, protocol="xml_v1", receiver_number="R1")

    prepared = codec.prepare(message, receiver)
    over_tcp = codec.build(message, prepared, SendContext(receiver, "tcp", datetime.now(UTC)))
    over_https = codec.build(message, prepared, SendContext(receiver, "https", datetime.now(UTC)))

    package = decode_package(prepared)
    assert (package.reference, package.account, package.receiver_number) == (
        message.reference,
        message.account,
        "R1",
    )
    assert over_tcp.wire == xml_v1.encode_frame(prepared) and over_tcp.shown == prepared
    assert over_https.wire == prepared
    reply = encode_reply(message.reference, "duplicate")
    answer = codec.read_reply(
        xml_v1.encode_frame(reply), over_tcp, SendContext(receiver, "tcp", datetime.now(UTC))
    )
    assert (answer.outcome, answer.status) == (Outcome.DUPLICATE, "duplicate")
    with pytest.raises(ProtocolError, match="expected"):
        codec.read_reply(
            xml_v1.encode_frame(encode_reply("another", "accepted")),
            over_tcp,
            SendContext(receiver, "tcp", datetime.now(UTC)),
        )


def test_a_reply_for_another_reference_is_an_error() -> None:
    with pytest.raises(ProtocolError, match="expected 'sig-0001'"):
        decode_reply(encode_reply("sig-0002", Status.ACCEPTED), expected_reference="sig-0001")


def reply_xml(body: str, *, prolog: str = "") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<reply xmlns="urn:dealer-portal:signal:v1" version="1">{body}</reply>'
    ).encode()


LAUGHS = "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)).replace(
    "&lol0;" * 10, "lol"
)

HOSTILE_REPLIES = {
    "external entity": reply_xml(
        "<reference>&xxe;</reference><status>accepted</status>",
        prolog='<!DOCTYPE reply [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    ),
    "billion laughs": reply_xml(
        "<reference>a</reference><status>accepted</status><reason>&lol9;</reason>",
        prolog=f"<!DOCTYPE reply [{LAUGHS}]>",
    ),
    "internal subset": reply_xml(
        "<reference>a</reference><status>accepted</status>",
        prolog='<!DOCTYPE reply [<!ELEMENT reply ANY><!ATTLIST reply version CDATA "1">]>',
    ),
    "external dtd": reply_xml(
        "<reference>a</reference><status>accepted</status>",
        prolog='<!DOCTYPE reply SYSTEM "http://127.0.0.1:9/evil.dtd">',
    ),
    "parameter entity": reply_xml(
        "<reference>a</reference><status>accepted</status>",
        prolog='<!DOCTYPE r [<!ENTITY % p SYSTEM "file:///etc/passwd"> %p;]>',
    ),
    "lower-case doctype": reply_xml(
        "<reference>a</reference><status>accepted</status>",
        prolog='<!doctype reply [<!ENTITY x "y">]>',
    ),
    "utf-16 entity bomb": reply_xml(
        "<reference>a</reference><status>accepted</status><reason>&lol9;</reason>",
        prolog=f"<!DOCTYPE reply [{LAUGHS}]>",
    )
    .decode()
    .replace('encoding="UTF-8"', 'encoding="UTF-16"')
    .encode("utf-16"),
    "utf-7 declaration": b'<?xml version="1.0" encoding="UTF-7"?>+ADw-!DOCTYPE reply+AD4-<reply/>',
    "undefined entity": reply_xml("<reference>&xxe;</reference><status>accepted</status>"),
    "not xml": b"HTTP/1.1 200 OK\r\n\r\nACK",
    "empty": b"",
    "blank": b" \r\n\t ",
    "truncated": reply_xml("<reference>a</reference><status>accepted</status>")[:-9],
    "wrong root": encode(make_package()),
    "wrong namespace": b'<reply xmlns="urn:other" version="1"><reference>a</reference>'
    b"<status>accepted</status></reply>",
    "no namespace": b'<reply version="1"><reference>a</reference><status>accepted</status></reply>',
    "unknown status": reply_xml("<reference>a</reference><status>ok</status>"),
    "missing reference": reply_xml("<status>accepted</status>"),
    "bad reference": reply_xml("<reference>a b</reference><status>accepted</status>"),
    "reason too long": reply_xml(
        f"<reference>a</reference><status>rejected</status><reason>{'r' * 501}</reason>"
    ),
    "received without offset": reply_xml(
        "<reference>a</reference><status>accepted</status>"
        "<receivedAt>2025-03-04T05:06:07</receivedAt>"
    ),
    "wrong version": reply_xml("<reference>a</reference><status>accepted</status>").replace(
        b'version="1"', b'version="2"'
    ),
    "oversize": reply_xml(
        "<reference>a</reference><status>accepted</status>" + " " * MAX_REPLY_BYTES
    ),
    "deep nesting": b"<reply>" + b"<a>" * 100_000 + b"</a>" * 100_000 + b"</reply>",
}


@pytest.mark.parametrize("data", HOSTILE_REPLIES.values(), ids=HOSTILE_REPLIES.keys())
def test_hostile_replies_raise_protocol_error_quickly_and_harmlessly(data: bytes) -> None:
    started = time.monotonic()

    with pytest.raises(ProtocolError) as caught:
        decode_reply(data)

    assert time.monotonic() - started < 1.0
    assert caught.value.reason
    assert "root:" not in caught.value.reason  # nothing from /etc/passwd leaked into the error


def test_a_refused_reply_leaves_nothing_behind_for_the_next_one() -> None:
    """A thread reads every reply with the same parser: whatever a hostile reply did to it, the
    good reply read next is read as if it came first."""
    good = encode_reply("sig-0001", Status.ACCEPTED, received_at=None)
    for name, data in HOSTILE_REPLIES.items():
        with pytest.raises(ProtocolError):
            decode_reply(data)
        assert decode_reply(good, expected_reference="sig-0001") == Ack(
            "sig-0001", Status.ACCEPTED
        ), name


def test_the_doctype_refusal_names_the_problem() -> None:
    with pytest.raises(ProtocolError, match="DOCTYPE"):
        decode_reply(HOSTILE_REPLIES["billion laughs"])


def test_comments_and_processing_instructions_are_ignored_in_a_reply() -> None:
    data = reply_xml(
        "<!-- hello --><reference>a</reference><?pi x?><status>accepted</status>"
    ).replace(b"<reply", b"<!-- before --><reply")

    assert decode_reply(data) == Ack("a", Status.ACCEPTED)


def test_threads_validate_at_once_each_with_its_own_schema() -> None:
    """A dispatcher's lanes and the emulator's connections validate at the same time: each
    thread uses schemas it built itself (never one shared across threads), and every thread's
    answers stay right, valid and invalid alike."""
    import threading

    good = encode_reply("sig-0001", Status.ACCEPTED, received_at=None)
    bad = good.replace(b"accepted", b"maybe")
    seen: dict[int, object] = {}
    parsers: dict[int, object] = {}
    failures: list[str] = []
    start = threading.Barrier(6)

    def work() -> None:
        start.wait()
        seen[threading.get_ident()] = xml_v1._reply_schema()
        parsers[threading.get_ident()] = xmlsafe._parser("utf-8")
        for _ in range(300):
            if decode_reply(good, expected_reference="sig-0001").status != Status.ACCEPTED:
                failures.append("a valid reply was misread")
            try:
                decode_reply(bad, expected_reference="sig-0001")
                failures.append("an invalid reply was accepted")
            except ProtocolError as exc:
                if "schema" not in exc.reason:
                    failures.append(exc.reason)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
    assert len({id(schema) for schema in seen.values()}) == len(threads)
    assert len({id(parser) for parser in parsers.values()}) == len(threads)
