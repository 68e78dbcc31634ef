"""SIA DC-09: known answers from public material (CRC-16 of published frames, AES from FIPS-197),
frames read by two independent implementations the project does not ship (pysiaalarm, a
receiver; siadc09, primitives) and their answers read by the codec, and every outcome through
the dispatcher against real loopback receivers, over TCP and UDP."""

from __future__ import annotations

import re
import socket
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.utils import timezone

from signals.codecs import sia_dc09
from signals.codecs.base import Outcome, ProtocolError, ReceiverConfig, SendContext
from signals.emulator import Faults, ReceiverEmulator
from signals.models import DeliveryAttempt, Signal
from stations.models import PathHealth, Receiver, ReceiverPath
from tests.factories import NotificationRecipientFactory, SignalFactory
from tests.signals import make_message
from tests.signals.receivers import (
    dispatcher,
    free_port,
    path_to,
    run_once_within,
    scripted_raw,
)

KEY_HEX = "000102030405060708090A0B0C0D0E0F"
KEY_TEXT = "0123456789ABCDEF"  # 16 characters taken as the key's bytes, as pysiaalarm does
NOW = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)


def config(**settings) -> ReceiverConfig:
    secret = settings.pop("secret", "")
    return ReceiverConfig(
        receiver_id=1,
        protocol="sia_dc09",
        receiver_number="1",
        line_number="2",
        settings=settings,
        secret=secret,
    )


def context(receiver: ReceiverConfig, sequence: int = 7, transport: str = "tcp") -> SendContext:
    return SendContext(receiver, transport, NOW, next_sequence=lambda: sequence)


# --- known answers --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "crc", "length"),
    [
        # Published examples of DC-09 frames with their CRC and length fields.
        (b'\n9EC40027"ADM-CID"0001L0#1002[#1002|1602 00 001]\r', 0x9EC4, 0x027),
        (b'\nF4D20029"SIA-DCS"0001RF3L77#1234[#1234|NRR|Atest]\r', 0xF4D2, 0x029),
        (b'\n96ED0016"SIA-DCS"0001L0#1234[]\r', 0x96ED, 0x016),
    ],
)
def test_crc_and_length_of_published_frames(frame: bytes, crc: int, length: int) -> None:
    body = frame[9:-1]
    assert sia_dc09.crc16(body) == crc
    assert len(body) == length
    assert sia_dc09.wrap(body.decode()) == frame
    assert sia_dc09.decode_frame(frame, None).account in ("1002", "1234")


def test_crc16_check_value() -> None:
    assert sia_dc09.crc16(b"123456789") == 0xBB3D  # CRC-16/ARC's published check value


@pytest.mark.parametrize(
    ("key", "cipher"),
    [
        # FIPS-197 appendix C: one block, so CBC with DC-09's all-zero IV equals the cipher.
        ("000102030405060708090a0b0c0d0e0f", "69c4e0d86a7b0430d8cdb78070b4c55a"),
        ("000102030405060708090a0b0c0d0e0f1011121314151617", "dda97ca4864cdfe06eaf70a0ec0d7191"),
        (
            "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
            "8ea2b7ca516745bfeafc49904b496089",
        ),
    ],
    ids=["aes-128", "aes-192", "aes-256"],
)
def test_aes_known_answers(key: str, cipher: str) -> None:
    plain = bytes.fromhex("00112233445566778899aabbccddeeff")
    key_bytes = sia_dc09.key_bytes(key, "hex")
    assert sia_dc09.cbc_encrypt(key_bytes, plain).hex() == cipher
    assert sia_dc09.cbc_decrypt(key_bytes, bytes.fromhex(cipher)) == plain


