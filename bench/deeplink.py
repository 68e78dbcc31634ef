"""Deep-link speed at 10,000 and at 1,000,000 accounts, against a trivial signed-in page.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/deeplink.py
        [--accounts 10000,1000000] [--rounds 3] [--repeat 200] [--rebuild] [--explain]
        [--profile N]

Every request goes through the whole Django stack (middleware, session, auth, URL routing,
template). The floor is the operator's start page: signed in, two small queries, a short
template. The cases take turns (floor, by account, by reference, 404, floor, ...) so that a
change of load on a shared machine hits them alike, and each round measures every size in
turn, so that the sizes are compared under the same load; the summary gives the median ratio
over the rounds. Aims, at every size: median at most 1.5x the floor and p99 at most 2x the floor's
p99, and the same ratio at 10,000 as at 1,000,000 accounts (the lookups are index probes).

Each size has its own database, kept between runs (``<DATABASE_URL's name>_deeplink_<size>``):
seeding a million accounts takes a minute, so it happens once; ``--rebuild`` seeds again. The
accounts all belong to the operator's one station, the worst case for the station-scoped lookup.
``--explain`` prints PostgreSQL's plans for a deep link's queries; ``--profile N`` prints where
N deep links by account spend their time (cProfile, cumulative).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import statistics
from collections.abc import Callable

from _harness import (
    django_setup,
    explain_request,
    interleaved,
    kept_database,
    mark_seeded,
    median_ms,
    p99_ms,
    report,
    summarize,
)

# Bump when the seed below changes shape: kept databases of another version are rebuilt.
SEED_VERSION = "deeplink-3"
# One site in ten has a bridge pair: 2 bridges, 8 cameras, 8 zones each linked to its camera,
# and a history as a site with video has one: EVENTS_PER_SITE events, every other one an alarm
# in one of its zones with a snapshot and a clip from the zone's camera, the rest restores.
DEVICES_EVERY = 10
EVENTS_PER_SITE = 16
SAMPLE_SITES = 20


def seed(accounts: int) -> None:
    """``accounts`` sites with one account each at one station, and the devices, events and
    media of one site in ten (so that those tables are large enough for their plans to be an
    index's, and a deep link's page has what an operator's has: alarms with snapshots and
    clips to show), in a few set-based statements: an INSERT ... SELECT runs inside the server,
    no row crosses the wire."""
    from django.db import connection

    from tests.factories import DealerStationFactory, StationMembershipFactory

    record = DealerStationFactory()
    StationMembershipFactory(station=record.station)
    statements = [
        (
            """
            INSERT INTO customers_customer (code, site_id, dealer_id, name, address, city,
                region, postal_code, country, time_zone, notes, status, created_at, updated_at)
            SELECT gen_random_uuid(), 'B' || lpad(i::text, 9, '0'), %s,
                'Site ' || lpad(i::text, 7, '0'), i || ' Main Street', 'Springfield', '', '',
                'United States', 'America/New_York', '', 'active', now(), now()
            FROM generate_series(0, %s - 1) AS i
            """,
            [record.dealer_id, accounts],
        ),
        (
            """
            INSERT INTO customers_monitoringaccount (code, customer_id, station_record_id,
                station_id, account_number, reference_id, created_at, updated_at)
            SELECT gen_random_uuid(), c.id, %s, %s,
                (100000 + substr(c.site_id, 2)::int)::text, 'R' || substr(c.site_id, 2)::int,
                now(), now()
            FROM customers_customer c WHERE c.dealer_id = %s
            """,
            [record.pk, record.station_id, record.dealer_id],
        ),
        (
            """
            INSERT INTO customers_bridge (code, customer_id, serial, model, name, token_hash,
                relay_url, created_at)
            SELECT gen_random_uuid(), c.id, 'BR' || substr(c.site_id, 2) || '-' || b,
                'bridge-4', '', '', '', now()
            FROM customers_customer c CROSS JOIN generate_series(0, 1) AS b
            WHERE substr(c.site_id, 2)::int %% %s = 0
            """,
            [DEVICES_EVERY],
        ),
        (
            """
            INSERT INTO customers_camera (code, bridge_id, channel, name, stream_url)
            SELECT gen_random_uuid(), br.id, ch, 'Camera ' || ch, ''
            FROM customers_bridge br CROSS JOIN generate_series(1, 4) AS ch
            """,
            [],
        ),
        (
            """
            INSERT INTO customers_zone (code, customer_id, number, name, zone_type)
            SELECT gen_random_uuid(), br.customer_id, right(br.serial, 1)::int * 4 + ch,
                'Zone ' || (right(br.serial, 1)::int * 4 + ch), 'instant'
            FROM customers_bridge br CROSS JOIN generate_series(1, 4) AS ch
            """,
            [],
        ),
        (
            """
            INSERT INTO customers_zone_cameras (zone_id, camera_id)
            SELECT z.id, cam.id
            FROM customers_camera cam
            JOIN customers_bridge br ON br.id = cam.bridge_id
            JOIN customers_zone z ON z.customer_id = br.customer_id
                AND z.number = right(br.serial, 1)::int * 4 + cam.channel
            """,
            [],
        ),
        (
            # Event n, newest first, 37 minutes apart: an alarm (even n) or its restore, in
            # zone (n / 2) mod 8 + 1, from the bridge and channel of that zone's camera.
            """
            INSERT INTO signals_alarmevent (code, kind, source, zone_number, channel,
                device_event_id, device_time_sent, occurred_at, received_at, description,
                bridge_id, customer_id, unsent_reason)
            SELECT gen_random_uuid(), CASE WHEN mod(n, 2) = 0 THEN 'alarm' ELSE 'restore' END,
                'device', mod(n / 2, 8) + 1, mod(mod(n / 2, 8), 4) + 1, '', '',
                now() - n * interval '37 minutes', now() - n * interval '37 minutes',
                'Zone ' || (mod(n / 2, 8) + 1), br.id, br.customer_id, ''
            FROM customers_bridge br CROSS JOIN generate_series(0, %s - 1) AS n
            WHERE right(br.serial, 1)::int = mod(n / 2, 8) / 4
            """,
            [EVENTS_PER_SITE],
        ),
        (
            """
            INSERT INTO media_mediaitem (code, channel, kind, phase, file, content_type, size,
                sha256, width, height, duration_seconds, captured_at, created_at, upload_id,
                bridge_id, camera_id, customer_id, event_id)
            SELECT gen_random_uuid(), cam.channel, m.kind, '',
                c.code || '/' || to_char(e.occurred_at, 'YYYY/MM/DD') || '/'
                    || gen_random_uuid() || m.ext,
                m.content_type, 48000, md5(e.id::text) || md5(m.kind || e.id::text), 1280, 720,
                m.duration, e.occurred_at, e.received_at, '', e.bridge_id, cam.id,
                e.customer_id, e.id
            FROM signals_alarmevent e
            JOIN customers_camera cam ON cam.bridge_id = e.bridge_id AND cam.channel = e.channel
            JOIN customers_customer c ON c.id = e.customer_id
            CROSS JOIN (VALUES ('snapshot', 'image/jpeg', '.jpg', NULL::float8),
                               ('clip', 'video/mp4', '.mp4', 10.0::float8))
                AS m(kind, content_type, ext, duration)
            WHERE e.kind = 'alarm'
            """,
            [],
        ),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("VACUUM ANALYZE")


LINK_BY_ACCOUNT = "deep link by account number + zone"
FLOOR = "floor: operator start page (trivial)"


def open_size(accounts: int, args: argparse.Namespace) -> dict[str, Callable[[], None]]:
    """Point Django at the kept database of this size (seeding it if needed) and return the
    cases, each a function making one request as the station's operator."""
    from django.test import Client

    from monitoring.services import opening_connections_release
    from stations.models import StationMembership

    # Openings' kept connections may belong to the previous size's database.
    opening_connections_release()
    if kept_database(f"deeplink_{accounts}", seed_version=SEED_VERSION, rebuild=args.rebuild):
        print(f"seeding {accounts:,} accounts (once; the database is kept)", flush=True)
        seed(accounts)
        mark_seeded(SEED_VERSION)
    operator = StationMembership.objects.select_related("user").get().user
    # A random handful of the sites with devices (the same ones every run).
    with_devices = list(range(0, accounts, DEVICES_EVERY))
    numbers = [
        (f"{100000 + i}", f"R{i}") for i in random.Random(7).sample(with_devices, SAMPLE_SITES)
    ]
    client = Client()
    client.force_login(operator)
    rng = random.Random(7)

    def trivial() -> None:
        assert client.get("/operator/").status_code == 200

    def by_account() -> None:
        number, _ = rng.choice(numbers)
        response = client.get(f"/monitoring?act={number}&zone=00{rng.randint(1, 8)}")
        assert response.status_code == 200, response.status_code

    def by_reference() -> None:
        _, reference = rng.choice(numbers)
        response = client.get(f"/monitoring?massite={reference}&zone=3")
        assert response.status_code == 200, response.status_code

    def not_found() -> None:
        assert client.get("/monitoring?act=NOSUCH1").status_code == 404

    return {
        FLOOR: trivial,
        LINK_BY_ACCOUNT: by_account,
        "deep link by reference ID + zone": by_reference,
        "deep link, unknown number (404)": not_found,
    }


