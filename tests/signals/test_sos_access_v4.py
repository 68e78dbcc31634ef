"""The SOS Access v4 codec on its own: the telegrams it builds (read back by the tests' own,
independent parser), the event-code mapping, every field limit, the status table, and replies
that are not answers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from signals.codecs import codec_for, sia_codes
from signals.codecs.base import Outcome, ProtocolError, Qualifier, ReceiverConfig, SendContext
from signals.codecs.sos_access_v4 import (
    MASK,
    MAX_TELEGRAM,
    SosAccessCodec,
    SosAccessSettingsForm,
    Status,
    event_code,
    format_time,
    parse_overrides,
)
from tests.signals import make_message
from tests.signals.sos_receivers import parse, response

AUTH = "hxp4x9nnwxjatv8"
SETTINGS = {"receiver": "42", "transmitter_type": "SV300", "link_transmitter_code": "PORTAL1"}


def config(**overrides: Any) -> ReceiverConfig:
    values: dict[str, Any] = {
        "receiver_id": 1,
        "protocol": "sos_access_v4",
        "settings": SETTINGS,
        "secret": AUTH,
    }
    values.update(overrides)
    return ReceiverConfig(**values)


def context(**overrides: Any) -> SendContext:
    return SendContext(receiver=config(**overrides), transport="tcp", now=datetime.now(UTC))


@pytest.fixture
def codec() -> SosAccessCodec:
    found = codec_for("sos_access_v4")
    assert isinstance(found, SosAccessCodec)
    return found


def build(codec: SosAccessCodec, **message: Any):
    return codec.build(make_message(**message), b"", context())


# --- the telegram --------------------------------------------------------------------------


def test_an_alarm_telegram_carries_every_field_the_issue_names(codec):
    sent = build(codec, account="3444", site_name="Zürich Store")

    heard = parse(sent.wire)  # the tests' own parser, not the codec's

    assert heard.kind == "alarmrequest"
    assert heard.fields == {
        "reference": "sig-0001",
        "authentication": AUTH,
        "receiver": "42",
        "transmittertime": "2025-03-04 05:06:07.000",
        "alarmtype": "AL",
        "transmittertype": "SV300",
        "transmittercode": "3444",
        "eventcode": "BA",
        "section": "01",
        "sectiontext": "Loading bay",
        "detector": "017",
        "detectortext": "Back door",
        "additionalinfo": (
            "https://portal.example/monitoring?act=AB1234&zone=017\n"
            "Site: Zürich Store\n"
            "Zone 017: Back door\n"
            "Camera: Loading bay\n"
            "Contact ID: 1130 01 017"
        ),
    }
    assert sent.wire.startswith(b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<alarmrequest>')
    assert b"Z\xfcrich" in sent.wire  # ISO-8859-1 on the wire, one byte for the umlaut
    assert sent.expect == {"kind": "alarmrequest", "reference": "sig-0001"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2025, 3, 4, 5, 6, 7, 89_999, tzinfo=UTC), "2025-03-04 05:06:07.089"),
        # strftime's %Y writes "999": the format's year has four digits, always.
        (datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), "0999-12-31 23:59:59.000"),
    ],
)
def test_times_have_the_formats_23_characters(value, expected):
    assert format_time(value) == expected


def test_what_the_portal_keeps_is_the_telegram_with_the_authentication_masked(codec):
    sent = build(codec)

    assert AUTH.encode() in sent.wire
    assert AUTH.encode() not in sent.shown
    assert sent.shown == sent.wire.replace(AUTH.encode(), MASK.encode())
    assert not sent.encrypted
    assert AUTH not in repr(codec.alarm_request(make_message(), config()))


def test_the_receiver_falls_back_to_the_receiver_number(codec):
    cfg = config(settings={**SETTINGS, "receiver": ""}, receiver_number="R7")

    request = codec.alarm_request(make_message(), cfg)

    assert request.receiver == "R7"


def test_a_restore_is_RE_with_the_alarm_code(codec):
    sent = build(codec, qualifier=Qualifier.RESTORE, code="110")

    fields = parse(sent.wire).fields
    assert (fields["alarmtype"], fields["eventcode"]) == ("RE", "FA")


@pytest.mark.parametrize(
    ("qualifier", "code", "style", "expected"),
    [
        ("E", "130", "sia", ("BA", "AL")),
        ("R", "130", "sia", ("BA", "RE")),
        ("E", "110", "sia", ("FA", "AL")),
        ("E", "120", "sia", ("PA", "AL")),
        ("E", "301", "sia", ("AT", "AL")),
        ("R", "301", "sia", ("AT", "RE")),
        ("E", "350", "sia", ("YC", "AL")),
        ("E", "380", "sia", ("UT", "AL")),
        ("E", "407", "sia", ("OQ", "AL")),  # remote disarm: an opening
        ("R", "407", "sia", ("CQ", "AL")),  # remote arm: a closing, not a "restore"
        ("E", "602", "sia", ("RP", "AL")),
        ("P", "602", "sia", ("RP", "AL")),
        ("E", "601", "sia", ("RX", "AL")),
        ("E", "199", "sia", ("UA", "AL")),  # not listed: its family's generic code
        ("E", "970", "sia", ("UA", "AL")),
        ("E", "130", "contact_id", ("130", "AL")),
        ("R", "130", "contact_id", ("130", "RE")),
        ("R", "407", "contact_id", ("407", "RE")),
    ],
)
def test_event_codes(qualifier, code, style, expected):
    message = make_message(qualifier=qualifier, code=code)

    assert event_code(message, {"event_codes": style}) == expected


def test_overrides_win_the_qualified_one_first():
    settings = {"event_codes": "sia", "event_code_overrides": "606=LF\nR407=CL\n407 = XX\n# x"}

    assert event_code(make_message(code="606"), settings) == ("LF", "AL")
    assert event_code(make_message(code="407", qualifier="R"), settings) == ("CL", "AL")
    assert event_code(make_message(code="407", qualifier="E"), settings) == ("XX", "AL")
    with pytest.raises(ValueError, match="line 1"):
        parse_overrides("130 BA")


def test_every_portal_default_code_has_an_explicit_sia_code():
    from signals.lib import DEFAULT_CODES

    assert {code for code in DEFAULT_CODES.values() if code not in sia_codes.TABLE} <= {
        "420",
        "606",
        "610",
    }


def test_free_text_is_cut_to_its_field_and_made_printable(codec):
    long_name = "Très long nom de la zone de la porte arrière, côté jardin"
    sent = build(codec, zone_description=long_name, camera_description="Kamera Łódź\t😀")

    fields = parse(sent.wire).fields
    assert fields["detectortext"] == long_name[:40].strip()
    assert fields["sectiontext"] == "Kamera ?ód? ?"
    assert f"Zone 017: {long_name}" in fields["additionalinfo"]  # in full there


def test_additionalinfo_never_passes_2000_and_drops_a_link_it_cannot_carry_whole(codec):
    url = "https://portal.example/monitoring?act=3444&zone=017&x=" + "a" * 2100

    fields = parse(build(codec, video_url=url).wire).fields

    assert len(fields["additionalinfo"]) <= 2000
    assert "https://" not in fields["additionalinfo"]
    assert fields["additionalinfo"].startswith("Site: Main Street Store")


def test_system_events_carry_zone_000_and_no_texts(codec):
    fields = parse(
        build(codec, zone=0, code="602", zone_description="", camera_description="").wire
    ).fields

    assert (fields["detector"], fields["eventcode"]) == ("000", "RP")
    assert "detectortext" not in fields and "sectiontext" not in fields


def test_an_account_the_protocol_cannot_carry_is_refused_before_any_bytes(codec):
    assert codec.account_problem("1234567890ABCDE") is None
    assert "1-15" in codec.account_problem("1234567890ABCDEF")
    with pytest.raises(ProtocolError, match="1-15"):
        codec.prepare(make_message(account="1234567890ABCDEF"), config())


def test_texts_outside_iso_8859_1_are_refused_by_the_text_rule(codec):
    assert codec.text_problem("Café Zürich \u2013 Süd") is not None  # an en dash
    assert codec.text_problem("Café Zürich - Süd") is None
    assert "'Ł'" in codec.text_problem("Łódź")


@pytest.mark.parametrize("secret", ["", "short", "x" * 16, "hxp4x9nnwxjat\x01v"])
def test_no_telegram_without_a_valid_authentication(codec, secret):
    with pytest.raises(ProtocolError, match="authentication"):
        codec.build(make_message(), b"", context(secret=secret))


def test_settings_that_break_the_protocol_are_not_sent(codec):
    bad = SendContext(
        receiver=config(settings={**SETTINGS, "transmitter_type": "SV30"}),
        transport="tcp",
        now=datetime.now(UTC),
    )
    with pytest.raises(ProtocolError, match="transmittertype"):
        codec.build(make_message(), b"", bad)


def test_the_heartbeat_and_the_rotation_carry_the_portals_own_transmitter_code(codec):
    ping = parse(codec.build_heartbeat(context()).wire)
    rotation = parse(codec.build_secret_rotation(context()).wire)

    assert ping.kind == "pingrequest"
    assert rotation.kind == "requestnewauthentication"
    for heard in (ping, rotation):
        assert heard.fields["transmittercode"] == "PORTAL1"
        assert heard.fields["authentication"] == AUTH
        assert heard.fields["reference"].startswith(("ping-", "auth-"))
    assert (
        ping.fields["reference"] != parse(codec.build_heartbeat(context()).wire).fields["reference"]
    )


@pytest.mark.parametrize(
    ("level", "pings", "expected"),
    [(90_000, 3, 30_000), (18_000, 6, 3_000), (180, 3, 60), (90, 2, 45), (0, 3, None)],
)
def test_heartbeat_interval_is_the_service_level_over_the_pings(codec, level, pings, expected):
    cfg = config(settings={**SETTINGS, "heartbeat_level": level, "pings_per_interval": pings})

    assert codec.heartbeat_seconds(cfg) == expected


def test_no_heartbeat_without_the_portals_transmitter_code_or_a_secret(codec):
    assert (
        codec.heartbeat_seconds(config(settings={**SETTINGS, "link_transmitter_code": ""})) is None
    )
    assert codec.heartbeat_seconds(config(secret="")) is None


# --- replies -----------------------------------------------------------------------------------


ALARM_STATUSES = [
    (0, Outcome.DELIVERED),
    (10, Outcome.DUPLICATE),
    (5, Outcome.FAILOVER),
    (99, Outcome.FAILOVER),
    (4, Outcome.REJECTED),
    (98, Outcome.RETRY),
    (1, Outcome.REJECTED),
    (2, Outcome.REJECTED),
    (3, Outcome.REJECTED),
    (7, Outcome.REJECTED),
    (100, Outcome.REJECTED),
    (9, Outcome.RETRY),  # meaningless for an alarm: not stored, try again
    (101, Outcome.RETRY),
    (42, Outcome.RETRY),  # unknown
]


@pytest.mark.parametrize(("status", "outcome"), ALARM_STATUSES)
def test_every_alarm_status(codec, status, outcome):
    sent = build(codec)

    reply = codec.read_reply(response("alarmrequest", status, "sig-0001"), sent, context())

    assert (reply.outcome, reply.status) == (outcome, str(status))
    assert reply.facts == {}
    if status in Status._value2member_map_:
        assert reply.reason.startswith(Status(status).name)


def test_a_refusal_for_good_says_why(codec):
    reply = codec.read_reply(
        response("alarmrequest", 4, "sig-0001", info="NOT_AUTHORIZED"), build(codec), context()
    )

    assert reply.reason == (
        "NOT_AUTHORIZED: not authorised: wrong transmitter code, receiver or authentication"
    )


@pytest.mark.parametrize(
    ("status", "outcome", "slower"),
    [
        (0, Outcome.DELIVERED, None),
        (101, Outcome.DELIVERED, "45000"),  # 25 h level: two pings per level at the most
        (9, Outcome.REJECTED, "45000"),
        (4, Outcome.REJECTED, None),
        (5, Outcome.FAILOVER, None),
        (98, Outcome.RETRY, None),
    ],
)
def test_ping_statuses(codec, status, outcome, slower):
    sent = codec.build_heartbeat(context())

    reply = codec.read_reply(
        response("pingrequest", status, sent.expect["reference"]), sent, context()
    )

    assert reply.outcome == outcome
    assert reply.facts.get("heartbeat_seconds") == slower


def test_101_slows_a_90_second_level_to_45_seconds(codec):
    ctx = context(settings={**SETTINGS, "heartbeat_level": 90})
    sent = codec.build_heartbeat(ctx)

    reply = codec.read_reply(response("pingrequest", 101, sent.expect["reference"]), sent, ctx)

    assert reply.facts == {"heartbeat_seconds": "45"}


def test_a_confirmed_rotation_carries_the_new_secret_hidden_from_reprs(codec):
    sent = codec.build_secret_rotation(context())
    data = response(
        "requestnewauthentication",
        0,
        sent.expect["reference"],
        extra="<newauthentication>NEWpassword0001</newauthentication>",
    )

    reply = codec.read_reply(data, sent, context())

    assert reply.outcome is Outcome.DELIVERED
    assert reply.facts["new_secret"] == "NEWpassword0001"
    assert "NEWpassword0001" not in repr(reply)
    assert b"NEWpassword0001" not in codec.reply_shown(data, context())


@pytest.mark.parametrize(
    "extra",
    [
        "",
        "<newauthentication>short</newauthentication>",
        "<newauthentication>sixteen-chars-xx</newauthentication>",
    ],
)
def test_an_ok_rotation_without_a_usable_secret_is_no_answer(codec, extra):
    sent = codec.build_secret_rotation(context())
    data = response("requestnewauthentication", 0, sent.expect["reference"], extra=extra)

    with pytest.raises(ProtocolError, match="new authentication"):
        codec.read_reply(data, sent, context())


def test_the_public_examples_authentication_element_is_read_too(codec):
    sent = codec.build_secret_rotation(context())
    data = response(
        "requestnewauthentication",
        0,
        sent.expect["reference"],
        extra="<authentication>8usedlb54a234md</authentication>",
    )

    assert codec.read_reply(data, sent, context()).facts["new_secret"] == "8usedlb54a234md"


HOSTILE = {
    "another reference": response("alarmrequest", 0, "sig-0002"),
    "no reference": response("alarmrequest", 0, None),
    "another kind": response("pingrequest", 0, "sig-0001"),
    "garbage": b"\x00\xff\x13 hello",
    "not xml": b'<?xml version="1.0" encoding="ISO-8859-1"?>\n<alarmresponse><status>0',
    "entity bomb": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<alarmresponse><reference>sig-0001</reference><status>&b;</status></alarmresponse>"
    ),
    "external entity": (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<alarmresponse><reference>sig-0001</reference><status>0</status>"
        b"<info>&x;</info></alarmresponse>"
    ),
    "utf-16": response("alarmrequest", 0, "sig-0001").decode("latin-1").encode("utf-16"),
    "declared utf-16": response("alarmrequest", 0, "sig-0001").replace(b"ISO-8859-1", b"UTF-16"),
    "status twice": response("alarmrequest", 0, "sig-0001").replace(
        b"<info>", b"<status>4</status><info>"
    ),
    "no status": response("alarmrequest", 0, "sig-0001").replace(b"<status>0</status>", b""),
    "status not a number": response("alarmrequest", 0, "sig-0001").replace(b">0<", b">OK<"),
    "namespaced": response("alarmrequest", 0, "sig-0001").replace(
        b"<alarmresponse>", b'<alarmresponse xmlns="urn:x">'
    ),
}


@pytest.mark.parametrize("name", HOSTILE)
def test_a_reply_that_is_not_an_answer_is_an_error(codec, name):
    with pytest.raises(ProtocolError):
        codec.read_reply(HOSTILE[name], build(codec), context())


def test_a_reply_ends_with_its_root_element_or_the_connection(codec):
    whole = response("alarmrequest", 0, "sig-0001") + b"\r\n"

    assert codec.reply_size(whole[:-30], eof=False) is None
    assert codec.reply_size(whole, eof=False) == len(whole)
    assert codec.reply_size(whole[:-30], eof=True) == len(whole) - 30
    with pytest.raises(ProtocolError, match="too long"):
        codec.reply_size(b"<alarmresponse>" + b" " * MAX_TELEGRAM, eof=False)


def test_utf8_replies_are_read_as_utf8(codec):
    data = (
        response("alarmrequest", 98, "sig-0001", info="Fel på servern")
        .decode("latin-1")
        .replace("ISO-8859-1", "UTF-8")
        .encode("utf-8")
    )

    reply = codec.read_reply(data, build(codec), context())

    assert reply.reason.endswith("(receiver: Fel på servern)")


# --- the settings form ---------------------------------------------------------------------


def valid_settings(**overrides: Any) -> dict[str, Any]:
    data = {
        "receiver": "42",
        "transmitter_type": "SV300",
        "link_transmitter_code": "PORTAL1",
        "event_codes": "sia",
        "event_code_overrides": "",
        "heartbeat_level": "180",
        "pings_per_interval": "3",
    }
    data.update(overrides)
    return data


def test_the_settings_form_keeps_what_the_codec_reads():
    form = SosAccessSettingsForm(data=valid_settings())

    assert form.is_valid(), form.errors
    assert form.cleaned_data["heartbeat_level"] == 180


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("transmitter_type", "SV30"),
        ("receiver", "x" * 21),
        ("receiver", "Łódź"),
        ("pings_per_interval", "1"),
        ("pings_per_interval", "7"),
        ("event_code_overrides", "130 BA"),
        ("link_transmitter_code", ""),  # heartbeats need it
        ("event_codes", "dc09"),
    ],
)
def test_the_settings_form_refuses_what_the_protocol_cannot_carry(field, value):
    form = SosAccessSettingsForm(data=valid_settings(**{field: value}))

    assert not form.is_valid()
    assert field in form.errors


def test_the_secret_rule_is_the_protocols(codec):
    assert codec.secret is not None
    assert codec.secret.check(AUTH, {}) is None
    assert "15" in codec.secret.check("x" * 14, {})


# --- the docs ---------------------------------------------------------------------------------


def test_the_worked_examples_in_the_docs_are_what_the_codec_sends(codec):
    from pathlib import Path

    from signals.codecs.base import Message
    from signals.codecs.sos_access_v4 import Kind, encode_response

    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol-sos-access-v4.md").read_text()
    blocks = [block.split("```", 1)[0] for block in doc.split("```xml\n")[1:]]
    message = Message(
        reference="7f3c2a9e-5b1d-4c8e-9a60-2f4b8d1e0c37",
        account="3444",
        qualifier="E",
        code="134",
        partition=1,
        zone=17,
        priority=3,
        event_time=datetime(2025, 3, 4, 5, 6, 7, 250000, tzinfo=UTC),
        site_name="Café Zürich",
        zone_description="Back door",
        camera_description="Back door camera",
        video_url="https://portal.example.com/monitoring?act=3444&zone=017",
    )

    alarm = codec.build(message, b"", context()).wire.decode("iso-8859-1")
    answer = encode_response(
        Kind.ALARM,
        0,
        reference=message.reference,
        arrival=datetime(2025, 3, 4, 5, 6, 8, 123000, tzinfo=UTC),
    ).decode("iso-8859-1")

    assert blocks[0] == alarm
    assert blocks[1] == answer
    ping = codec.build_heartbeat(context()).wire.decode("iso-8859-1")
    assert blocks[2].replace("ping-3e31315d31169082", "REF") == ping.replace(
        parse(ping.encode("iso-8859-1")).fields["reference"], "REF"
    )