def test_keys_typed_as_hex_or_as_characters() -> None:
    assert sia_dc09.key_bytes(KEY_HEX, "hex") == bytes(range(16))
    assert sia_dc09.key_bytes(KEY_TEXT, "text") == KEY_TEXT.encode()
    assert len(sia_dc09.key_bytes("ab" * 24, "hex")) == 24
    assert len(sia_dc09.key_bytes("k" * 32, "text")) == 32
    for secret, form in (("abc", "hex"), ("zz" * 16, "hex"), ("short", "text")):
        with pytest.raises(ValueError):
            sia_dc09.key_bytes(secret, form)


# --- building -------------------------------------------------------------------------------------


def test_an_adm_cid_frame_carries_the_event_link_and_time() -> None:
    codec = sia_dc09.SiaDc09Codec()
    message = make_message(account="1234")

    sent = codec.build(message, b"", context(config()))

    body = (
        '"ADM-CID"0007R1L2#1234[#1234|1130 01 017]'
        "[Vhttps://portal.example/monitoring?act=AB1234&zone=017]_05:06:07,03-04-2025"
    )
    assert sent.wire == sent.shown == sia_dc09.wrap(body)
    assert sent.expect == {"sequence": 7, "account": "1234"}
    assert not sent.encrypted


def test_sia_dcs_carries_the_blocks_chosen_for_it_link_first() -> None:
    codec = sia_dc09.SiaDc09Codec()
    message = make_message(account="1234", qualifier="R", site_name="Main St. Café")

    sent = codec.build(message, b"", context(config(payload="SIA-DCS")))

    frame = sia_dc09.decode_frame(sent.wire, None)
    assert frame.token == "SIA-DCS"
    assert frame.data == "#1234|Nri01/BR017"
    assert list(frame.blocks) == ["V", "S", "L"]
    assert frame.blocks["S"] == "Main St. Cafe"  # made fit for DC-09 at send time
    assert frame.blocks["L"] == "Back door"


def test_an_encrypted_frame_hides_its_content_and_shows_it_decrypted() -> None:
    codec = sia_dc09.SiaDc09Codec()
    receiver = config(secret=KEY_HEX)

    sent = codec.build(make_message(account="1234"), b"", context(receiver))

    assert sent.encrypted
    assert b'"*ADM-CID"0007R1L2#1234[' in sent.wire
    # The content is hex on the wire ("1130" alone may turn up in hex by chance).
    assert re.fullmatch(rb"[0-9A-F]+", sent.wire.split(b"[", 1)[1].split(b"\r", 1)[0])
    assert b"|1130 01 017" not in sent.wire
    assert b"#1234|1130 01 017]" in sent.shown
    content = sia_dc09.decode_frame(sent.wire, bytes(range(16))).content
    assert sent.shown.endswith(("[" + content).encode() + b"\r")


def test_accounts_and_texts_dc09_cannot_carry_are_named() -> None:
    codec = sia_dc09.SiaDc09Codec()
    assert codec.account_problem("12AB") is None
    assert "3 to 16 hex digits" in codec.account_problem("AB-12")
    assert "3 to 16 hex digits" in codec.account_problem("12")
    assert codec.text_problem("Main Street 12, back door (rear)") is None
    assert "[ ] | or ^" in codec.text_problem("Site [A]")
    assert "'é'" in codec.text_problem("Café")


# --- replies --------------------------------------------------------------------------------------


def test_an_ack_must_name_the_sequence_and_account_sent() -> None:
    codec = sia_dc09.SiaDc09Codec()
    receiver = config()
    ctx = context(receiver)
    sent = codec.build(make_message(account="1234"), b"", ctx)

    ack = sia_dc09.wrap('"ACK"0007R1L2#1234[]')
    assert codec.read_reply(ack, sent, ctx).outcome is Outcome.DELIVERED
    for wrong in ('"ACK"0008R1L2#1234[]', '"ACK"0007R1L2#9999[]'):
        with pytest.raises(ProtocolError, match="expected 0007 and 1234"):
            codec.read_reply(sia_dc09.wrap(wrong), sent, ctx)


