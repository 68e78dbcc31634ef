"""`make run`'s ``manage.py run_all``: the web server, a dispatcher, the task engine and the
receiver emulator together, a test signal travelling end to end, and one Ctrl-C stopping all."""

from __future__ import annotations

import http.cookiejar
import os
import random
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from signals.demo import DEMO_LISTENERS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive loopback ports nothing listens on, chosen below the
    ephemeral range: a port handed out by the kernel (``bind(0)``) sits in that range, where
    any outgoing connection on the machine may take it, or its neighbour, in the seconds before
    the child process binds it (it happened under load: "Address already in use")."""
    try:
        ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral = 32768
    rng = random.Random()
    for _ in range(1000):
        first = rng.randrange(10000, ephemeral - count)
        if all(port_is_free(first + offset) for offset in range(count)):
            return first
    raise RuntimeError(f"no {count} free ports in a row below {ephemeral}")


def port_is_free(port: int) -> bool:
    """Nothing listens there (connections closing in TIME_WAIT do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(condition, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_run_all_is_for_development_only(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DJANGO_DEBUG"):
        call_command("run_all")


def test_a_test_signal_travels_end_to_end_and_ctrl_c_stops_everything(tmp_path):
    database = tmp_path / "demo.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{database}",
        "DJANGO_DEBUG": "true",
        "DJANGO_SETTINGS_MODULE": "portal.settings",
        "PYTHONUNBUFFERED": "1",
    }
    manage = [sys.executable, "manage.py"]
    for command in (["migrate", "--no-input"], ["seed_demo"]):
        subprocess.run(
            [*manage, *command], cwd=PROJECT_ROOT, env=env, check=True, capture_output=True
        )
    # One block of free ports: the web server, the media relay, then the emulator on the
    # receiver port and on one more port per demo protocol.
    web = free_ports(3 + len(DEMO_LISTENERS))
    relay, receiver = web + 1, web + 2
    with sqlite3.connect(database) as db:
        # The demo receivers point at 9100 (XML v1) and after; this run's emulator listens
        # elsewhere, each protocol at the same offset.
        db.execute("UPDATE stations_receiverpath SET port = port - 9100 + ?", (receiver,))
        (code,) = db.execute(
            "SELECT code FROM customers_customer WHERE name = 'Corner Pharmacy'"
        ).fetchone()
    log = tmp_path / "run_all.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                *manage,
                "run_all",
                *("--addr", f"127.0.0.1:{web}", "--receiver-port", str(receiver)),
                *("--relay-port", str(relay)),
                # The simulated bridges' alarms would add signals: none during this test.
                *("--first-alarm-after", "3600"),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{web}"
    try:
        jar = http.cookiejar.CookieJar()
        browser = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))

        def serving() -> bool:
            try:
                return browser.open(f"{base}/accounts/login/", timeout=2).status == 200
            except OSError:
                return False

        assert wait_until(serving, 60), log.read_text()
        assert wait_until(lambda: "Receiver listening" in log.read_text(), 30), log.read_text()

        def post(path: str, **fields: str) -> None:
            token = next(c.value for c in jar if c.name == "csrftoken")
            body = urllib.parse.urlencode({"csrfmiddlewaretoken": token, **fields}).encode()
            browser.open(urllib.request.Request(f"{base}{path}", data=body), timeout=10)

        post("/accounts/login/", username="demo-owner", password="demo-owner-pass")
        post(f"/signals/customers/{uuid.UUID(code)}/test/")

        def states() -> list[str]:
            with sqlite3.connect(database) as db:
                return [row[0] for row in db.execute("SELECT state FROM signals_signal")]

        # The simulated bridges are up: their heartbeats reach the portal.
        def heartbeats() -> int:
            with sqlite3.connect(database) as db:
                return db.execute(
                    "SELECT COUNT(*) FROM media_bridgestatus WHERE last_heartbeat_at IS NOT NULL"
                ).fetchone()[0]

        assert wait_until(lambda: heartbeats() == 2, 30), log.read_text()

        # One test signal per account of the site: XML v1, SIA DC-09 and SOS Access v4.
        assert wait_until(lambda: states() == ["delivered"] * 3, 15), (states(), log.read_text())

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0, log.read_text()
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)

    output = log.read_text()
    assert "[receiver] Receiver stopped; frames: accepted 1 (xml_v1)" in output
    assert "[receiver] Receiver stopped; frames: accepted 1" in output.split("(xml_v1)", 1)[1]
    # The SOS Access listener also answered the demo receiver's heartbeat.
    assert re.search(r"frames: accepted 1, heartbeat \d+ \(sos_access_v4\)", output), output
    assert "[dispatcher] Dispatcher demo-dispatcher/" in output
    assert "3 delivered" in output
    assert "[web] " in output
    assert "[bridges] Simulating 2 bridge(s)" in output
    assert "[relay] " in output
    assert "[tasks] " in output and "has stopped" in output
    assert wait_until(
        lambda: port_is_free(web) and port_is_free(receiver) and port_is_free(relay), 10
    )
