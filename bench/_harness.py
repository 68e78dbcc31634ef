"""Shared set-up for benchmarks: a throw-away test database and a timing loop.

Benchmarks print figures; they assert nothing. Each compares what it measures with a floor
measured in the same run, so the ratio means something on any machine.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")


def django_setup() -> None:
    """Django set up as the test client needs it, without the test-only costs."""
    import logging

    import django
    from django.test.utils import setup_test_environment

    django.setup()
    setup_test_environment()
    # setup_test_environment() makes every template render send a signal with a copy of its
    # context, for tests that read response.context; production does not pay for that, so
    # neither do the pages measured here.
    from django.template import Template
    from django.test.utils import _TestState

    Template._render = _TestState.saved_data.template_render
    # A benchmark that asks for a missing site on purpose would print "Not Found" per request
    # and time the terminal; sign-ins through force_login would print axes' lines.
    logging.getLogger("django.request").setLevel(logging.ERROR)
    logging.getLogger("axes").setLevel(logging.WARNING)
    # As portal/wsgi.py does once the application is loaded: what start-up made is out of the
    # cyclic collector's sight, so the pages measured pause for full collections as they do
    # in production. What the first requests make to last is put there after the warm-up
    # (``settled``), as a worker does after its first requests.
    from portal import collector

    collector.freeze_startup()


_settled = False


def settled() -> None:
    """Once per process, after a benchmark's warm-up: collect and freeze again, as a web
    process does after its first requests (``portal/collector.py``). There it happens after a
    response has gone; here outside any request timed."""
    global _settled
    if not _settled:
        from portal import collector

        collector.settle()
        _settled = True


@contextmanager
def test_database() -> Iterator[None]:
    """Django set up against a fresh test database (DATABASE_URL picks the engine)."""
    from django.db import connection
    from django.test.utils import teardown_test_environment

    django_setup()
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
        teardown_test_environment()


MARKER_TABLE = "bench_seeded"


def kept_database(name: str, *, seed_version: str, rebuild: bool = False) -> bool:
    """Point Django at a PostgreSQL database kept between runs: ``<DATABASE_URL's name>_<name>``.

    The database is migrated (cheap when it is current). Returns True when it holds no seed of
    ``seed_version`` (new, rebuilt, or an earlier seed that was interrupted or differs): the
    caller seeds it and calls ``mark_seeded``. Needs Django set up (``django_setup``).
    """
    import psycopg
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("A kept benchmark database needs PostgreSQL: set DATABASE_URL.")
    settings = connection.settings_dict
    base = settings.setdefault("BENCH_BASE_NAME", settings["NAME"])
    target = f"{base}_{name}"

    def conninfo(dbname: str) -> str:
        return psycopg.conninfo.make_conninfo(
            host=settings["HOST"] or "127.0.0.1",
            port=settings["PORT"] or 5432,
            user=settings["USER"] or None,
            password=settings["PASSWORD"] or None,
            dbname=dbname,
        )

    with psycopg.connect(conninfo("postgres"), autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", [target]).fetchone()
        seeded = False
        if exists and not rebuild:
            with psycopg.connect(conninfo(target)) as db:
                if db.execute("SELECT to_regclass(%s)", [MARKER_TABLE]).fetchone()[0]:
                    row = db.execute(f"SELECT version FROM {MARKER_TABLE}").fetchone()
                    seeded = bool(row and row[0] == seed_version)
        if exists and not seeded:
            admin.execute(f'DROP DATABASE "{target}" WITH (FORCE)')
        if not seeded:
            admin.execute(f'CREATE DATABASE "{target}"')
    # Each database has its own pool of connections (psycopg's, when settings enable it).
    connection.close()
    if getattr(connection, "pool", None) is not None:
        connection.close_pool()
    settings["NAME"] = target
    call_command("migrate", verbosity=0)
    return not seeded


def mark_seeded(seed_version: str) -> None:
    """Record that the kept database holds a complete seed of ``seed_version``."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"CREATE TABLE {MARKER_TABLE} (version text NOT NULL)")
        cursor.execute(f"INSERT INTO {MARKER_TABLE} VALUES (%s)", [seed_version])


