"""Framing and transports, against real loopback servers (no mocked sockets)."""

from __future__ import annotations

import http.server
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import pytest
import trustme

from signals.codecs.base import ProtocolError
from signals.codecs.xml_v1 import (
    HEADER,
    MAX_FRAME_BYTES,
    Status,
    decode_package,
    decode_reply,
    encode,
    encode_frame,
    encode_reply,
    recv_frame,
)
from signals.emulator import ReceiverEmulator
from signals.transports import HttpsTransport, TcpTransport, TransportError, UdpTransport
from tests.signals import descriptors_taken, make_package, xml_send


@pytest.fixture
def emulator() -> Iterator[ReceiverEmulator]:
    with ReceiverEmulator() as running:
        yield running


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def raw_server(behaviour: Callable[[socket.socket], None]) -> Iterator[int]:
    """A one-connection loopback server that runs ``behaviour`` on the accepted socket."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    done = threading.Event()

    def serve() -> None:
        conn, _ = listener.accept()
        # The client hanging up on a misbehaving server is the point of these tests.
        with conn, suppress(OSError):
            behaviour(conn)
            done.wait(5)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        listener.close()


# --- framing ------------------------------------------------------------------------------------


def test_a_frame_is_a_big_endian_length_and_the_bytes() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x00\x03abc"
    assert encode_frame(b"") == b"\x00\x00\x00\x00"


def test_recv_frame_reads_frames_split_across_packets_and_sees_a_clean_close() -> None:
    left, right = socket.socketpair()
    with left, right:
        data = encode_frame(b"first") + encode_frame(b"second")
        for index in range(len(data)):
            left.sendall(data[index : index + 1])
        left.close()

        assert recv_frame(right) == b"first"
        assert recv_frame(right) == b"second"
        assert recv_frame(right) is None


def test_recv_frame_refuses_a_close_in_mid_frame() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(HEADER.pack(10) + b"short")
        left.close()

        with pytest.raises(ConnectionError, match="mid-frame"):
            recv_frame(right)


def test_frames_over_the_limit_are_refused_both_ways() -> None:
    with pytest.raises(ProtocolError, match="too large"):
        encode_frame(b"x" * (MAX_FRAME_BYTES + 1))

    left, right = socket.socketpair()
    with left, right:
        left.sendall(HEADER.pack(MAX_FRAME_BYTES + 1))
        with pytest.raises(ConnectionError, match="too large"):
            recv_frame(right)


def test_recv_frame_deadline_covers_the_whole_frame() -> None:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(HEADER.pack(10) + b"abc")
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            recv_frame(right, deadline=time.monotonic() + 0.2)
        assert time.monotonic() - started < 1.0


# --- TCP ----------------------------------------------------------------------------------------


def test_tcp_round_trip_through_the_emulator(emulator: ReceiverEmulator) -> None:
    package = make_package()

    with TcpTransport("127.0.0.1", emulator.port, reply_timeout=2) as transport:
        ack = decode_reply(xml_send(transport, encode(package)), expected_reference="sig-0001")

    assert ack.status is Status.ACCEPTED
    assert emulator.accepted == [package]


def test_one_connection_carries_many_sends_in_order(emulator: ReceiverEmulator) -> None:
    packages = [make_package(reference=f"sig-{n:04d}", zone=n) for n in range(50)]

    with TcpTransport("127.0.0.1", emulator.port, reply_timeout=2) as transport:
        replies = [decode_reply(xml_send(transport, encode(package))) for package in packages]

        assert transport.connections_opened == 1
    assert [reply.reference for reply in replies] == [p.reference for p in packages]
    assert all(reply.status is Status.ACCEPTED for reply in replies)
    assert emulator.accepted == packages


def test_a_connection_the_receiver_closed_while_idle_is_replaced_before_sending() -> None:
    with (
        ReceiverEmulator(idle_timeout=0.1) as emulator,
        TcpTransport("127.0.0.1", emulator.port, reply_timeout=2) as transport,
    ):
        xml_send(transport, encode(make_package(reference="first")))
        time.sleep(0.4)  # the emulator closes the idle connection after 0.1 s

        reply = decode_reply(xml_send(transport, encode(make_package(reference="second"))))

        assert reply.status is Status.ACCEPTED
        assert transport.connections_opened == 2


@pytest.fixture
def low_descriptors_taken() -> Iterator[None]:
    """Every descriptor below 1100 in use, so the next socket gets a number past select's 1024."""
    with descriptors_taken(limit=1200, below=1100):
        yield