def test_nak_carries_the_receivers_time_and_duh_is_final() -> None:
    codec = sia_dc09.SiaDc09Codec()
    ctx = context(config())
    sent = codec.build(make_message(account="1234"), b"", ctx)

    nak = codec.read_reply(sia_dc09.wrap('"NAK"0000R0L0A0[]_10:11:12,03-04-2025'), sent, ctx)
    duh = codec.read_reply(sia_dc09.wrap('"DUH"0007R1L2#1234[]'), sent, ctx)

    assert (nak.outcome, nak.receiver_time) == (
        Outcome.RESYNC,
        datetime(2025, 3, 4, 10, 11, 12, tzinfo=UTC),
    )
    assert duh.outcome is Outcome.REJECTED and "DUH" in duh.reason


@pytest.mark.parametrize(
    "reply",
    [
        b'\nFFFF0014"ACK"0007R1L2#1234[]\r',  # a CRC that does not match
        b"garbage\r",
        b"\n" + b"A" * 5000,
    ],
    ids=["bad-crc", "garbage", "oversized"],
)
def test_a_reply_that_is_not_a_frame_is_refused(reply: bytes) -> None:
    codec = sia_dc09.SiaDc09Codec()
    ctx = context(config())
    sent = codec.build(make_message(account="1234"), b"", ctx)
    with pytest.raises(ProtocolError):
        if codec.reply_size(reply, eof=True) is None:
            raise ProtocolError("incomplete")
        codec.read_reply(reply, sent, ctx)


# --- independent implementations ------------------------------------------------------------------


def test_pysiaalarm_reads_our_frames_and_we_read_its_acks() -> None:
    import pysiaalarm
    from pysiaalarm import SIAAccount
    from pysiaalarm.event import SIAEvent

    codec = sia_dc09.SiaDc09Codec()
    for secret, key_form in (("", "hex"), (KEY_TEXT, "text")):
        receiver = config(secret=secret, key_form=key_form)
        ctx = SendContext(receiver, "tcp", datetime.now(UTC), next_sequence=lambda: 42)
        sent = codec.build(make_message(account="1234", code="602", zone=0), b"", ctx)
        account = SIAAccount("1234", secret or None, allowed_timeband=None)

        event = SIAEvent.from_line(sent.wire.decode()[1:-1], {"1234": account})

        assert event.valid_message, pysiaalarm.__name__
        assert (event.account, event.sequence, event.encrypted) == ("1234", "0042", bool(secret))
        event.parse_content()
        assert (event.event_qualifier, event.event_type, event.ri) == ("1", "602", "000")
        ack = event.create_response()
        assert codec.read_reply(ack, sent, ctx).outcome is Outcome.DELIVERED


def test_siadc09_reads_our_frames_and_we_read_its_answers() -> None:
    from siadc09 import message as siadc09

    codec = sia_dc09.SiaDc09Codec()
    receiver = config(secret=KEY_HEX)
    ctx = SendContext(receiver, "tcp", datetime.now(UTC), next_sequence=lambda: 9)
    sent = codec.build(make_message(account="1234"), b"", ctx)

    parsed = siadc09.parse_frame(sent.wire, keys=bytes(range(16)))

    assert parsed.idtoken == "ADM-CID" and parsed.seq == 9 and parsed.encrypted
    assert [x.pack(brackets=False)[:1] for x in parsed.xdata] == [b"V"]
    ack = siadc09.AckMessage(parsed.account, seq=9, timestamp=None, encrypted=True)
    assert codec.read_reply(ack.encode(encrypt=True), sent, ctx).outcome is Outcome.DELIVERED
    nak = siadc09.NakMessage(parsed.account).encode()
    assert codec.read_reply(nak, sent, ctx).outcome is Outcome.RESYNC


# --- through the dispatcher, on loopback ----------------------------------------------------------