def timed(fn: Callable[[], object], *, repeat: int, warmup: int = 3) -> list[float]:
    """Seconds per call, after a few calls that warm caches and connections."""
    for _ in range(warmup):
        fn()
    settled()
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def p99_ms(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000


def report(label: str, samples: list[float], floor: list[float] | None = None) -> None:
    line = f"{label:<40} median {median_ms(samples):8.2f} ms   p99 {p99_ms(samples):8.2f} ms"
    if floor is not None:
        line += f"   ratio to floor {median_ms(samples) / median_ms(floor):5.2f}x"
    print(line, flush=True)


def interleaved(
    cases: dict[str, Callable[[], object]], *, repeat: int, warmup: int = 3
) -> dict[str, list[float]]:
    """Seconds per call of each case, the cases taking turns (A B C A B C ...).

    On a shared machine the load changes during a run; taking turns spreads it over every
    case alike, so a ratio to the floor compares like with like.
    """
    for _ in range(warmup):
        for fn in cases.values():
            fn()
    settled()
    samples: dict[str, list[float]] = {label: [] for label in cases}
    for _ in range(repeat):
        for label, fn in cases.items():
            start = time.perf_counter()
            fn()
            samples[label].append(time.perf_counter() - start)
    return samples


def summarize(ratios: dict[str, list[float]], aims: dict[str, float] | None = None) -> None:
    """The median ratio of each case over the rounds, with the spread (lowest - highest)."""
    aims = aims or {}
    rounds = len(next(iter(ratios.values()), []))
    print(f"summary over {rounds} round(s): median ratio to the floor (spread)", flush=True)
    for label, values in ratios.items():
        line = (
            f"  {label:<38} {statistics.median(values):5.2f}x ({min(values):.2f}-{max(values):.2f})"
        )
        if label in aims:
            line += f"   aim <= {aims[label]}x"
        print(line, flush=True)


def explain(sql: str) -> str:
    """PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of one statement, as text."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}")
        return "\n".join(row[0] for row in cursor.fetchall())


def explain_request(fn: Callable[[], object], *, tables: tuple[str, ...]) -> None:
    """Run one request and print the plan of each of its queries that reads ``tables``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        fn()
    # A round trip of several statements (dealers.generic.fetch_together) is explained one
    # statement at a time; a prepared one (dealers.generic.PreparedReads) as EXECUTE, on this
    # session, which holds it, and shown by its text.
    statements = [sql for query in queries.captured_queries for sql in query["sql"].split(";\n")]
    for sql in statements:
        shown = sql
        if sql.startswith("EXECUTE "):
            name = sql.removeprefix("EXECUTE ").split("(", 1)[0].strip()
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT statement FROM pg_prepared_statements WHERE name = %s", [name]
                )
                row = cursor.fetchone()
            # The text is the whole round trip that prepared it: this statement's part.
            text = row[0] if row else ""
            start = text.find(f"PREPARE {name} AS ")
            if start >= 0:
                body = text[start:].split(";\n", 1)[0].removeprefix(f"PREPARE {name} AS ")
                shown = f"{sql}, prepared as: {body}"
        elif not sql.startswith("SELECT"):
            continue
        if not any(f'"{t}"' in shown for t in tables):
            continue
        print(f"\n  {shown}\n", flush=True)
        print("    " + explain(sql).replace("\n", "\n    "), flush=True)


