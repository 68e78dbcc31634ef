"""What the dispatcher does with hostile or broken replies, and its TLS and HTTPS paths, against
real loopback servers (a trustme CA for the certificates)."""

from __future__ import annotations

import http.server
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.utils import timezone

from signals.codecs.xml_v1 import NAMESPACE, decode_package, encode_reply
from signals.emulator import ReceiverEmulator
from signals.models import Signal
from stations.models import ReceiverPath
from tests.factories import SignalFactory
from tests.signals.receivers import accept_reply, dispatcher, path_to, scripted

pytestmark = pytest.mark.django_db

REPLY_OPEN = f'<reply xmlns="{NAMESPACE}" version="1">'

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE reply [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">\n'
        for i in range(1, 10)
    )
    + "]>\n"
    + REPLY_OPEN
    + "<reference>&lol9;</reference><status>accepted</status></reply>"
).encode()


def external_entity(secret: Path, reference: str) -> bytes:
    return (
        f'<?xml version="1.0"?>\n<!DOCTYPE reply [<!ENTITY xxe SYSTEM "file://{secret}">]>\n'
        f"{REPLY_OPEN}<reference>{reference}</reference><status>accepted</status>"
        "<reason>&xxe;</reason></reply>"
    ).encode()


def retry_now() -> None:
    Signal.objects.filter(state=Signal.State.PENDING).update(next_attempt_at=timezone.now())


def test_entity_bomb_and_external_entity_replies_are_errors_without_harm_then_retried(
    account, receiver, tmp_path
):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-CONTENT")

    def hostile_then_honest(payload: bytes, n: int) -> bytes:
        reference = decode_package(payload).reference
        return (
            [BILLION_LAUGHS, external_entity(secret, reference)][n]
            if n < 2
            else (accept_reply(payload))
        )

    signal = SignalFactory(account=account)
    with scripted(hostile_then_honest) as station:
        path_to(receiver, station.port)
        started = time.monotonic()
        dispatcher().run(once=True)
        retry_now()
        dispatcher().run(once=True)
        elapsed = time.monotonic() - started

        signal.refresh_from_db()
        assert signal.state == Signal.State.PENDING  # neither reply delivered it
        retry_now()
        dispatcher().run(once=True)

    assert elapsed < 5  # nothing was expanded
    attempts = list(signal.delivery_attempts.order_by("id"))
    assert [a.outcome for a in attempts] == ["error", "error", "delivered"]
    assert all("DOCTYPE" in a.error for a in attempts[:2])
    assert station.frames == [bytes(signal.payload)] * 3  # the same bytes every time
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    everything = " ".join(
        [signal.ack_reason, signal.last_error] + [a.reply_text + a.error for a in attempts]
    )
    assert "TOP-SECRET-CONTENT" not in everything
    assert "lollollol" not in everything


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (lambda ref: encode_reply("someone-else", "accepted"), "expected"),
        (lambda ref: b"HTTP/1.1 200 OK\r\n\r\nhello", "not well-formed"),
        (lambda ref: encode_reply(ref, "accepted").replace(b"accepted", b"ok"), "schema"),
        (lambda ref: b"<a>" + b"x" * 70_000 + b"</a>", "too large"),
        (
            lambda ref: encode_reply(ref, "accepted").replace(b"UTF-8", b"ISO-8859-1"),
            "not UTF-8",
        ),
    ],
    ids=["another-reference", "not-xml", "invalid", "oversized", "other-encoding"],
)
def test_a_reply_that_is_not_a_valid_answer_is_an_error_and_the_alternate_is_tried(
    account, receiver, reply, error
):
    signal = SignalFactory(account=account)
    with (
        scripted(lambda payload, n: reply(decode_package(payload).reference)) as liar,
        ReceiverEmulator() as honest,
    ):
        path_to(receiver, liar.port)
        path_to(receiver, honest.port, ReceiverPath.Role.ALTERNATE)
        dispatcher().run(once=True)

    first, second = signal.delivery_attempts.order_by("id")
    assert (first.outcome, second.outcome) == ("error", "delivered")
    assert error in first.error
    assert len(bytes(first.reply)) <= 2000
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED


# --- TLS and HTTPS ----------------------------------------------------------------------------


@pytest.fixture
def tls_emulator(server_context: ssl.SSLContext) -> Iterator[ReceiverEmulator]:
    with ReceiverEmulator(ssl_context=server_context) as running:
        yield running


def test_a_tls_path_delivers_to_a_receiver_with_a_trusted_certificate(
    account, receiver, tls_emulator, client_context
):
    signal = SignalFactory(account=account)
    path_to(receiver, tls_emulator.port, use_tls=True)

    dispatcher(ssl_context=client_context).run(once=True)

    assert [p.reference for p in tls_emulator.accepted] == [signal.reference]
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED


def test_a_tls_path_refuses_a_certificate_it_cannot_verify(account, receiver, tls_emulator):
    signal = SignalFactory(account=account)
    path_to(receiver, tls_emulator.port, use_tls=True)

    dispatcher().run(once=True)  # the system's CAs do not know the test CA

    attempt = signal.delivery_attempts.get()
    assert attempt.outcome == "error"
    assert "certificate" in attempt.error
    assert tls_emulator.accepted == []


def test_the_ca_file_setting_adds_a_stations_private_ca(
    account, receiver, tls_emulator, ca, tmp_path, settings
):
    ca_file = tmp_path / "station-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    settings.SIGNAL_TLS_CA_FILE = str(ca_file)
    signal = SignalFactory(account=account)
    path_to(receiver, tls_emulator.port, use_tls=True)

    dispatcher().run(once=True)

    assert [p.reference for p in tls_emulator.accepted] == [signal.reference]


class _ReceiverHandler(http.server.BaseHTTPRequestHandler):
    status = 200
    seen: list[tuple[str, str, bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((self.path, self.headers["Content-Type"], body))
        reply = encode_reply(decode_package(body).reference, "accepted")
        self.send_response(self.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def https_receiver(server_context: ssl.SSLContext) -> Iterator[tuple[int, type]]:
    handler = type("Handler", (_ReceiverHandler,), {"seen": [], "status": 200})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], handler
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_path_posts_the_package_to_the_stations_url(
    account, receiver, https_receiver, client_context
):
    port, handler = https_receiver
    signal = SignalFactory(account=account)
    path_to(
        receiver,
        port,
        transport=ReceiverPath.Transport.HTTPS,
        use_tls=True,
        url_path="/alarm-receiver/signals",
    )

    dispatcher(ssl_context=client_context).run(once=True)

    assert handler.seen == [
        ("/alarm-receiver/signals", "application/xml; charset=utf-8", bytes(signal.payload))
    ]
    signal.refresh_from_db()
    assert signal.state == Signal.State.DELIVERED
    assert signal.delivery_attempts.get().path_role == "primary"


def test_an_https_error_status_is_not_a_delivery(account, receiver, https_receiver, client_context):
    port, handler = https_receiver
    handler.status = 503
    signal = SignalFactory(account=account)
    path_to(receiver, port, transport=ReceiverPath.Transport.HTTPS, use_tls=True)

    dispatcher(ssl_context=client_context).run(once=True)

    attempt = signal.delivery_attempts.get()
    assert (attempt.outcome, attempt.error) == ("error", "http 503 Service Unavailable")
    signal.refresh_from_db()
    assert signal.state == Signal.State.PENDING
