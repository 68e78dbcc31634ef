"""The receiver emulator: duplicates, faults, order, lifecycle and its management command."""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from signals import emulator as emulator_module
from signals.codecs.xml_v1 import (
    HEADER,
    MAX_FRAME_BYTES,
    Ack,
    Status,
    decode_reply,
    encode,
    encode_frame,
    frame_size,
    recv_frame,
)
from signals.emulator import Faults, ReceiverEmulator
from signals.transports import TcpTransport, TransportError
from tests.signals import descriptors_taken, make_package, xml_send

PROJECT_ROOT = Path(__file__).resolve().parents[2]
DC09_KEY = "000102030405060708090A0B0C0D0E0F"
SOS_AUTH = "hxp4x9nnwxjatv8"


@pytest.fixture
def emulator() -> Iterator[ReceiverEmulator]:
    with ReceiverEmulator(seed=1) as running:
        yield running


def send(emulator: ReceiverEmulator, payload: bytes, *, reply_timeout: float = 2.0) -> Ack:
    with TcpTransport("127.0.0.1", emulator.port, reply_timeout=reply_timeout) as transport:
        return decode_reply(xml_send(transport, payload))


def test_a_reference_seen_before_is_answered_duplicate(emulator: ReceiverEmulator) -> None:
    package = make_package(reference="dup-1")

    first = send(emulator, encode(package))
    second = send(emulator, encode(package))

    assert (first.status, second.status) == (Status.ACCEPTED, Status.DUPLICATE)
    assert second.delivered
    assert emulator.accepted == [package]
    assert emulator.counts == {"accepted": 1, "duplicate": 1}


def test_an_invalid_package_is_rejected_with_the_reason(emulator: ReceiverEmulator) -> None:
    valid = encode(make_package(reference="bad-1"))
    invalid = valid.replace(b"<code>130</code>", b"<code>13</code>")

    ack = send(emulator, invalid)

    assert ack.status is Status.REJECTED
    assert ack.reference == "bad-1"  # still addressed to the package it answers
    assert "code" in ack.reason
    assert emulator.accepted == []
    assert emulator.counts == {"invalid": 1}


def test_garbage_is_rejected_with_an_unknown_reference(emulator: ReceiverEmulator) -> None:
    ack = send(emulator, b"\x00\x01 not xml")

    assert (ack.reference, ack.status) == ("unknown", Status.REJECTED)
    assert "well-formed" in ack.reason


def test_a_package_with_a_doctype_is_rejected(emulator: ReceiverEmulator) -> None:
    payload = encode(make_package()).replace(
        b"?>", b'?><!DOCTYPE signal [<!ENTITY x SYSTEM "file:///etc/passwd">]>', 1
    )

    ack = send(emulator, payload)

    assert ack.status is Status.REJECTED
    assert "DOCTYPE" in ack.reason


def test_reject_rate_one_rejects_and_remembers_nothing() -> None:
    package = make_package(reference="rej-1")
    with ReceiverEmulator(faults=Faults(reject_rate=1.0), seed=1) as emulator:
        ack = send(emulator, encode(package))
        emulator.faults = Faults()
        retry = send(emulator, encode(package))

    assert (ack.status, ack.delivered, ack.wants_failover) == (Status.REJECTED, False, False)
    assert retry.status is Status.ACCEPTED  # a rejected reference is not a duplicate later
    assert emulator.accepted == [package]


def test_failover_rate_one_asks_for_the_alternate_path() -> None:
    with ReceiverEmulator(faults=Faults(failover_rate=1.0), seed=1) as emulator:
        ack = send(emulator, encode(make_package()))

    assert ack.status is Status.FAILOVER
    assert ack.wants_failover
    assert emulator.accepted == []


def test_drop_rate_one_stores_but_never_replies_so_the_resend_is_a_duplicate() -> None:
    package = make_package(reference="drop-1")
    with ReceiverEmulator(faults=Faults(drop_rate=1.0), seed=1) as emulator:
        transport = TcpTransport("127.0.0.1", emulator.port, reply_timeout=0.3)
        with pytest.raises(TransportError, match="timeout waiting for reply"):
            xml_send(transport, encode(package))
        # The sender may give up before the emulator's thread got to the package (a busy
        # machine): the faults change only once it has been dropped.
        assert emulator.wait_for_count("dropped", 1, timeout=10)
        emulator.faults = Faults()

        retry = decode_reply(xml_send(transport, encode(package)))
        transport.close()

    assert retry.status is Status.DUPLICATE
    assert emulator.accepted == [package]
    assert emulator.counts == {"accepted": 1, "dropped": 1, "duplicate": 1}