def database_url() -> str:
    """The (test) database this process uses, as a DATABASE_URL for a subprocess."""
    from urllib.parse import quote

    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "127.0.0.1"
    return f"postgres://{credentials}@{host}:{db['PORT'] or 5432}/{quote(db['NAME'], safe='')}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a process of the benchmark's own against this process's (test)
    database: test settings, warnings only in the log."""
    return {
        **os.environ,
        "DATABASE_URL": database_url(),
        "DJANGO_SETTINGS_MODULE": "portal.settings_test",
        "DJANGO_LOG_LEVEL": "WARNING",
        **extra,
    }


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user and system) a process has used so far (Linux); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> dict[int, float]:
    """CPU time used so far by each PostgreSQL server process running now (a server on this
    machine, as on the benchmark's), by process id."""
    used = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if stat[stat.index("(") + 1 : stat.rindex(")")] == "postgres":
            used[int(entry.name)] = process_cpu_seconds(int(entry.name))
    return used


def wal_position() -> int | None:
    """Where PostgreSQL's write-ahead log is now, in bytes from its start (None elsewhere)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_lsn() - '0/0'")
        return int(cursor.fetchone()[0])


class CpuUse:
    """Where the CPU went between ``__init__`` and ``per_signal``: the dispatcher processes
    (``pids``), the PostgreSQL server and this process (with the receiver it runs), per signal;
    and the write-ahead log PostgreSQL wrote meanwhile (every session's, autovacuum's too).

    ``sample`` now and then: a process that ends (a database connection closed, a dispatcher
    done) takes its figure with it, so each one counts as last seen.
    """

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.wal_start = wal_position()
        self.start = {("process", pid): process_cpu_seconds(pid) for pid in pids}
        self.start |= {("postgres", pid): cpu for pid, cpu in postgres_cpu_seconds().items()}
        self.start[("this", 0)] = time.process_time()
        self.seen = dict(self.start)
        self.sampled_at = time.monotonic()

    def sample(self, *, every: float = 0.0) -> None:
        """Read every figure now (unless read less than ``every`` seconds ago: a look at the
        server's processes takes this process a millisecond or two)."""
        if time.monotonic() - self.sampled_at < every:
            return
        self.sampled_at = time.monotonic()
        now = {("process", pid): process_cpu_seconds(pid) for pid in self.pids}
        now |= {("postgres", pid): cpu for pid, cpu in postgres_cpu_seconds().items()}
        now[("this", 0)] = time.process_time()
        for key, cpu in now.items():
            self.seen[key] = max(cpu, self.seen.get(key, 0.0))

    def per_signal(self, count: int) -> str:
        self.sample()
        used = dict.fromkeys(("process", "postgres", "this"), 0.0)
        for (kind, pid), cpu in self.seen.items():
            used[kind] += (cpu - self.start.get((kind, pid), 0.0)) * 1000 / count
        total = sum(used.values())
        cores = os.cpu_count() or 1
        wal_end = wal_position()
        wal = (
            f"; WAL {(wal_end - self.wal_start) / count:,.0f} bytes per signal"
            if wal_end is not None and self.wal_start is not None
            else ""
        )
        return (
            f"CPU per signal: dispatcher(s) {used['process']:.3f} ms, "
            f"PostgreSQL {used['postgres']:.3f} ms, receiver and benchmark (this process) "
            f"{used['this']:.3f} ms; {cores} cores fit {cores * 1000 / total:,.0f} /s at "
            f"{total:.3f} ms{wal}"
        )


class DispatcherProcesses:
    """``manage.py run_dispatcher`` processes against this process's (test) database."""

    def __init__(self, *, batch: int, connections: int | None = None, **env: str) -> None:
        self.args = ["--batch", str(batch)]
        if connections:
            self.args += ["--connections", str(connections)]
        # A short poll unless the caller says otherwise (bench/storm.py polls as in production).
        self.env = child_env(
            **{"SIGNAL_DISPATCH_POLL_SECONDS": "0.02", **env}, PYTHONUNBUFFERED="1"
        )
        self.processes: list = []

    def start(self, count: int, *, prefix: str = "bench") -> None:
        import subprocess

        for n in range(count):
            self.processes.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "manage.py",
                        "run_dispatcher",
                        "--id",
                        f"{prefix}-{n + 1}",
                        *self.args,
                    ],
                    cwd=ROOT,
                    env=self.env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        for process in self.processes:
            # The banner: Django is up and the dispatcher is polling. System check warnings
            # may come first (a worktree without node_modules); output ending before it is
            # a dispatcher that did not start.
            said = []
            while "delivering signals" not in (line := process.stdout.readline()):
                said.append(line)
                if not line:
                    raise SystemExit(f"dispatcher did not start: {''.join(said)}")

    def rss_mb(self) -> list[float]:
        """Each running dispatcher's resident memory, in MB (Linux)."""
        sizes = []
        for process in self.processes:
            try:
                status = Path(f"/proc/{process.pid}/status").read_text()
            except OSError:
                continue
            for line in status.splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        return sizes

    def stop(self) -> list[str]:
        import signal as os_signal

        for process in self.processes:
            process.send_signal(os_signal.SIGTERM)
        summaries = []
        for process in self.processes:
            output, _ = process.communicate(timeout=60)
            summaries.append(output.strip().splitlines()[-1] if output.strip() else "")
        self.processes = []
        return summaries


class EmulatorProcess:
    """The receiver emulator in a process of its own, as a real receiver would be: in the
    benchmark's process its threads (a thousand and more requests a second) would hold the
    GIL while the benchmark records alarms and timestamps their acceptance, and the figures
    would include that. XML v1 on loopback; ``with`` starts and stops it."""

    def __init__(self) -> None:
        import multiprocessing

        context = multiprocessing.get_context("spawn")  # nothing of this process's connections
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve_emulator, args=(child,), daemon=True)

    def __enter__(self) -> EmulatorProcess:
        self._process.start()
        self.port = self._call("port")
        return self

    def __exit__(self, *exc: object) -> None:
        self._call("stop")
        self._process.join(10)

    def _call(self, method: str, *args: object):
        self._pipe.send((method, args))
        return self._pipe.recv()

    def reset(self) -> None:
        self._call("reset")

    def wait_for_accepted(self, count: int, timeout: float) -> bool:
        return self._call("wait_for_accepted", count, timeout)

    def received_count(self) -> int:
        return self._call("received_count")

    def received_at(self, index: int):
        """When the ``index``-th accepted alarm arrived (a datetime)."""
        return self._call("received_at", index)

    def received(self) -> list[tuple[str, str, object]]:
        """Every accepted alarm in arrival order: (account, reference, received_at)."""
        return self._call("received")

    def counts(self) -> dict[str, int]:
        return self._call("counts")


def _serve_emulator(pipe) -> None:
    sys.path.insert(0, str(ROOT))
    from signals.emulator import ReceiverEmulator

    with ReceiverEmulator() as emulator:
        while True:
            method, args = pipe.recv()
            if method == "stop":
                pipe.send(None)
                return
            if method == "port":
                pipe.send(emulator.port)
            elif method == "reset":
                pipe.send(emulator.reset())
            elif method == "wait_for_accepted":
                pipe.send(emulator.wait_for_accepted(*args))
            elif method == "received_count":
                pipe.send(len(emulator.received))
            elif method == "received_at":
                pipe.send(emulator.received[args[0]].received_at)
            elif method == "received":
                pipe.send([(r.account, r.reference, r.received_at) for r in emulator.received])
            elif method == "counts":
                pipe.send(dict(emulator.counts))