def summarize_size(accounts: int, ratios: dict, p99_ratios: dict) -> None:
    print(f"\n{accounts:,} accounts:", flush=True)
    summarize(ratios, {label: 1.5 for label in ratios if "404" not in label})
    print("  p99 ratio to the floor's p99 (spread)")
    for label, values in p99_ratios.items():
        aim = "" if "404" in label else "   aim <= 2.0x"
        print(
            f"  {label:<38} {statistics.median(values):5.2f}x "
            f"({min(values):.2f}-{max(values):.2f}){aim}",
            flush=True,
        )


def inspect(accounts: int, cases: dict[str, Callable[[], None]], args) -> None:
    """--explain and --profile, at one size."""
    if args.explain:
        print(f"\n== plans at {accounts:,} accounts: deep link by account, then by reference")
        tables = (
            "customers_monitoringaccount",
            "customers_camera",
            "customers_zone",
            "monitoring_siteopening",
            "signals_alarmevent",
            "customers_sitedirections",
            "customers_contact",
        )
        explain_request(cases[LINK_BY_ACCOUNT], tables=tables)
        explain_request(cases["deep link by reference ID + zone"], tables=tables)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(args.profile):
            cases[LINK_BY_ACCOUNT]()
        profiler.disable()
        print(f"\n== profile of {args.profile} deep links by account at {accounts:,} accounts")
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(45)
        print("== the same, by time spent in each function itself")
        stats.sort_stats("tottime").print_stats(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--accounts",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[10_000, 1_000_000],
        help="comma-separated sizes (default 10000,1000000)",
    )
    parser.add_argument("--repeat", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true", help="seed the kept databases again")
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="profile N links")
    args = parser.parse_args()

    django_setup()
    from django.conf import settings
    from django.db import connection

    from monitoring.models import SiteOpening
    from portal import settings as production

    # As in production: the opening's writer keeps its connection between deep links (the test
    # settings give it back after every write, for the test database's sake).
    settings.OPENING_WRITER_IDLE_SECONDS = production.OPENING_WRITER_IDLE_SECONDS

    for accounts in args.accounts:
        open_size(accounts, args)
        # Each run starts from no openings, so "also opened by" reads the same rows every run;
        # and from no dead ones, which its index scan would still visit where autovacuum is off
        # (as on the benchmark's machine: 30,000 dead rows had made the page slower run by run).
        SiteOpening.objects.all().delete()
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {SiteOpening._meta.db_table}")
    args.rebuild = False
    print(
        f"postgresql: {', '.join(f'{n:,}' for n in args.accounts)} accounts at the station; "
        f"{args.repeat} requests per case per round; each round measures every size in turn",
        flush=True,
    )
    ratios: dict[int, dict[str, list[float]]] = {n: {} for n in args.accounts}
    p99_ratios: dict[int, dict[str, list[float]]] = {n: {} for n in args.accounts}
    for number in range(1, args.rounds + 1):
        for accounts in args.accounts:
            cases = open_size(accounts, args)
            print(f"round {number}, {accounts:,} accounts", flush=True)
            samples = interleaved(cases, repeat=args.repeat)
            floor = samples[FLOOR]
            report(FLOOR, floor)
            for label in cases:
                if label == FLOOR:
                    continue
                report(label, samples[label], floor)
                ratio = median_ms(samples[label]) / median_ms(floor)
                ratios[accounts].setdefault(label, []).append(ratio)
                p99_ratio = p99_ms(samples[label]) / p99_ms(floor)
                p99_ratios[accounts].setdefault(label, []).append(p99_ratio)
    for accounts in args.accounts:
        summarize_size(accounts, ratios[accounts], p99_ratios[accounts])
    for accounts in args.accounts:
        if args.explain or args.profile:
            inspect(accounts, open_size(accounts, args), args)
    print("\nratio of a deep link by account number + zone to the floor, by size:")
    for accounts in args.accounts:
        print(
            f"  {accounts:>9,} accounts: "
            f"median {statistics.median(ratios[accounts][LINK_BY_ACCOUNT]):.2f}x (aim <= 1.5)   "
            f"p99 {statistics.median(p99_ratios[accounts][LINK_BY_ACCOUNT]):.2f}x (aim <= 2)"
        )


if __name__ == "__main__":
    main()