def test_close_rate_one_closes_without_reply_or_record() -> None:
    with ReceiverEmulator(faults=Faults(close_rate=1.0), seed=1) as emulator:
        transport = TcpTransport("127.0.0.1", emulator.port, reply_timeout=2)
        with pytest.raises(TransportError, match="connection closed by receiver"):
            xml_send(transport, encode(make_package()))

    assert not transport.connected
    assert emulator.accepted == []
    assert emulator.counts == {"closed": 1}


def test_delay_rate_one_delays_the_reply() -> None:
    with ReceiverEmulator(faults=Faults(delay_rate=1.0, delay_seconds=0.3), seed=1) as emulator:
        started = time.monotonic()
        ack = send(emulator, encode(make_package(reference="slow-1")), reply_timeout=2)
        elapsed = time.monotonic() - started

        with pytest.raises(TransportError, match="timeout"):
            send(emulator, encode(make_package(reference="slow-2")), reply_timeout=0.1)

    assert ack.status is Status.ACCEPTED
    assert 0.3 <= elapsed < 1.5


def test_fault_rolls_follow_the_seed() -> None:
    faults = Faults(reject_rate=0.3, failover_rate=0.3)
    payloads = [encode(make_package(reference=f"seed-{n}")) for n in range(40)]

    def outcomes(seed: int) -> list[Status | None]:
        emulator = ReceiverEmulator(faults=faults, seed=seed)
        return [emulator.handle_request(encode_frame(payload)).status for payload in payloads]

    first = outcomes(7)
    assert outcomes(7) == first
    assert outcomes(8) != first
    assert {Status.ACCEPTED, Status.REJECTED, Status.FAILOVER} <= set(first)


def test_records_per_account_order_across_clients(emulator: ReceiverEmulator) -> None:
    accounts = ["ACC-1", "ACC-2", "ACC-3", "ACC-4"]
    errors: list[BaseException] = []

    def client(account: str) -> None:
        try:
            with TcpTransport("127.0.0.1", emulator.port, reply_timeout=2) as transport:
                for n in range(25):
                    package = make_package(reference=f"{account}-{n}", account=account, zone=n)
                    assert decode_reply(xml_send(transport, encode(package))).delivered
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(account,)) for account in accounts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    assert len(emulator.accepted) == 100
    for account in accounts:
        assert [p.zone for p in emulator.accepted_for(account)] == list(range(25))
    assert emulator.accepted_for("NOBODY") == []


def test_wait_for_accepted_and_reset(emulator: ReceiverEmulator) -> None:
    assert not emulator.wait_for_accepted(1, timeout=0.05)
    send(emulator, encode(make_package(reference="wait-1")))
    assert emulator.wait_for_accepted(1, timeout=1)

    emulator.reset()

    assert emulator.accepted == []
    assert send(emulator, encode(make_package(reference="wait-1"))).status is Status.ACCEPTED


def test_stop_closes_open_connections_quickly() -> None:
    emulator = ReceiverEmulator().start()
    transport = TcpTransport("127.0.0.1", emulator.port, reply_timeout=1, connect_timeout=1)
    xml_send(transport, encode(make_package()))

    started = time.monotonic()
    emulator.stop()

    assert time.monotonic() - started < 1.0
    with pytest.raises(TransportError):
        xml_send(transport, encode(make_package(reference="after-stop")))


# --- one thread serves every connection: no client holds up another ---------------------------


