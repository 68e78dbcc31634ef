"""Ingestion: bridge events per second through the device API, over real HTTP, served by
gunicorn as in production, with their latency, against a floor measured in the same run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/ingest.py
        [--workers 4] [--concurrency 8] [--requests 600] [--rounds 3] [--limits-redis URL]

The server is ``gunicorn portal.wsgi`` (sync workers, production settings, psycopg's pool)
against a throw-away PostgreSQL test database; the client is this process (asyncio, one TCP
connection per request, as gunicorn's sync workers close each one), on the same machine, so
both share its cores.

- floor: ``GET /api/devices/events`` through the same gunicorn, the same middleware and the
  same URL: answered 405 by the view without touching the database. What any request costs.
- events: ``POST /api/devices/events``, each a new alarm from one of the bridges, authenticated
  by its token, stored with its signal (one account with a receiver per site) in one
  transaction: the whole of ingestion, up to the outbox row. Each must answer 201.

The device API's rate limits (signals/limits.py) are configured so that they never refuse:
first counted as in production (in the database, or in Redis with --limits-redis) with
limits far above what the run sends, then switched off, to show what counting costs. Logging is
at ERROR, so the floor's refusals (405) write no log line per request.

The cases take turns in rounds (floor, events, floor, events ...); the summary gives the median
over the rounds and the spread. Afterwards the database is checked: every event answered 201
is stored once, with its signal.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime

from _harness import ROOT, database_url, test_database

NEVER = 1_000_000_000  # a limit no run reaches: counted, never refusing


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """``gunicorn portal.wsgi`` on a free loopback port, production settings."""

    def __init__(self, *, workers: int, limits: dict[str, str], log) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "portal.settings",
            "DATABASE_URL": database_url(),
            "DJANGO_SECRET_KEY": "bench-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            "DJANGO_DEBUG": "false",
            "DJANGO_SECURE": "false",  # plain HTTP on loopback
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
            "DJANGO_LOG_LEVEL": "ERROR",
            # whitenoise's note that collectstatic never ran: the API serves no static file.
            "PYTHONWARNINGS": "ignore:No directory at:UserWarning",
            **limits,
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "portal.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited while starting")
            try:
                status, _ = asyncio.run(request(self.port, floor_request()))
            except OSError:
                time.sleep(0.2)
                continue
            if status == 405:
                return
        raise RuntimeError("gunicorn did not answer within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


# --- the client ---------------------------------------------------------------------------------


def floor_request() -> bytes:
    return b"GET /api/devices/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"


def event_request(serial: str, token: str, event_id: str) -> bytes:
    body = json.dumps(
        {
            "serial": serial,
            "event_id": event_id,
            "kind": "alarm",
            "zone": 1,
            "time": datetime.now(UTC).isoformat(),
        }
    ).encode()
    head = (
        "POST /api/devices/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        f"Authorization: Bearer {token}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def request(port: int, data: bytes) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        body = await reader.readexactly(length) if length else b""
        return status, body
    finally:
        writer.close()


async def burst(port: int, requests: list[bytes], concurrency: int) -> tuple[float, list, Counter]:
    """Send every request, ``concurrency`` at a time: (seconds, latencies, status counts)."""
    pending = iter(requests)
    latencies: list[float] = []
    statuses: Counter = Counter()

    async def client() -> None:
        for data in pending:
            start = time.perf_counter()
            status, _ = await request(port, data)
            latencies.append(time.perf_counter() - start)
            statuses[status] += 1

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return time.perf_counter() - start, latencies, statuses


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def line(label: str, seconds: float, latencies: list[float], floor: float | None = None) -> float:
    per_second = len(latencies) / seconds
    median_ms, p99_ms = statistics.median(latencies) * 1000, p99(latencies) * 1000
    text = (
        f"  {label:<34} {per_second:8,.0f} /s   median {median_ms:7.2f} ms   p99 {p99_ms:7.2f} ms"
    )
    if floor:
        text += f"   {per_second / floor:6.1%} of the floor's rate"
    print(text, flush=True)
    return per_second


def statements_per_event(serial: str, token: str) -> None:
    """One event through Django in this process: the statements it sends to PostgreSQL. On a
    busy machine each round trip waits for the database's process to be scheduled."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    data = event_request(serial, token, "statements-1").split(b"\r\n\r\n", 1)[1]
    with CaptureQueriesContext(connection) as queries:
        response = Client().post(
            "/api/devices/events",
            data,
            content_type="application/json",
            headers={"authorization": f"Bearer {token}"},
        )
    assert response.status_code == 201, response.content
    sql = [q["sql"] for q in queries.captured_queries]
    limits = sum("signals_requestcount" in q for q in sql)
    commits = sum(q.startswith("COMMIT") for q in sql)
    print(
        f"one event: {len(sql)} statements to PostgreSQL ({limits} of them count the rate "
        f"limits in the database), {commits} commits"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (README: 4)")
    parser.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    parser.add_argument("--requests", type=int, default=600, help="per case per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--bridges", type=int, default=200, help="sites, one bridge each")
    parser.add_argument("--limits-redis", default="", help="count the limits in this Redis")
    args = parser.parse_args()

    with test_database():
        from django.db import connection

        if connection.vendor != "postgresql":
            sys.exit("bench/ingest.py needs PostgreSQL: set DATABASE_URL (see the docstring).")

        from customers.models import Bridge, Customer, MonitoringAccount, Zone
        from signals import lib
        from signals.models import AlarmEvent, Signal
        from tests.factories import DealerStationFactory

        record = DealerStationFactory()  # a station with a receiver: each event is signalled
        customers = Customer.objects.bulk_create(
            Customer(dealer=record.dealer, name=f"Site {i:05d}") for i in range(args.bridges)
        )
        MonitoringAccount.objects.bulk_create(
            MonitoringAccount(
                customer=customer,
                station_record=record,
                station=record.station,
                account_number=f"{10000 + i}",
            )
            for i, customer in enumerate(customers)
        )
        Zone.objects.bulk_create(Zone(customer=c, number=1, name="Front door") for c in customers)
        tokens = [lib.device_token_new() for _ in customers]
        bridges = Bridge.objects.bulk_create(
            Bridge(customer=c, serial=f"BENCH{i:06d}", token_hash=lib.device_token_hash(token))
            for i, (c, token) in enumerate(zip(customers, tokens, strict=True))
        )
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        statements_per_event(bridges[0].serial, tokens[0])

        counted = {
            "DEVICE_API_LIMIT_PER_TOKEN": str(NEVER),
            "DEVICE_API_LIMIT_PER_ADDRESS": str(NEVER),
        }
        where = "the database"
        if args.limits_redis:
            counted["DJANGO_LIMITS_REDIS_URL"] = args.limits_redis
            where = "Redis"
        configurations = {
            f"limits counted in {where}, never reached": counted,
            "limits off": {"DEVICE_API_LIMIT_PER_TOKEN": "0", "DEVICE_API_LIMIT_PER_ADDRESS": "0"},
        }
        print(
            f"postgresql: gunicorn portal.wsgi, {args.workers} sync workers, production "
            f"settings, psycopg pool; client: this process, {args.concurrency} requests in "
            f"flight, one connection each; {args.requests} requests per case per round; "
            f"{args.bridges} bridges; {os.cpu_count()} cores shared by server and client"
        )
        log = tempfile.NamedTemporaryFile(  # noqa: SIM115  (read back at the end)
            "w+", prefix="bench-ingest-", suffix=".log", delete=False
        )
        sent = 0
        answered: Counter = Counter()
        summary: dict[str, dict[str, list[float]]] = {}
        for label, limits in configurations.items():
            print(f"{label}:")
            server = Gunicorn(workers=args.workers, limits=limits, log=log)
            figures = summary.setdefault(label, {"rate": [], "share": [], "p99": [], "fp99": []})
            try:
                warmup = [floor_request()] * 50
                asyncio.run(burst(server.port, warmup, args.concurrency))
                for number in range(1, args.rounds + 1):
                    events = []
                    for _ in range(args.requests):
                        i = sent % len(bridges)
                        events.append(event_request(bridges[i].serial, tokens[i], f"b{sent}"))
                        sent += 1
                    seconds, floor_lat, statuses = asyncio.run(
                        burst(server.port, [floor_request()] * args.requests, args.concurrency)
                    )
                    assert set(statuses) == {405}, statuses
                    print(f" round {number}")
                    floor = line("floor: GET, answered 405", seconds, floor_lat)
                    seconds, latencies, statuses = asyncio.run(
                        burst(server.port, events, args.concurrency)
                    )
                    answered.update(statuses)
                    rate = line("events: POST, stored, 201", seconds, latencies, floor)
                    if set(statuses) != {201}:
                        print(f"  !! answers: {dict(statuses)}", flush=True)
                    figures["rate"].append(rate)
                    figures["share"].append(rate / floor)
                    figures["p99"].append(p99(latencies) * 1000)
                    figures["fp99"].append(p99(floor_lat) * 1000)
            finally:
                server.stop()

        print(f"summary over {args.rounds} round(s) each: median (spread)")
        for label, figures in summary.items():
            rate, share, late, floor_late = (figures[k] for k in ("rate", "share", "p99", "fp99"))
            print(
                f"  {label}: {statistics.median(rate):,.0f} events/s "
                f"({min(rate):,.0f}-{max(rate):,.0f}), {statistics.median(share):.1%} of the "
                f"floor's rate ({min(share):.1%}-{max(share):.1%}); p99 "
                f"{statistics.median(late):.1f} ms ({min(late):.1f}-{max(late):.1f}) against "
                f"the floor's {statistics.median(floor_late):.1f} ms"
            )
        log.seek(0)
        lines = log.read().splitlines()
        # Django's own request logger still notes each 405 of the floor; anything else matters.
        other = [x for x in lines if "Method Not Allowed" not in x]
        print(
            f"gunicorn's log ({log.name}): {len(lines)} lines, {len(other)} of them not the "
            "floor's 405s"
        )
        for text in other[:10]:
            print(f"  | {text}")
        run = {"bridge__serial__startswith": "BENCH", "device_event_id__startswith": "b"}
        events = AlarmEvent.objects.filter(**run).count()
        signals = Signal.objects.filter(**{f"event__{k}": v for k, v in run.items()}).count()
        print(
            f"check: {sent} events sent, answered {dict(answered)}; {events} stored, "
            f"{signals} signals in the outbox"
            + ("" if events == signals == answered[201] == sent else "   !! MISMATCH")
        )


if __name__ == "__main__":
    main()
