"""A PostgreSQL server of a test's own, to stop and start under running dispatchers.

``Cluster`` runs ``initdb`` and ``pg_ctl`` from the PostgreSQL binaries on the machine (the
Debian packages put them in /usr/lib/postgresql/<version>/bin) in a temporary directory, on a
free loopback port, and never touches the server the suite otherwise uses. PostgreSQL refuses
to run as root: as root (CI), the server runs as the ``postgres`` user (``setpriv``), which the
packages create. Its schema is the suite's test database's, copied with ``pg_dump`` (seconds,
where migrating afresh takes most of a minute).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

TEMPLATE = "portal_template"


def binaries() -> Path | None:
    """The newest PostgreSQL bin directory with initdb, pg_ctl and pg_dump, if any."""
    candidates = []
    for bindir in Path("/usr/lib/postgresql").glob("*/bin"):
        if all((bindir / tool).exists() for tool in ("initdb", "pg_ctl", "pg_dump")):
            with contextlib.suppress(ValueError):
                candidates.append((int(bindir.parent.name), bindir))
    if shutil.which("pg_ctl") and shutil.which("initdb") and shutil.which("pg_dump"):
        candidates.append((0, Path(shutil.which("pg_ctl")).parent))
    return max(candidates)[1] if candidates else None


def _run_as() -> list[str]:
    """The command prefix that runs the server's tools as a user PostgreSQL accepts."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        pytest.skip("running as root and there is no postgres user to run a server as")
    setpriv = shutil.which("setpriv")
    if setpriv:
        return [setpriv, "--reuid=postgres", "--regid=postgres", "--init-groups", "--"]
    return [shutil.which("runuser") or "runuser", "-u", "postgres", "--"]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


needs_own_server = pytest.mark.skipif(
    binaries() is None or connection.vendor != "postgresql",
    reason="needs the PostgreSQL server binaries (initdb, pg_ctl, pg_dump) and the suite on "
    "PostgreSQL (CI has both)",
)


class Cluster:
    """One throwaway PostgreSQL server: ``start()``, ``stop()``, ``database()``."""

    def __init__(self) -> None:
        self.bindir = binaries()
        assert self.bindir is not None
        self.prefix = _run_as()
        self.root = Path(tempfile.mkdtemp(prefix="portal-pg-"))
        self.data = self.root / "data"
        self.logfile = self.root / "server.log"
        self.port = free_port()
        self._databases = 0
        if self.prefix:
            os.chown(self.root, pwd.getpwnam("postgres").pw_uid, -1)
        self._tool(
            "initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                f"\nport = {self.port}\n"
                "listen_addresses = '127.0.0.1'\n"
                "unix_socket_directories = ''\n"
                # Durability is not what these tests are about; speed on a busy machine is.
                "fsync = off\n"
                "max_connections = 60\n"
            )

    def _tool(self, name: str, *args: str, timeout: float = 120) -> str:
        completed = subprocess.run(
            [*self.prefix, str(self.bindir / name), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.root,
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"{name} failed ({completed.returncode}): {completed.stderr or completed.stdout}"
                f"\n{self.log()[-2000:]}"
            )
        return completed.stdout

    def log(self) -> str:
        with contextlib.suppress(OSError):
            return self.logfile.read_text(errors="replace")
        return ""

    def start(self) -> None:
        """Start the server; returns once it accepts connections."""
        self._tool("pg_ctl", "-D", str(self.data), "-l", str(self.logfile), "-w", "-t", "60",
                   "start")  # fmt: skip

    def running(self) -> bool:
        return (
            subprocess.run(
                [*self.prefix, str(self.bindir / "pg_ctl"), "-D", str(self.data), "status"],
                capture_output=True,
                cwd=self.root,
            ).returncode
            == 0
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends every session at once (a restart), ``immediate``
        as if it crashed."""
        self._tool("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def settings(self, name: str) -> dict[str, str]:
        return {"HOST": "127.0.0.1", "PORT": str(self.port), "NAME": name, "USER": "postgres",
                "PASSWORD": ""}  # fmt: skip

    def execute(self, sql: str, dbname: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=dbname, autocommit=True
        ) as admin:
            admin.execute(sql)

    def copy_schema(self, source: dict) -> None:
        """The template database: the schema of ``source`` (a Django settings dict)."""
        self.execute(f"CREATE DATABASE {TEMPLATE}")
        env = {**os.environ, "PGPASSWORD": source.get("PASSWORD") or ""}
        dump = subprocess.run(
            [
                str(self.bindir / "pg_dump"),
                "--schema-only",
                "--no-owner",
                "--no-privileges",
                "-h", source.get("HOST") or "127.0.0.1",
                "-p", str(source.get("PORT") or 5432),
                "-U", source.get("USER") or "postgres",
                source["NAME"],
            ],
            capture_output=True,
            env=env,
            timeout=120,
            check=True,
        )  # fmt: skip
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname=TEMPLATE, autocommit=True
        ) as target:
            # Without psql's own meta-commands (\restrict, in newer dumps).
            sql = "\n".join(
                line for line in dump.stdout.decode().splitlines() if not line.startswith("\\")
            )
            target.execute(sql)

    def database(self) -> str:
        """A fresh database with the portal's schema."""
        self._databases += 1
        name = f"portal_{self._databases}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def destroy(self) -> None:
        with contextlib.suppress(Exception):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def django_on(cluster: Cluster, name: str) -> Iterator[None]:
    """Point Django's default connection (and so the dispatchers started meanwhile, which
    take it from there) at ``name`` on ``cluster``; put it back afterwards."""
    keys = ("HOST", "PORT", "NAME", "USER", "PASSWORD")
    saved = {key: connection.settings_dict[key] for key in keys}

    def reconnect() -> None:
        with contextlib.suppress(Exception):
            connection.close()
        if connection.pool is not None:
            with contextlib.suppress(Exception):
                connection.close_pool()

    reconnect()
    connection.settings_dict.update(cluster.settings(name))
    try:
        yield
    finally:
        reconnect()
        connection.settings_dict.update(saved)


def wait_for(condition, timeout: float, interval: float = 0.01) -> float | None:
    """Seconds until ``condition()`` held, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(interval)
    return None