@pytest.fixture
def dc09_receiver(receiver):
    receiver.protocol = Receiver.Protocol.SIA_DC09
    receiver.receiver_number, receiver.line_number = "1", "2"
    receiver.protocol_settings = {"payload": "ADM-CID", "key_form": "hex"}
    receiver.wire_credential = KEY_HEX
    receiver.save()
    return receiver


@pytest.fixture
def dc09_account(account, dc09_receiver):
    return account  # 3444: hex digits


def dc09_emulator(**kwargs) -> ReceiverEmulator:
    return ReceiverEmulator(
        protocol="sia_dc09", config=config(secret=KEY_HEX, key_form="hex"), seed=5, **kwargs
    )


def test_the_emulator_answers_late_over_udp_without_a_thread_per_answer() -> None:
    """Delayed answers to datagrams wait on the serving loop's timers: thirty of them start no
    thread and each comes when due; stopping drops one not yet due."""
    codec = sia_dc09.SiaDc09Codec()
    now = datetime.now(UTC)
    frames = [
        codec.build(
            make_message(account="1234"),
            b"",
            SendContext(config(), "udp", now, next_sequence=lambda n=n: n),
        ).wire
        for n in range(1, 31)
    ]
    faults = Faults(delay_rate=1.0, delay_seconds=0.4)
    emulator = ReceiverEmulator(protocol="sia_dc09", transport="udp", faults=faults, seed=1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        with emulator:
            threads = threading.active_count()
            started = time.monotonic()
            for frame in frames:
                client.sendto(frame, ("127.0.0.1", emulator.port))
            assert emulator.wait_for_count("delayed", 30, timeout=5)
            assert threading.active_count() == threads
            answers = [client.recv(65_535) for _ in frames]
            assert 0.4 <= time.monotonic() - started < 2.0
            sequences = sorted(re.search(rb'"ACK"(\d{4})', answer)[1] for answer in answers)
            assert sequences == [b"%04d" % n for n in range(1, 31)]
            client.sendto(frames[0], ("127.0.0.1", emulator.port))
            assert emulator.wait_for_count("delayed", 31, timeout=5)
        client.settimeout(0.8)
        with pytest.raises(TimeoutError):
            client.recv(65_535)


@pytest.mark.django_db
@pytest.mark.parametrize("transport", ["tcp", "udp"])
def test_delivered_over_tcp_and_udp_encrypted(dc09_account, dc09_receiver, transport):
    signal = SignalFactory(account=dc09_account, protocol="sia_dc09", payload=b"")
    with dc09_emulator(transport=transport) as emulator:
        path_to(dc09_receiver, emulator.port, transport=transport)
        run_once_within(dispatcher())

    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED and signal.ack_status == "ACK"
    [frame] = emulator.accepted
    assert frame.encrypted and frame.account == "3444" and frame.data == "#3444|1130 01 017"
    attempt = signal.delivery_attempts.get()
    assert attempt.protocol == "sia_dc09" and attempt.sent_was_encrypted
    assert b'"*ADM-CID"' in bytes(attempt.sent) and b"1130 01 017" not in bytes(attempt.sent)
    assert b"#3444|1130 01 017]" in bytes(attempt.sent_decrypted)
    assert KEY_HEX.encode() not in bytes(attempt.sent) + bytes(attempt.sent_decrypted)


@pytest.mark.django_db
def test_a_nak_resynchronises_and_resends_at_once(dc09_account, dc09_receiver):
    signal = SignalFactory(account=dc09_account, protocol="sia_dc09", payload=b"")
    with dc09_emulator() as emulator:
        emulator.side.clock_skew = timedelta(minutes=10)  # the receiver's clock is ahead
        path_to(dc09_receiver, emulator.port)
        run_once_within(dispatcher())

    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    outcomes = list(signal.delivery_attempts.order_by("id").values_list("outcome", flat=True))
    assert outcomes == ["resync", "delivered"]
    assert emulator.counts == {"nak": 1, "accepted": 1}


@pytest.mark.django_db
def test_duh_fails_the_signal_at_once_and_tells_the_dealer(
    dc09_account, dc09_receiver, dealer, django_capture_on_commit_callbacks
):
    told = NotificationRecipientFactory(dealer=dealer)
    signal = SignalFactory(account=dc09_account, protocol="sia_dc09", payload=b"")
    with scripted_raw(lambda data: sia_dc09.wrap('"DUH"0001R1L2#3444[]')) as station:
        path_to(dc09_receiver, station.port)
        with django_capture_on_commit_callbacks(execute=True):
            run_once_within(dispatcher())

    signal.refresh_from_db()
    assert signal.state == Signal.State.FAILED
    assert "DUH" in signal.last_error
    assert [m.to for m in mail.outbox if m.subject.startswith("Signal")] == [[told.email]]
    assert "DUH" in mail.outbox[-1].body


@pytest.mark.django_db
def test_a_bad_crc_gets_no_answer_and_is_retried_as_a_timeout(dc09_account, dc09_receiver):
    signal = SignalFactory(account=dc09_account, protocol="sia_dc09", payload=b"")
    with scripted_raw(lambda data: None) as station:  # silent, as for a bad CRC
        path_to(dc09_receiver, station.port, reply_timeout=0.3)
        run_once_within(dispatcher())

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    assert signal.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.TIMEOUT


@pytest.mark.django_db
@pytest.mark.parametrize(
    "answer",
    [
        lambda data: sia_dc09.wrap('"ACK"9999R1L2#3444[]'),  # another sequence
        lambda data: sia_dc09.wrap('"ACK"0001R1L2#ABCD[]'),  # another account
        lambda data: b"\x00" * 64 + b"\r",
        lambda data: b"\n" + b"7" * 9000,
    ],
    ids=["other-sequence", "other-account", "garbage", "oversized"],
)
def test_a_hostile_answer_is_no_acknowledgement(dc09_account, dc09_receiver, answer):
    signal = SignalFactory(account=dc09_account, protocol="sia_dc09", payload=b"")
    with scripted_raw(answer) as station:
        path_to(dc09_receiver, station.port)
        run_once_within(dispatcher())

    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
    assert signal.delivery_attempts.get().outcome == DeliveryAttempt.Outcome.ERROR


@pytest.mark.django_db
def test_null_supervision_keeps_the_path_up_and_notices_a_dead_receiver(dc09_receiver, settings):
    dc09_receiver.protocol_settings = {"supervision_seconds": 1, "supervision_account": "0000"}
    dc09_receiver.wire_credential = ""
    dc09_receiver.save()
    with ReceiverEmulator(protocol="sia_dc09") as emulator:
        path = path_to(dc09_receiver, emulator.port)
        running = dispatcher()
        assert running.supervisor.run_due() == 1
        assert emulator.counts == {"heartbeat": 1}
        assert PathHealth.objects.get(path=path).state == "up"
        assert running.supervisor.run_due() == 0  # not due again yet, for anyone
    # The receiver goes away; two intervals later its path is down, with no alarm sent.
    ReceiverPath.objects.filter(pk=path.pk).update(port=free_port())
    running.supervisor._loaded_at = float("-inf")
    for _ in range(2):
        an_interval_ago = timezone.now() - timedelta(seconds=1)
        PathHealth.objects.filter(path=path).update(
            heartbeat_due_at=an_interval_ago, last_success_at=an_interval_ago
        )
        running.supervisor._checked_at = float("-inf")
        for supervised in running.supervisor._paths.values():
            supervised.due = float("-inf")
        assert running.supervisor.run_due() == 1
    health = PathHealth.objects.get(path=path)
    assert health.state == "down" and "heartbeat" in health.last_error


# --- what the station configures and the dealer saves ------------------------------------------


@pytest.mark.django_db
def test_an_account_dc09_cannot_carry_is_refused_when_saved(customer, dealer, dc09_receiver):
    from customers import services as customer_services
    from tests.factories import DealerStationFactory

    record = DealerStationFactory(dealer=dealer, receiver=dc09_receiver, name="DC-09 station")
    with pytest.raises(ValidationError) as refused:
        customer_services.account_assign(
            customer=customer, station_record=record, account_number="AB-12"
        )
    assert "3 to 16 hex digits" in refused.value.message_dict["account_number"][0]

    customer.name = "Café Ünal"
    customer.save()
    with pytest.raises(ValidationError) as refused:
        customer_services.account_assign(
            customer=customer, station_record=record, account_number="12AB"
        )
    assert "site's name" in refused.value.message_dict["station_record"][0]
    assert "'é'" in refused.value.message_dict["station_record"][0]

    customer.name = "Cafe Unal"
    customer.save()
    account = customer_services.account_assign(
        customer=customer, station_record=record, account_number="12ab"
    )
    assert account.account_number == "12AB"


@pytest.mark.django_db
def test_a_path_over_a_transport_the_protocol_cannot_use_is_refused(dc09_receiver):
    path = ReceiverPath(receiver=dc09_receiver, transport="https", host="x", port=443)
    with pytest.raises(ValidationError, match="TCP"):
        path.full_clean()
    ReceiverPath(
        receiver=dc09_receiver, transport="udp", host="x", port=9, use_tls=False
    ).full_clean()


@pytest.mark.django_db
def test_the_admin_takes_the_key_once_and_never_shows_it(admin_client, dc09_receiver):
    from django.urls import reverse

    url = reverse("admin:stations_receiver_change", args=[dc09_receiver.pk])
    page = admin_client.get(url).content.decode()
    assert KEY_HEX not in page and "sia_dc09-payload" in page

    form = {
        "station": dc09_receiver.station_id,
        "name": dc09_receiver.name,
        "protocol": "sia_dc09",
        "visibility": dc09_receiver.visibility,
        "receiver_number": "1",
        "line_number": "2",
        "is_active": "on",
        "secret": "abc",
        "sia_dc09-payload": "SIA-DCS",
        "sia_dc09-sia_dcs_blocks": ["L", "V"],
        "sia_dc09-key_form": "hex",
        "sia_dc09-supervision_seconds": "60",
        "sia_dc09-supervision_account": "0000",
        "paths-TOTAL_FORMS": "0",
        "paths-INITIAL_FORMS": "0",
    }
    refused = admin_client.post(url, form)
    assert refused.status_code == 200 and "32, 48 or 64 hex digits" in refused.content.decode()

    form["secret"] = "00112233445566778899AABBCCDDEEFF"
    assert admin_client.post(url, form).status_code == 302
    dc09_receiver.refresh_from_db()
    assert dc09_receiver.wire_credential == "00112233445566778899AABBCCDDEEFF"
    assert dc09_receiver.protocol_settings["payload"] == "SIA-DCS"
    assert dc09_receiver.protocol_settings["sia_dcs_blocks"] == ["V", "L"]  # the link first
    assert "00112233445566778899AABBCCDDEEFF" not in admin_client.get(url).content.decode()
    history = dc09_receiver.history.first()
    assert not hasattr(history, "wire_credential")


@pytest.mark.django_db
def test_the_dealer_sees_the_protocol_the_frame_decrypted_and_the_answer(
    owner_client, customer, dc09_account, dc09_receiver
):
    from django.urls import reverse

    signal = SignalFactory(account=dc09_account, protocol="sia_dc09", payload=b"")
    with dc09_emulator() as emulator:
        path_to(dc09_receiver, emulator.port)
        run_once_within(dispatcher())

    page = owner_client.get(reverse("signals:customer-list", args=[customer.code]))

    html = page.content.decode()
    assert page.status_code == 200 and signal.reference in html
    assert "SIA DC-09" in html
    assert "Decrypted view" in html and "#3444|1130 01 017]" in html
    assert "*ACK" in html  # the receiver's answer as it came
    assert KEY_HEX not in html
