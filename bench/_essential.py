"""A floor for ``bench/signals.py``: the work every delivered signal needs, and nothing else,
run as a process of its own like a dispatcher.

It claims a batch (``--batch``, the benchmark's) with the dispatcher's own claim statement
(rows read as plain tuples), sends each one's stored XML v1 package over ``--connections``
connections that one thread watches with a selector, reads and validates every reply as the
dispatcher does (``decode_reply``, hardened parser and XSD, reference checked), and records
each batch as the dispatcher does (attempts by COPY, rows locked and written by primary key,
one transaction per batch) on a second thread while the next batch is sent.

It is not a dispatcher: no deadlines, no failover, no lease checks, no path health, no
alarms first, no stopping cleanly; a reply that is not ``accepted`` stops it. What it shows is
how much of the dispatcher's time goes into the essential work and how much into its own
structure (threads per connection, objects per signal, the checks above), and so what a
dispatcher built around one thread and a selector could reach.

    python bench/_essential.py --port P --path-id N --connections 8 --batch 200 --gate UNIX_TIME

with ``DATABASE_URL`` naming the (test) database; ``bench/signals.py`` starts it.
"""

from __future__ import annotations

import argparse
import os
import queue
import selectors
import socket
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OWNER = "bench-essential"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path-id", type=int, required=True)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--batch", type=int, default=200, help="claimed and recorded at once")
    parser.add_argument("--gate", type=float, required=True, help="start at this UNIX time")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings_test")
    import django

    django.setup()
    from django.db import connection, transaction
    from django.utils import timezone

    from signals import claiming
    from signals.codecs.xml_v1 import HEADER, decode_reply, encode_frame, frame_size
    from signals.recording import attempt_row, insert_attempts

    if connection.vendor != "postgresql":
        raise SystemExit("the essential-work floor needs PostgreSQL")

    def claim() -> list[tuple[int, str, bytes]]:
        statement = claiming.claim_statement(args.batch, most=None, unleased_only=False)
        now = timezone.now()
        params = statement.params(
            owner=OWNER, expires=now + timedelta(seconds=30), now=now, most=None
        )
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(claiming.PLANNER_SETTINGS)
            cursor.execute(statement.sql, params)
            names = [column.name for column in cursor.description]
            rows = cursor.fetchall()
        pk, reference, payload = (names.index(n) for n in ("id", "reference", "payload"))
        return [(row[pk], row[reference], bytes(row[payload])) for row in rows]

    def record(results: list[tuple]) -> None:
        now = timezone.now()
        attempts = [
            attempt_row(
                signal_id=pk,
                started_at=started_at,
                duration_ms=took,
                path_id=args.path_id,
                path_role="primary",
                dispatcher_id=OWNER,
                outcome="delivered",
                protocol="xml_v1",
                sent=b"",
                sent_decrypted=b"",
                sent_is_payload=True,
                reply=reply,
                error="",
            )
            for pk, payload, started_at, took, reply in results
        ]
        fields = {
            "state": "delivered",
            "delivered_at": now,
            "lease_owner": "",
            "lease_expires_at": None,
            "ack_status": "accepted",
            "ack_reason": "",
            "protocol": "xml_v1",
            "last_error": "",
        }
        with transaction.atomic():
            insert_attempts(attempts)
            ids = [result[0] for result in results]
            rows = claiming.locked_rows(ids)
            ours = [pk for pk in ids if rows.get(pk) == ("pending", OWNER)]
            claiming.write_by_pk(ours, fields, add={"attempts": 1})

    batches: queue.Queue[list[tuple] | None] = queue.Queue(1)

    def write() -> None:
        while (results := batches.get()) is not None:
            record(results)
            batches.task_done()
        batches.task_done()

    writer = threading.Thread(target=write, daemon=True)
    writer.start()

    selector = selectors.DefaultSelector()
    idle = []
    for _ in range(args.connections):
        sock = socket.create_connection(("127.0.0.1", args.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # Blocking: a frame this small goes out in one send, and the selector says when a
        # reply can be read without waiting.
        selector.register(sock, selectors.EVENT_READ, {"signal": None, "buffer": b""})
        idle.append(sock)
    # The benchmark counts this process's CPU from here on (or from the gate, if later).
    print("ready", flush=True)
    time.sleep(max(0.0, args.gate - time.time()))

    while True:
        claimed = claim()
        if not claimed:
            batches.join()  # what is being recorded may make the next signals due
            claimed = claim()
            if not claimed:
                break
        waiting = claimed[::-1]
        results = []
        in_flight = 0
        while waiting or in_flight:
            while idle and waiting:
                sock = idle.pop()
                signal = waiting.pop()
                state = selector.get_key(sock).data
                state["signal"] = (signal, timezone.now(), time.monotonic())
                state["buffer"] = b""
                sock.sendall(encode_frame(signal[2]))
                in_flight += 1
            for key, _ in selector.select(10):
                sock, state = key.fileobj, key.data
                chunk = sock.recv(65536)
                if not chunk:
                    raise SystemExit("the receiver closed a connection")
                state["buffer"] += chunk
                size = frame_size(state["buffer"])
                if size is None:
                    continue
                (pk, reference, payload), started_at, start = state["signal"]
                reply = state["buffer"][HEADER.size : size]
                ack = decode_reply(reply, expected_reference=reference)
                if not ack.delivered:
                    raise SystemExit(f"signal {reference} not delivered: {ack.status}")
                took = round((time.monotonic() - start) * 1000)
                results.append((pk, payload, started_at, took, reply))
                in_flight -= 1
                idle.append(sock)
        batches.put(results)
    batches.put(None)
    writer.join()


if __name__ == "__main__":
    main()
