"""The SOS Access v4 receiver side of the emulator: strict about what it reads, answering each
status as the protocol has it (duplicates by reference, the emulator's faults, pings and 101,
rotation), over real loopback sockets. Requests are written by hand here, not by the codec."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from signals.codecs.base import ReceiverConfig
from signals.codecs.sos_access_v4 import MAX_TELEGRAM, Kind, Request, encode_request
from signals.emulator import Faults, ReceiverEmulator
from signals.transports import TcpTransport
from tests.signals.sos_receivers import HEADER

AUTH = "hxp4x9nnwxjatv8"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alarm(reference: str = "ref-1", *, auth: str = AUTH, **fields: str) -> bytes:
    values = {
        "reference": reference,
        "authentication": auth,
        "receiver": "42",
        "alarmtype": "AL",
        "transmittertype": "SV300",
        "transmittercode": "1234567",
        "eventcode": "BA",
    }
    values.update(fields)
    body = "".join(f"<{name}>{value}</{name}>" for name, value in values.items() if value)
    return f"{HEADER}\n<alarmrequest>{body}</alarmrequest>".encode("iso-8859-1")


def link(kind: str, reference: str = "ping-1", *, auth: str = AUTH, code: str = "PORTAL1") -> bytes:
    body = (
        f"<authentication>{auth}</authentication><reference>{reference}</reference>"
        f"<transmittercode>{code}</transmittercode><transmittertype>SV300</transmittertype>"
    )
    return f"{HEADER}\n<{kind}>{body}</{kind}>".encode("iso-8859-1")


def status_of(reply: bytes) -> int:
    start = reply.index(b"<status>") + len(b"<status>")
    return int(reply[start : reply.index(b"</status>")])


def exchange(emulator: ReceiverEmulator, data: bytes) -> bytes:
    """One request on a connection of its own, as the protocol has it."""
    with TcpTransport(
        "127.0.0.1",
        emulator.port,
        reply_timeout=3.0,
        persistent=False,
        max_reply_bytes=MAX_TELEGRAM,
    ) as transport:
        return transport.exchange(data, _response_size)


def _response_size(buffer: bytes, eof: bool) -> int | None:
    return len(buffer) if buffer.rstrip().endswith(b"response>") else None


def exchange_then_hang_up(emulator: ReceiverEmulator, data: bytes) -> bytes:
    """Send, close our side (a request whose end the receiver cannot find ends there), read the
    whole answer."""
    with socket.create_connection(("127.0.0.1", emulator.port), timeout=3) as sock:
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        reply = b""
        while not _response_size(reply, False):
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
    return reply


@pytest.fixture
def emulator() -> Iterator[ReceiverEmulator]:
    config = ReceiverConfig(receiver_id=0, protocol="sos_access_v4", secret=AUTH)
    with ReceiverEmulator(protocol="sos_access_v4", config=config, seed=1) as running:
        yield running


def test_an_alarm_is_accepted_once_and_its_repeat_is_10(emulator):
    first = exchange(emulator, alarm("dup-1"))
    second = exchange(emulator, alarm("dup-1"))

    assert (status_of(first), status_of(second)) == (0, 10)
    assert b"<reference>dup-1</reference>" in first
    assert b"<arrivaltime>" in first
    (message,) = emulator.accepted
    assert (message.transmittercode, message.eventcode, message.reference) == (
        "1234567",
        "BA",
        "dup-1",
    )
    assert emulator.counts == {"accepted": 1, "duplicate": 1}


def test_the_same_reference_from_another_transmitter_is_another_alarm(emulator):
    exchange(emulator, alarm("r-1"))

    assert status_of(exchange(emulator, alarm("r-1", transmittercode="999"))) == 0


def test_the_public_minimal_example_is_accepted(emulator):
    # The protocol's own minimal example: no reference at all.
    data = alarm("", auth=AUTH)

    assert status_of(exchange(emulator, data)) == 0


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (alarm().replace(HEADER.encode(), b""), 100),
        (alarm().replace(b"ISO-8859-1", b"UTF-16"), 100),
        (alarm(sectiontext="Z\xfcrich").replace(b"ISO-8859-1", b"UTF-8"), 100),  # not ASCII
        (alarm().replace(b"</alarmrequest>", b"</alarmreq>"), 2),
        (
            alarm().replace(
                b"?>", b'?><!DOCTYPE a [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]>', 1
            ),
            2,
        ),
        (alarm(eventcode="&b;"), 2),
        (alarm().replace(b"alarmrequest>", b"alarmreq>"), 2),
        (alarm(colour="red"), 3),
        (alarm(eventcode="B" * 26), 3),
        (alarm(transmittercode="1234567890123456"), 3),
        (alarm(alarmtype="XX"), 3),
        (alarm(transmittertype="SV30"), 3),
        (alarm(sectiontext="tab\there"), 3),
        (alarm(transmittertime="yesterday"), 3),
        (alarm(receiver=""), 7),
        (alarm(eventcode=""), 7),
        (alarm(auth="wrong-password!"), 4),
    ],
)
def test_a_request_the_protocol_does_not_allow_gets_its_status(emulator, data, status):
    reply = exchange_then_hang_up(emulator, data)

    assert status_of(reply) == status
    assert emulator.accepted == []


def test_a_telegram_over_100000_characters_is_1(emulator):
    data = alarm(additionalinfo="x" * 1000).replace(b"</alarmrequest>", b" " * MAX_TELEGRAM)

    with TcpTransport("127.0.0.1", emulator.port, reply_timeout=5.0, persistent=False) as transport:
        reply = transport.exchange(data, _response_size)

    assert status_of(reply) == 1


def test_a_utf8_declaration_is_understood_when_the_telegram_is_ascii(emulator):
    assert status_of(exchange(emulator, alarm().replace(b"ISO-8859-1", b"utf-8"))) == 0


def test_faults_answer_98_and_5_and_store_nothing():
    with ReceiverEmulator(
        protocol="sos_access_v4", faults=Faults(reject_rate=1.0), seed=1
    ) as emulator:
        assert status_of(exchange(emulator, alarm("f-1"))) == 98
        emulator.faults = Faults(failover_rate=1.0)
        assert status_of(exchange(emulator, alarm("f-1"))) == 5
        emulator.faults = Faults()
        assert status_of(exchange(emulator, alarm("f-1"))) == 0  # not a duplicate

    assert [m.reference for m in emulator.accepted] == ["f-1"]


def test_without_a_configured_secret_any_authentication_is_taken():
    with ReceiverEmulator(protocol="sos_access_v4", seed=1) as emulator:
        assert status_of(exchange(emulator, alarm(auth="any-15-chars-ok"))) == 0


def test_pings_are_answered_and_too_many_get_101(emulator):
    first = exchange(emulator, link("pingrequest", "p-1"))
    second = exchange(emulator, link("pingrequest", "p-2"))
    other = exchange(emulator, link("pingrequest", "p-3", code="OTHER"))

    assert (status_of(first), status_of(second), status_of(other)) == (0, 101, 0)
    assert b"<pingresponse>" in first and b"<reference>p-2</reference>" in second
    assert emulator.counts == {"heartbeat": 2, "ping_too_often": 1}
    assert emulator.accepted == []


def test_pings_far_enough_apart_are_answered_0():
    config = ReceiverConfig(
        receiver_id=0, protocol="sos_access_v4", settings={"emulator_min_ping_seconds": 0.2}
    )
    with ReceiverEmulator(protocol="sos_access_v4", config=config, seed=1) as emulator:
        first = status_of(exchange(emulator, link("pingrequest", "p-1")))
        time.sleep(0.25)
        second = status_of(exchange(emulator, link("pingrequest", "p-2")))

    assert (first, second) == (0, 0)


def test_a_receiver_without_heartbeat_service_answers_9():
    config = ReceiverConfig(
        receiver_id=0, protocol="sos_access_v4", settings={"emulator_heartbeat_service": "false"}
    )
    with ReceiverEmulator(protocol="sos_access_v4", config=config, seed=1) as emulator:
        assert status_of(exchange(emulator, link("pingrequest"))) == 9


def test_rotation_hands_out_a_password_that_retires_the_old_one_when_first_used(emulator):
    reply = exchange(emulator, link("requestnewauthentication", "auth-1"))

    assert status_of(reply) == 0
    start = reply.index(b"<newauthentication>") + len(b"<newauthentication>")
    new = reply[start : start + 15].decode()
    assert len(new) == 15 and new != AUTH
    # Until the new one is used, the old one still works ...
    assert status_of(exchange(emulator, alarm("a-1"))) == 0
    # ... the first use of the new one retires it.
    assert status_of(exchange(emulator, alarm("a-2", auth=new))) == 0
    assert status_of(exchange(emulator, alarm("a-3"))) == 4
    assert status_of(exchange(emulator, link("pingrequest", auth=new))) == 0


def test_rotation_with_a_wrong_password_is_4(emulator):
    reply = exchange(emulator, link("requestnewauthentication", auth="wrong-password!"))

    assert status_of(reply) == 4
    assert b"<newauthentication>" not in reply


def test_many_transmitters_at_once(emulator):
    errors: list[BaseException] = []

    def send(n: int) -> None:
        try:
            assert status_of(exchange(emulator, alarm(f"c-{n}", transmittercode=str(n)))) == 0
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert len(emulator.accepted) == 20


def test_the_codecs_requests_pass_the_receivers_own_checks():
    request = Request(
        kind=Kind.ALARM,
        authentication=AUTH,
        transmittercode="3444",
        transmittertype="SV300",
        receiver="42",
        eventcode="BA",
        reference="x",
    )
    assert request.problem() is None
    with pytest.raises(Exception, match="transmittertype"):
        encode_request(Request(**{**request.__dict__, "transmittertype": "SV3000"}))


def test_run_receiver_speaks_sos_access_on_a_listener_and_stops_on_sigterm() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"}
    process = subprocess.Popen(
        [
            sys.executable,
            "-u",
            "manage.py",
            "run_receiver",
            "--listen",
            "sos_access_v4:0",
            "--secret",
            AUTH,
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    listening = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Receiver listening on tcp://"):
                listening.set()

    reader = threading.Thread(target=read_output, daemon=True)
    reader.start()
    try:
        assert listening.wait(15), f"run_receiver did not start: {''.join(lines)!r}"
        line = next(line for line in lines if "tcp://" in line)
        port = int(line.split()[3].rsplit(":", 1)[1])
        with TcpTransport("127.0.0.1", port, reply_timeout=5, persistent=False) as transport:
            reply = transport.exchange(alarm("cmd-1"), _response_size)
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        reader.join(5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)

    assert status_of(reply) == 0
    assert process.returncode == 0, output
    assert "(sos_access_v4)" in output
    assert "sos_access_v4 account=1234567 reference=cmd-1 AL BA" in output
    assert AUTH not in output