@pytest.mark.usefixtures("low_descriptors_taken")
def test_an_idle_connection_on_a_high_descriptor_is_kept(emulator: ReceiverEmulator) -> None:
    with TcpTransport("127.0.0.1", emulator.port, reply_timeout=2) as transport:
        xml_send(transport, encode(make_package(reference="first")))
        assert transport._sock is not None and transport._sock.fileno() >= 1024

        reply = decode_reply(xml_send(transport, encode(make_package(reference="second"))))

        assert reply.status is Status.ACCEPTED
        assert transport.connections_opened == 1


def test_without_use_tls_a_given_context_is_not_used(
    emulator: ReceiverEmulator, client_context: ssl.SSLContext
) -> None:
    with TcpTransport(
        "127.0.0.1", emulator.port, use_tls=False, ssl_context=client_context, reply_timeout=2
    ) as transport:
        reply = decode_reply(xml_send(transport, encode(make_package())))

    assert transport.ssl_context is None
    assert reply.status is Status.ACCEPTED


def test_connection_refused_is_a_transport_error() -> None:
    transport = TcpTransport("127.0.0.1", free_port(), connect_timeout=1)

    with pytest.raises(TransportError, match="connect refused"):
        xml_send(transport, b"payload")
    assert not transport.connected


def test_no_reply_in_time_is_a_transport_error_and_drops_the_connection() -> None:
    with raw_server(lambda conn: recv_frame(conn)) as port:
        transport = TcpTransport("127.0.0.1", port, reply_timeout=0.3)
        started = time.monotonic()

        with pytest.raises(TransportError, match="timeout waiting for reply"):
            xml_send(transport, b"payload")

        assert 0.3 <= time.monotonic() - started < 1.5
        assert not transport.connected


def test_a_receiver_dribbling_its_reply_cannot_outlast_the_reply_timeout() -> None:
    def dribble(conn: socket.socket) -> None:
        recv_frame(conn)
        conn.sendall(HEADER.pack(100))
        for _ in range(20):
            conn.sendall(b"x")
            time.sleep(0.05)

    with raw_server(dribble) as port:
        transport = TcpTransport("127.0.0.1", port, reply_timeout=0.3)
        started = time.monotonic()

        with pytest.raises(TransportError, match="timeout"):
            xml_send(transport, b"payload")

        assert time.monotonic() - started < 0.8


def test_an_oversize_reply_frame_is_refused() -> None:
    def oversize(conn: socket.socket) -> None:
        recv_frame(conn)
        conn.sendall(HEADER.pack(MAX_FRAME_BYTES + 1))

    with raw_server(oversize) as port:
        transport = TcpTransport("127.0.0.1", port, reply_timeout=2)

        with pytest.raises(TransportError, match="too large"):
            xml_send(transport, b"payload")
        assert not transport.connected


def test_a_receiver_closing_without_reply_is_a_transport_error() -> None:
    def read_and_close(conn: socket.socket) -> None:
        recv_frame(conn)
        conn.shutdown(socket.SHUT_RDWR)

    with raw_server(read_and_close) as port:
        transport = TcpTransport("127.0.0.1", port, reply_timeout=2)

        with pytest.raises(TransportError, match="connection closed by receiver"):
            xml_send(transport, b"payload")


def test_an_oversize_payload_is_refused_before_connecting() -> None:
    transport = TcpTransport("127.0.0.1", free_port())

    with pytest.raises(ProtocolError, match="too large"):
        xml_send(transport, b"x" * (MAX_FRAME_BYTES + 1))
    assert transport.connections_opened == 0


