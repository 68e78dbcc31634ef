"""Live view: the portal proxies a camera's HLS stream from its bridge's media relay through
signed portal URLs. The relay here is real: an HLS stream encoded with PyAV, served over HTTP
on loopback. The browser never sees the relay's address, and every fetch has a deadline."""

from __future__ import annotations

import re
import socket
import threading
import time
from pathlib import Path

import pytest
from django.test import Client

from media import signing
from media.relay import RelayServer, generate_stream
from tests.factories import BridgeFactory, CameraFactory, MonitoringAccountFactory

pytestmark = pytest.mark.django_db

SERIAL = "LIVE-0001"
CAMERA_ADDRESS = "rtsp://admin:s3cret@10.1.2.3:554/stream1"


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    root: Path = tmp_path_factory.mktemp("relay")
    generate_stream(root / SERIAL / "1", label="Door", seconds=3)
    with RelayServer(root) as server:
        yield server


@pytest.fixture
def camera(customer, record, relay):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="3444")
    bridge = BridgeFactory(customer=customer, serial=SERIAL, relay_url=relay.bridge_url(SERIAL))
    return CameraFactory(bridge=bridge, channel=1, name="Door", stream_url=CAMERA_ADDRESS)


def _as(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_playlist_is_rewritten_into_signed_portal_urls(camera, operator, relay):
    client = _as(operator)
    response = client.get(signing.live_url(camera, user=operator))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/vnd.apple.mpegurl"
    assert response["Cache-Control"] == "no-store"
    text = response.content.decode()
    assert text.startswith("#EXTM3U")
    segments = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(segments) >= 3
    assert all(re.fullmatch(r"/media/live/[^/]+/", line) for line in segments)
    # Nothing of the relay or the camera reaches the browser.
    host_port = relay.url.split("//")[1].rstrip("/")
    for secret in (host_port, "127.0.0.1", SERIAL, "segment000", "s3cret", "10.1.2.3"):
        assert secret not in text

    first = client.get(segments[0])
    assert first.status_code == 200
    assert first["Content-Type"] == "video/mp2t"
    stored = (relay.root / SERIAL / "1" / "segment000.ts").read_bytes()
    assert first.content == stored
    assert first.content[0] == 0x47  # an MPEG-TS sync byte


def test_the_dealers_people_may_watch_too_and_nobody_else(camera, owner, other_operator, outsider):
    assert _as(owner).get(signing.live_url(camera, user=owner)).status_code == 200
    for user in (other_operator, outsider):
        assert _as(user).get(signing.live_url(camera, user=user)).status_code == 403
    assert Client().get(signing.live_url(camera, user=owner)).status_code == 403


def test_segment_urls_are_for_their_user_only(camera, operator, owner):
    text = _as(operator).get(signing.live_url(camera, user=operator)).content.decode()
    segment = next(line for line in text.splitlines() if line.startswith("/media/"))
    assert _as(owner).get(segment).status_code == 403


def test_an_expired_live_url_is_gone(camera, operator):
    url = signing.live_url(camera, user=operator, expires_in=-1)
    assert _as(operator).get(url).status_code == 410


@pytest.mark.parametrize(
    "path",
    ["../../other/1/index.m3u8", "http://127.0.0.1:1/x.ts", "/etc/passwd.ts", "%2e%2e/x.ts"],
)
def test_a_signed_path_outside_the_cameras_folder_is_refused(camera, operator, path):
    url = signing.live_url(camera, user=operator, path=path)
    assert _as(operator).get(url).status_code == 403


def test_only_video_segments_are_passed_on(camera, operator):
    url = signing.live_url(camera, user=operator, path="notes.html")
    response = _as(operator).get(url)
    assert response.status_code == 502
    assert "not a video segment" in response.text


def test_a_camera_without_a_relay_or_stream_has_no_live_view(camera, operator):
    bridge = camera.bridge
    bridge.relay_url = ""
    bridge.save(update_fields=["relay_url"])
    assert _as(operator).get(signing.live_url(camera, user=operator)).status_code == 404


def test_a_stream_the_relay_does_not_have_is_404(camera, operator):
    other = CameraFactory(bridge=camera.bridge, channel=2, stream_url=CAMERA_ADDRESS)
    response = _as(operator).get(signing.live_url(other, user=operator))
    assert response.status_code == 404
    assert "not running" in response.text


# --- relays that misbehave ------------------------------------------------------------------


class _BadRelay:
    """A TCP server on loopback that answers each connection with ``behaviour``."""

    def __init__(self, behaviour) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/"

    def _serve(self) -> None:
        self.sock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn) -> None:
        try:
            conn.recv(4096)
            self.behaviour(conn, self.stop)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self.sock.close()


def _silent(conn, stop) -> None:
    stop.wait(10)


def _dribble(conn, stop) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.apple.mpegurl\r\n\r\n")
    for _ in range(100):
        if stop.wait(0.1):
            return
        conn.sendall(b"#")


def _garbage(conn, stop) -> None:
    conn.sendall(b"\x00\xffnot http at all\r\n\r\n")


def _html(conn, stop) -> None:
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html>hi</html>")


def _escaping_playlist(conn, stop) -> None:
    body = b"#EXTM3U\n#EXTINF:1,\nhttp://169.254.169.254/latest/meta-data.ts\n"
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))


@pytest.mark.parametrize(
    ("behaviour", "status"),
    [
        (_silent, 504),
        (_dribble, 504),
        (_garbage, 502),
        (_html, 502),
        (_escaping_playlist, 502),
    ],
)
def test_a_misbehaving_relay_gets_a_clear_answer_within_the_deadline(
    camera, operator, settings, behaviour, status
):
    settings.MEDIA_RELAY_TIMEOUT_SECONDS = 0.5
    bad = _BadRelay(behaviour)
    try:
        bridge = camera.bridge
        bridge.relay_url = bad.url
        bridge.save(update_fields=["relay_url"])
        started = time.monotonic()
        response = _as(operator).get(signing.live_url(camera, user=operator))
        elapsed = time.monotonic() - started
    finally:
        bad.close()
    assert response.status_code == status, response.content
    assert elapsed < 3
    assert "169.254" not in response.text


def test_a_relay_that_is_down_is_502(camera, operator):
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    bridge = camera.bridge
    bridge.relay_url = f"http://127.0.0.1:{port}/"
    bridge.save(update_fields=["relay_url"])
    assert _as(operator).get(signing.live_url(camera, user=operator)).status_code == 502
