"""Run the demo portal: the receiver emulator, one dispatcher, the task engine, the web server,
the bridge simulator and the demo's media relay (live view), together.

``make run`` calls this after migrating and seeding. Every child runs in its own process group
(so a runserver's autoreloader goes with it), its output is prefixed with its name, and Ctrl-C
or SIGTERM stops them all; when one of them exits on its own, the others are stopped too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from argparse import ArgumentParser
from pathlib import Path
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, OutputWrapper

from signals.demo import DEMO_DC09_KEY, DEMO_LISTENERS

STOP_GRACE_SECONDS = 10.0


class Child:
    """One ``manage.py`` subcommand with its output copied line by line, prefixed."""

    def __init__(
        self, name: str, args: list[str], out: OutputWrapper, *, stop_group: bool = True
    ) -> None:
        self.name = name
        self.args = args
        self.out = out
        # Whether SIGTERM goes to the child's whole group (a runserver's autoreloader) or to the
        # child alone (a parent that stops its own workers in order, as qcluster does).
        self.stop_group = stop_group
        self.process: subprocess.Popen[str] | None = None
        self.copier: threading.Thread | None = None

    def start(self, lock: threading.Lock, *, base_url: str) -> None:
        manage = Path(settings.BASE_DIR) / "manage.py"
        # The portal's address is where this demo serves, unless the environment says otherwise:
        # every alarm package's deep link starts with it.
        env = {**os.environ}
        env.setdefault("PORTAL_BASE_URL", base_url)
        self.process = subprocess.Popen(
            [sys.executable, "-u", str(manage), *self.args],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            # Its own process group: a signal reaches the child and whatever it started.
            start_new_session=True,
        )
        self.copier = threading.Thread(target=self._copy, args=(lock,), daemon=True)
        self.copier.start()

    def _copy(self, lock: threading.Lock) -> None:
        assert self.process is not None and self.process.stdout is not None
        for line in self.process.stdout:
            with lock:
                self.out.write(f"[{self.name}] {line}", ending="")
                self.out.flush()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        """Signal the child's whole group, even when the child itself has already gone."""
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        """Ask the child to stop: its whole group, or the child alone if it stops its own."""
        if self.stop_group:
            self.signal(signal.SIGTERM)
        elif self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGTERM)


class Command(BaseCommand):
    help = (
        "Run the receiver emulator, one signal dispatcher, the task engine and the development "
        "web server together until Ctrl-C (the demo of `make run`)."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--addr", default="127.0.0.1:8000", help="Web server address.")
        parser.add_argument(
            "--receiver-port",
            type=int,
            default=9100,
            help="Where the emulator listens for XML v1 (the demo receiver's path points at "
            "9100); the demo's other protocols on the ports after it (9101: SIA DC-09).",
        )

        parser.add_argument(
            "--relay-port",
            type=int,
            default=9200,
            help="Where the demo's media relay serves the demo cameras' live HLS streams.",
        )
        parser.add_argument(
            "--first-alarm-after",
            type=float,
            default=5.0,
            help="Seconds before the simulated bridges' first alarm (then every few minutes).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError("run_all is for local development: set DJANGO_DEBUG=true.")
        out = self.stdout
        children = [
            Child(
                "receiver",
                [
                    "run_receiver",
                    "--host",
                    "127.0.0.1",
                    "--listen",
                    f"xml_v1:{options['receiver_port']}",
                    # The demo's receivers of the other protocols (signals/demo.py).
                    *(
                        f"--listen={protocol}:{options['receiver_port'] + offset}"
                        for protocol, offset in DEMO_LISTENERS.items()
                    ),
                    # The DC-09 listener decrypts with the demo key. The SOS Access one is
                    # given no secret, so it takes any authentication: a password rotated from
                    # the station console still works after make run restarts the emulator.
                    "--secret",
                    f"sia_dc09={DEMO_DC09_KEY}",
                    "--setting",
                    "key_form=hex",
                ],
                out,
            ),
            Child("dispatcher", ["run_dispatcher", "--id", "demo-dispatcher", "-v", "2"], out),
            # Scheduled and background work (periodic tests, ...): django-q2's cluster.
            Child("tasks", ["qcluster"], out, stop_group=False),
            Child("web", ["runserver", options["addr"]], out),
            # The demo's bridges: heartbeats, alarms with snapshots and clips, and answers to
            # "last two minutes" requests, over the device API like real ones.
            Child(
                "bridges",
                [
                    "run_bridge_simulator",
                    "--base-url",
                    f"http://{options['addr']}",
                    "--first-alarm-after",
                    str(options["first_alarm_after"]),
                ],
                out,
            ),
            # The demo's media relay: live HLS for the demo cameras ("Watch live").
            Child(
                "relay", ["run_media_relay", "--addr", f"127.0.0.1:{options['relay_port']}"], out
            ),
        ]
        stop = threading.Event()
        previous = {
            signum: signal.signal(signum, self._stopper(stop))
            for signum in (signal.SIGINT, signal.SIGTERM)
        }
        lock = threading.Lock()
        exit_code = 0
        try:
            for child in children:
                child.start(lock, base_url=f"http://{options['addr']}")
                if child.name == "receiver":
                    # The dispatcher's first heartbeats go out as it starts: they must find
                    # the receivers listening, or the demo shows errors for nothing.
                    _await_listening(
                        [options["receiver_port"]]
                        + [options["receiver_port"] + offset for offset in DEMO_LISTENERS.values()],
                        stop,
                    )
            with lock:
                out.write(
                    f"Portal on http://{options['addr']}/ · receiver emulator on "
                    f"127.0.0.1:{options['receiver_port']} · one dispatcher · the task engine · "
                    "simulated bridges · live video on "
                    f"127.0.0.1:{options['relay_port']}. Ctrl-C stops all."
                )
                out.flush()
            while not stop.wait(0.2):
                ended = [c for c in children if not c.running]
                if ended:
                    exit_code = 1
                    with lock:
                        out.write(f"{ended[0].name} exited; stopping the others.")
                    break
        finally:
            self._stop_all(children)
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        if exit_code:
            raise CommandError("a process of the demo stopped", returncode=exit_code)

    @staticmethod
    def _stopper(stop: threading.Event):
        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        return request_stop

    @staticmethod
    def _stop_all(children: list[Child]) -> None:
        # The web server first, then the task engine, the dispatcher (it finishes its signal), and
        # the receiver last.
        for child in reversed(children):
            child.stop()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in reversed(children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.signal(signal.SIGKILL)
                child.process.wait()
        # Show everything the children said on their way out.
        for child in children:
            if child.copier is not None:
                child.copier.join(timeout=2)


def _await_listening(ports: list[int], stop: threading.Event, timeout: float = 30.0) -> None:
    """Wait until each loopback port takes a connection (or ``timeout`` passes, or a stop)."""
    deadline = time.monotonic() + timeout
    for port in ports:
        while time.monotonic() < deadline and not stop.is_set():
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