# --- TLS ----------------------------------------------------------------------------------------


def test_tls_round_trip(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    with (
        ReceiverEmulator(ssl_context=server_context) as emulator,
        TcpTransport(
            "127.0.0.1", emulator.port, use_tls=True, ssl_context=client_context, reply_timeout=2
        ) as transport,
    ):
        first = decode_reply(xml_send(transport, encode(make_package(reference="tls-1"))))
        second = decode_reply(xml_send(transport, encode(make_package(reference="tls-1"))))

        assert (first.status, second.status) == (Status.ACCEPTED, Status.DUPLICATE)
        assert transport.connections_opened == 1
        assert [p.reference for p in emulator.accepted] == ["tls-1"]


def test_tls_refuses_a_certificate_from_an_unknown_ca(server_context: ssl.SSLContext) -> None:
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)

    with ReceiverEmulator(ssl_context=server_context) as emulator:
        transport = TcpTransport(
            "127.0.0.1", emulator.port, use_tls=True, ssl_context=stranger, connect_timeout=2
        )
        with pytest.raises(TransportError, match="certificate"):
            xml_send(transport, b"payload")
        assert emulator.accepted == []


def test_tls_verifies_against_the_system_store_by_default(server_context: ssl.SSLContext) -> None:
    with ReceiverEmulator(ssl_context=server_context) as emulator:
        transport = TcpTransport("127.0.0.1", emulator.port, use_tls=True, connect_timeout=2)

        assert transport.ssl_context is not None
        assert transport.ssl_context.verify_mode is ssl.CERT_REQUIRED
        with pytest.raises(TransportError, match="certificate"):
            xml_send(transport, b"payload")


def test_tls_refuses_a_certificate_for_another_host(ca: trustme.CA) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("receiver.example").configure_cert(context)
    client = ssl.create_default_context()
    ca.configure_trust(client)

    with ReceiverEmulator(ssl_context=context) as emulator:
        transport = TcpTransport("127.0.0.1", emulator.port, use_tls=True, ssl_context=client)
        with pytest.raises(TransportError, match="certificate"):
            xml_send(transport, b"payload")


def test_tls_to_a_plain_receiver_fails_cleanly(
    emulator: ReceiverEmulator, client_context: ssl.SSLContext
) -> None:
    transport = TcpTransport(
        "127.0.0.1", emulator.port, use_tls=True, ssl_context=client_context, connect_timeout=2
    )

    with pytest.raises(TransportError, match="tls"):
        xml_send(transport, b"payload")


# --- HTTPS POST ---------------------------------------------------------------------------------


class ReceiverHandler(http.server.BaseHTTPRequestHandler):
    """Answers a POSTed package with an accepted reply; ``/fail`` answers 500."""

    seen: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers["Content-Type"], body))
        if self.path.startswith("/fail"):
            self.send_error(500, "receiver broken")
            return
        reply = encode_reply(decode_package(body).reference, Status.ACCEPTED)
        self.send_response(200)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_server(server_context: ssl.SSLContext) -> Iterator[int]:
    ReceiverHandler.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), ReceiverHandler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_https_post_round_trip(https_server: int, client_context: ssl.SSLContext) -> None:
    transport = HttpsTransport(
        f"https://127.0.0.1:{https_server}/signals?station=7", ssl_context=client_context
    )
    payload = encode(make_package(reference="https-1"))

    ack = decode_reply(transport.exchange(payload), expected_reference="https-1")

    assert ack.status is Status.ACCEPTED
    assert ReceiverHandler.seen == [
        ("/signals?station=7", "application/xml; charset=utf-8", payload)
    ]


def test_https_non_2xx_is_a_transport_error(
    https_server: int, client_context: ssl.SSLContext
) -> None:
    transport = HttpsTransport(f"https://127.0.0.1:{https_server}/fail", ssl_context=client_context)

    with pytest.raises(TransportError, match="http 500"):
        transport.exchange(encode(make_package()))


