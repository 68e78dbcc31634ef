"""``manage.py run_dispatcher`` processes against the test database, for the tests that need
dispatchers as separate processes (killed, stopped with SIGTERM) on PostgreSQL."""

from __future__ import annotations

import os
import signal as os_signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from django.db import connection

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# Several processes and connections sharing one database with row locks (SELECT ... FOR UPDATE
# SKIP LOCKED): PostgreSQL only; CI sets DATABASE_URL.
needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs several processes and connections sharing one database with row locks "
    "(SELECT ... FOR UPDATE SKIP LOCKED): runs on PostgreSQL (CI sets DATABASE_URL)",
)


def database_url() -> str:
    """The test database (pytest-django's ``test_<name>``) as the subprocesses' DATABASE_URL."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or "5432"
    return f"postgres://{credentials}@{host}:{port}/{quote(db['NAME'], safe='')}"


class Dispatchers:
    """``manage.py run_dispatcher`` processes against the test database."""

    def __init__(self, logs: Path, *, lease_seconds: float = 3, **env: str) -> None:
        self.logs = logs
        self.lease_seconds = lease_seconds
        self.processes: dict[str, subprocess.Popen] = {}
        self.env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "DJANGO_SETTINGS_MODULE": "portal.settings_test",
            # Quick retries keep the tests short; the rules are the same as in production.
            "SIGNAL_BACKOFF_BASE_SECONDS": "0.1",
            "SIGNAL_BACKOFF_MAX_SECONDS": "1",
            "SIGNAL_PATH_RETRY_SECONDS": "1",
            "SIGNAL_DISPATCH_POLL_SECONDS": "0.1",
            "PYTHONUNBUFFERED": "1",
            # A dispatcher that does not stop in time is sent SIGABRT: every thread's stack
            # goes to its log, to say where it hung.
            "PYTHONFAULTHANDLER": "1",
            # Temporary files (the test settings' media folder among them) go under the
            # test's own folder: a dispatcher killed with SIGKILL cannot remove its own, and
            # pytest removes that folder with its old runs.
            "TMPDIR": str(logs),
            **env,
        }

    def start(self, name: str, *extra: str) -> subprocess.Popen:
        log = (self.logs / f"{name}.log").open("w")
        process = subprocess.Popen(
            [
                sys.executable,
                "manage.py",
                "run_dispatcher",
                "--id",
                name,
                "--lease-seconds",
                str(self.lease_seconds),
                "--batch",
                "10",
                *extra,
            ],
            cwd=PROJECT_ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes[name] = process
        return process

    def stop_all(self) -> dict[str, int]:
        codes = {}
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(os_signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                codes[name] = process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.send_signal(os_signal.SIGABRT)
                try:
                    codes[name] = process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    codes[name] = process.wait()
        return codes

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text()


def wait_until(condition: Callable[[], object], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return bool(condition())
