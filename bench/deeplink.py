"""Deep-link speed with 100,000 accounts at the station, against a trivial signed-in page.

    .venv/bin/python bench/deeplink.py
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/deeplink.py

Both go through the whole Django stack (middleware, session, auth, URL routing, template).
The aim: a resolved deep link costs less than twice the trivial page.
"""

from __future__ import annotations

import argparse
import random

from _harness import median_ms, report, test_database, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()

    with test_database():
        from django.db import connection
        from django.test import Client

        from customers.models import Customer, MonitoringAccount
        from tests.factories import (
            BridgeFactory,
            CameraFactory,
            DealerStationFactory,
            StationMembershipFactory,
            ZoneFactory,
        )

        record = DealerStationFactory()
        operator = StationMembershipFactory(station=record.station).user
        batch = 10_000
        for start in range(0, args.accounts, batch):
            customers = Customer.objects.bulk_create(
                Customer(dealer=record.dealer, name=f"Site {i:06d}", site_id=f"B{i:09d}")
                for i in range(start, min(start + batch, args.accounts))
            )
            MonitoringAccount.objects.bulk_create(
                MonitoringAccount(
                    customer=c,
                    station_record=record,
                    station=record.station,
                    account_number=f"{100000 + start + i}",
                    reference_id=f"R{start + i}",
                )
                for i, c in enumerate(customers)
            )
        # A handful of sites get real devices: 2 bridges, 8 cameras, 8 zones each.
        sample = list(Customer.objects.order_by("?")[:20])
        for customer in sample:
            for b in range(2):
                bridge = BridgeFactory(customer=customer)
                for channel in range(1, 5):
                    camera = CameraFactory(bridge=bridge, channel=channel)
                    ZoneFactory(customer=customer, number=b * 4 + channel).cameras.add(camera)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        numbers = list(
            MonitoringAccount.objects.filter(customer__in=sample).values_list(
                "account_number", "reference_id"
            )
        )

        client = Client()
        client.force_login(operator)
        rng = random.Random(7)

        def trivial() -> None:
            assert client.get("/operator/").status_code == 200

        def by_account() -> None:
            number, _ = rng.choice(numbers)
            assert (
                client.get(f"/monitoring?act={number}&zone=00{rng.randint(1, 8)}").status_code
                == 200
            )

        def by_reference() -> None:
            _, reference = rng.choice(numbers)
            assert client.get(f"/monitoring?massite={reference}&zone=3").status_code == 200

        def not_found() -> None:
            assert client.get("/monitoring?act=NOSUCH1").status_code == 404

        print(
            f"{connection.vendor}: {args.accounts} accounts at the station, "
            f"{args.repeat} requests each"
        )
        floor = timed(trivial, repeat=args.repeat)
        report("floor: operator start page (trivial)", floor)
        account = timed(by_account, repeat=args.repeat)
        report("deep link by account number + zone", account, floor)
        report("deep link by reference ID + zone", timed(by_reference, repeat=args.repeat), floor)
        report("deep link, unknown number (404)", timed(not_found, repeat=args.repeat), floor)
        print(
            f"ratio deep link / trivial page: {median_ms(account) / median_ms(floor):.2f} (aim < 2)"
        )


if __name__ == "__main__":
    main()