def test_https_refuses_an_untrusted_certificate(https_server: int) -> None:
    stranger = ssl.create_default_context()
    trustme.CA().configure_trust(stranger)
    transport = HttpsTransport(f"https://127.0.0.1:{https_server}/", ssl_context=stranger)

    with pytest.raises(TransportError, match="certificate"):
        transport.exchange(encode(make_package()))
    assert ReceiverHandler.seen == []


def test_https_connection_refused() -> None:
    transport = HttpsTransport(f"https://127.0.0.1:{free_port()}/", connect_timeout=1)

    with pytest.raises(TransportError, match="connect refused"):
        transport.exchange(b"payload")


def test_https_transport_wants_an_https_url() -> None:
    with pytest.raises(ValueError, match="https"):
        HttpsTransport("http://127.0.0.1/signals")


# --- host names under the deadline -----------------------------------------------------------


@pytest.fixture
def resolver(monkeypatch: pytest.MonkeyPatch):
    """The system resolver, except that ``receiver.test`` names loopback after ``delay``
    seconds (or only once ``release`` is set), and every look-up of it is counted. The sockets
    stay real: only the name service is slow, as a resolver whose server does not answer is."""
    real = socket.getaddrinfo
    state = {"delay": 0.0, "release": threading.Event(), "calls": 0, "infos": None}

    def getaddrinfo(host, port, *args, **kwargs):
        if host != "receiver.test":
            return real(host, port, *args, **kwargs)
        state["calls"] += 1
        if state["delay"] is None:
            state["release"].wait(30)
        else:
            time.sleep(state["delay"])
        return state["infos"] or real("127.0.0.1", port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield state
    state["release"].set()


def test_a_resolver_that_does_not_answer_cannot_hold_the_exchange(resolver, emulator) -> None:
    resolver["delay"] = None  # never, until the test ends
    transport = TcpTransport("receiver.test", emulator.port, connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(TransportError, match=r"timeout resolving host receiver\.test"):
        xml_send(transport, encode(make_package()))
    assert time.monotonic() - started < 1.5
    # Exchanges waiting for the same name share one look-up (one thread), however many.
    for _ in range(3):
        with pytest.raises(TransportError, match="timeout resolving"):
            xml_send(TcpTransport("receiver.test", emulator.port, connect_timeout=0.2), b"x")
    assert resolver["calls"] == 1
    assert emulator.counts == {}


def test_a_slow_resolver_spends_the_connect_deadline_and_the_exchange_goes_on(
    resolver, emulator
) -> None:
    resolver["delay"] = 0.3
    with TcpTransport("receiver.test", emulator.port, connect_timeout=2) as transport:
        ack = decode_reply(xml_send(transport, encode(make_package(reference="named-1"))))
    assert ack.status is Status.ACCEPTED
    with pytest.raises(TransportError, match="timeout resolving"):
        TcpTransport("receiver.test", emulator.port, connect_timeout=0.1).exchange(b"x", len)


def test_each_address_of_a_name_is_tried_within_the_deadline(resolver, emulator) -> None:
    refused = free_port()
    resolver["infos"] = [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", refused)),
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", emulator.port)),
    ]
    with TcpTransport("receiver.test", emulator.port, connect_timeout=2) as transport:
        ack = decode_reply(xml_send(transport, encode(make_package(reference="second-1"))))
    assert ack.status is Status.ACCEPTED


def test_https_and_udp_resolve_within_their_deadline(resolver) -> None:
    resolver["delay"] = None
    started = time.monotonic()
    with pytest.raises(TransportError, match="timeout resolving"):
        HttpsTransport("https://receiver.test:1/", connect_timeout=0.3).exchange(b"x")
    with pytest.raises(TransportError, match="timeout resolving"):
        UdpTransport("receiver.test", 1, reply_timeout=0.3).exchange(b"x", len)
    assert time.monotonic() - started < 2