def connect(emulator: ReceiverEmulator, **options: int) -> socket.socket:
    """A raw client socket; ``options`` are SOL_SOCKET options set before connecting."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    for name, value in options.items():
        sock.setsockopt(socket.SOL_SOCKET, getattr(socket, name), value)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", emulator.port))
    return sock


def read_ack(sock: socket.socket, timeout: float = 5.0) -> Ack:
    document = recv_frame(sock, deadline=time.monotonic() + timeout)
    assert document is not None, "connection closed without a reply"
    return decode_reply(document)


def test_two_requests_in_one_write_are_answered_in_order(emulator: ReceiverEmulator) -> None:
    first, second = make_package(reference="pipe-1"), make_package(reference="pipe-2", zone=18)

    with connect(emulator) as sock:
        sock.sendall(encode_frame(encode(first)) + encode_frame(encode(second)))
        replies = [read_ack(sock), read_ack(sock)]

    assert [(ack.reference, ack.status) for ack in replies] == [
        ("pipe-1", Status.ACCEPTED),
        ("pipe-2", Status.ACCEPTED),
    ]
    assert emulator.accepted == [first, second]


def test_a_request_followed_by_the_end_of_the_stream_is_still_answered(
    emulator: ReceiverEmulator,
) -> None:
    with connect(emulator) as sock:
        sock.sendall(encode_frame(encode(make_package(reference="last-words"))))
        sock.shutdown(socket.SHUT_WR)

        ack = read_ack(sock)
        after = recv_frame(sock, deadline=time.monotonic() + 5)

    assert (ack.reference, ack.status) == ("last-words", Status.ACCEPTED)
    assert after is None  # then the emulator hangs up


def test_a_delayed_reply_holds_up_no_other_connection() -> None:
    faults = Faults(delay_rate=1.0, delay_seconds=1.0)
    with ReceiverEmulator(faults=faults, seed=1) as emulator, connect(emulator) as slow:
        sent = time.monotonic()
        slow.sendall(encode_frame(encode(make_package(reference="slow-1"))))
        assert emulator.wait_for_count("delayed", 1, timeout=5)
        emulator.faults = Faults()

        started = time.monotonic()
        fast = send(emulator, encode(make_package(reference="fast-1")), reply_timeout=0.5)
        fast_elapsed = time.monotonic() - started

        slow_ack = read_ack(slow)
        slow_elapsed = time.monotonic() - sent

    assert (fast.reference, fast.status) == ("fast-1", Status.ACCEPTED)
    assert fast_elapsed < 0.5
    assert (slow_ack.reference, slow_ack.status) == ("slow-1", Status.ACCEPTED)
    assert slow_elapsed >= 1.0


def test_a_delayed_reply_holds_back_what_comes_after_it_on_the_same_connection() -> None:
    faults = Faults(delay_rate=1.0, delay_seconds=0.5)
    with ReceiverEmulator(faults=faults, seed=1) as emulator, connect(emulator) as sock:
        sent = time.monotonic()
        sock.sendall(
            encode_frame(encode(make_package(reference="held-1")))
            + encode_frame(encode(make_package(reference="held-2")))
        )
        assert emulator.wait_for_count("delayed", 1, timeout=5)
        handled_meanwhile = emulator.counts.get("accepted", 0)

        first = read_ack(sock)
        first_at = time.monotonic() - sent
        second = read_ack(sock)
        second_at = time.monotonic() - sent

    assert handled_meanwhile == 1  # the second request waits for the first reply
    assert [first.reference, second.reference] == ["held-1", "held-2"]
    assert 0.5 <= first_at < second_at
    assert second_at >= 1.0  # its own delay began once the first reply was sent


def test_stop_during_a_delay_is_quick_and_never_sends_the_reply() -> None:
    emulator = ReceiverEmulator(faults=Faults(delay_rate=1.0, delay_seconds=30), seed=1).start()
    with connect(emulator) as sock:
        sock.sendall(encode_frame(encode(make_package(reference="never"))))
        assert emulator.wait_for_count("delayed", 1, timeout=5)

        started = time.monotonic()
        emulator.stop()
        elapsed = time.monotonic() - started

        assert recv_frame(sock, deadline=time.monotonic() + 5) is None
    assert elapsed < 1.0
    emulator.stop()  # a second stop does nothing


def test_an_oversize_request_closes_that_connection_only(emulator: ReceiverEmulator) -> None:
    with connect(emulator) as sock:
        sock.sendall(HEADER.pack(MAX_FRAME_BYTES + 1))

        closed = recv_frame(sock, deadline=time.monotonic() + 5)

    assert closed is None
    assert send(emulator, encode(make_package(reference="next"))).status is Status.ACCEPTED


def test_out_of_descriptors_it_pauses_accepting_and_serves_once_they_are_back(
    emulator: ReceiverEmulator,
) -> None:
    with descriptors_taken(limit=2048) as taken:
        os.close(taken.pop())  # one left, for the client
        client = socket.create_connection(("127.0.0.1", emulator.port), timeout=5)
        started = time.process_time()
        time.sleep(0.5)  # the emulator's accept() fails all along
        spent = time.process_time() - started

    assert spent < 0.2  # a loop spinning on the readable listener would take the whole 0.5 s
    with client:
        client.sendall(encode_frame(encode(make_package(reference="after"))))
        reply = decode_reply(recv_frame(client, deadline=time.monotonic() + 5))
    assert reply.status is Status.ACCEPTED


def test_a_client_that_leaves_a_burst_of_replies_unread_holds_up_no_one(
    emulator: ReceiverEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    """The emulator reads no more from a client that leaves its replies unread (as a blocking
    send would), without stopping for anyone else; the client gets every reply once it reads."""
    caplog.set_level(logging.WARNING, logger="signals.emulator")  # not two lines per request
    # Empty packages are refused fast with 211 bytes each: 25,000 make 5 MB of replies, more
    # than the emulator keeps (256 KiB) plus what loopback TCP buffers between the two (the
    # emulator's send buffer grows to 4 MiB at most by default; the client's is kept small).
    blocks, empties = 25, 999
    burst = b"".join(
        encode_frame(encode(make_package(reference=f"burst-{n}"))) + encode_frame(b"") * empties
        for n in range(blocks)
    )
    total = blocks * (1 + empties)
    with connect(emulator, SO_RCVBUF=4096) as greedy:
        greedy.sendall(burst)  # about 125 kB: the emulator's receive buffer takes it all

        handled = -1
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # until it stops answering the unread client
            now_handled = sum(emulator.counts.values())
            if now_handled == handled:
                break
            handled = now_handled
            time.sleep(0.3)
        assert 0 < handled < total

        started = time.monotonic()
        other = send(emulator, encode(make_package(reference="other")), reply_timeout=1)
        other_elapsed = time.monotonic() - started

        greedy.settimeout(10)
        received = b""
        references: list[str] = []
        while len(references) < total:
            chunk = greedy.recv(1 << 20)
            assert chunk, "the emulator closed the connection"
            received += chunk
            while (size := frame_size(received)) is not None:
                found = re.search(rb"<reference>([^<]*)</reference>", received[:size])
                assert found is not None
                references.append(found[1].decode())
                received = received[size:]

    assert other.status is Status.ACCEPTED
    assert other_elapsed < 1.0
    expected = [[f"burst-{n}"] + ["unknown"] * empties for n in range(blocks)]
    assert references == [reference for block in expected for reference in block]
    accepted = [p.reference for p in emulator.accepted]
    assert [r for r in accepted if r != "other"] == [f"burst-{n}" for n in range(blocks)]
    assert "other" in accepted


def test_a_client_stalling_its_tls_handshake_holds_up_no_other(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    with ReceiverEmulator(ssl_context=server_context) as emulator:
        silent = connect(emulator)  # connects and says nothing
        halfway = connect(emulator)
        halfway.sendall(b"\x16\x03\x01\x00\xc8\x01\x00")  # the start of a ClientHello
        time.sleep(0.1)  # both accepted and waiting in their handshakes

        started = time.monotonic()
        with TcpTransport(
            "127.0.0.1",
            emulator.port,
            use_tls=True,
            ssl_context=client_context,
            connect_timeout=1,
            reply_timeout=1,
        ) as transport:
            ack = decode_reply(xml_send(transport, encode(make_package(reference="tls-ok"))))
        elapsed = time.monotonic() - started

        stop_started = time.monotonic()
        emulator.stop()
        stop_elapsed = time.monotonic() - stop_started
        silent.close()
        halfway.close()

    assert (ack.reference, ack.status) == ("tls-ok", Status.ACCEPTED)
    assert elapsed < 1.0
    assert stop_elapsed < 1.0  # stopping does not wait for the stalled handshakes either


def test_a_stalled_tls_handshake_is_given_up(
    server_context: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emulator_module, "TLS_HANDSHAKE_TIMEOUT", 0.2)
    with ReceiverEmulator(ssl_context=server_context) as emulator, connect(emulator) as silent:
        started = time.monotonic()
        closed = silent.recv(1)
        elapsed = time.monotonic() - started

    assert closed == b""  # the emulator hung up
    assert 0.1 <= elapsed < 2.0


def test_refuses_a_non_loopback_host_unless_allowed() -> None:
    with pytest.raises(ValueError, match="non-loopback"):
        ReceiverEmulator("0.0.0.0")
    assert ReceiverEmulator("0.0.0.0", allow_remote=True).port == 0  # constructed, never bound
    assert ReceiverEmulator("::1").host == "::1"


@pytest.mark.parametrize(
    "kwargs", [{"reject_rate": 1.5}, {"drop_rate": -0.1}, {"delay_seconds": -1.0}]
)
def test_faults_refuse_impossible_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Faults(**kwargs)


# --- the management command ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "loopback"),
        (["--host", "receiver.example"], "loopback"),
        (["--tls-cert", "cert.pem"], "go together"),
        # One secret for a DC-09 and an SOS Access listener fits neither: name each.
        (
            ["--listen", "sia_dc09:0", "--listen", "sos_access_v4:0", "--secret", DC09_KEY],
            "secret for sos_access_v4:0:tcp is no authentication of SOS Access v4",
        ),
        (["--listen", "sia_dc09:0", "--secret", "sia_dc09=not-hex"], "hex key"),
        (["--secret", "xml_v1=anything"], "has no secret"),
        (["--listen", "sia_dc09:0", "--secret", "sos_access_v4=hxp4x9nnwxjatv8"], "no --listen"),
        (["--secret", "A", "--secret", "B"], "given twice"),
    ],
)
def test_run_receiver_refuses_bad_arguments(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        call_command("run_receiver", *args)


def test_run_receiver_serves_logs_and_stops_on_sigterm() -> None:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"}
    process = subprocess.Popen(
        [sys.executable, "-u", "manage.py", "run_receiver", "--port", "0", "--seed", "3"],
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
        address = next(line for line in lines if "tcp://" in line).split()[3]
        port = int(address.rsplit(":", 1)[1])
        with TcpTransport("127.0.0.1", port, reply_timeout=5) as transport:
            payload = encode(make_package(reference="cmd-1", zone=42))
            ack = decode_reply(xml_send(transport, payload))
        process.send_signal(signal.SIGTERM)
        process.wait(10)
        reader.join(5)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)

    assert ack.status is Status.ACCEPTED
    assert process.returncode == 0, output
    assert "xml_v1 account=AB1234 reference=cmd-1 code=E130 zone=042" in output
    assert "reply accepted reference=cmd-1" in output
    assert "Receiver stopped; frames: accepted 1" in output


def test_run_receiver_gives_each_listener_its_own_secret() -> None:
    """A DC-09 listener decrypts with its key while the SOS Access one next to it checks its
    own authentication (one shared --secret could not be both)."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "portal.settings_test"}
    process = subprocess.Popen(
        [
            sys.executable, "-u", "manage.py", "run_receiver",
            "--listen", "sia_dc09:0", "--listen", "sos_access_v4:0",
            "--secret", f"sia_dc09={DC09_KEY}", "--secret", f"sos_access_v4={SOS_AUTH}",
            "--setting", "key_form=hex",
        ],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines: list[str] = []
    both = threading.Event()

    def read_output() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if sum(text.startswith("Receiver listening") for text in lines) == 2:
                both.set()

    threading.Thread(target=read_output, daemon=True).start()
    try:
        assert both.wait(15), f"run_receiver did not start: {''.join(lines)!r}"
        ports = {
            line.split("(")[1].split(")")[0]: int(line.split()[3].rsplit(":", 1)[1])
            for line in lines
            if line.startswith("Receiver listening")
        }
        dc09 = _exchange("sia_dc09", ports["sia_dc09"], DC09_KEY)
        sos_right = _exchange("sos_access_v4", ports["sos_access_v4"], SOS_AUTH)
        sos_wrong = _exchange("sos_access_v4", ports["sos_access_v4"], "another-15-char")
        process.send_signal(signal.SIGTERM)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert (dc09.outcome, dc09.status) == ("delivered", "ACK")
    assert (sos_right.outcome, sos_right.status) == ("delivered", "0")
    assert (sos_wrong.outcome, sos_wrong.status) == ("rejected", "4")
    assert process.returncode == 0, "".join(lines)
    assert DC09_KEY not in "".join(lines) and SOS_AUTH not in "".join(lines)


def _exchange(protocol: str, port: int, secret: str):
    """One alarm built by the portal's codec with ``secret``, over loopback TCP; the reply as
    the codec reads it."""
    from signals import codecs
    from signals.codecs.base import ReceiverConfig, SendContext
    from tests.signals import make_message

    codec = codecs.codec_for(protocol)
    receiver = ReceiverConfig(
        receiver_id=1,
        protocol=protocol,
        receiver_number="1",
        line_number="2",
        settings={
            **codec.settings_defaults,
            "key_form": "hex",
            "receiver": "42",
            "transmitter_type": "SV300",
        },
        secret=secret,
    )
    context = SendContext(receiver, "tcp", datetime.now(UTC), next_sequence=lambda: 1)
    sent = codec.build(make_message(account="1234"), b"", context)
    with TcpTransport("127.0.0.1", port, reply_timeout=5, persistent=False) as transport:
        data = transport.exchange(sent.wire, lambda b, eof: codec.reply_size(b, eof=eof))
    return codec.read_reply(data, sent, context)
