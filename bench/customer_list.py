"""Customer list speed at 10,000 customers: first and last page, against a trivial page.

.venv/bin/python bench/customer_list.py            # SQLite
DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/customer_list.py
"""

from __future__ import annotations

import argparse

from _harness import report, test_database, timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()

    with test_database():
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        from customers.models import Customer, MonitoringAccount
        from tests.factories import DealerStationFactory, MembershipFactory

        owner = MembershipFactory().user
        dealer = owner.dealer_memberships.get().dealer
        record = DealerStationFactory(dealer=dealer)
        # Another dealer with as many customers: the list must not pay for them.
        other = DealerStationFactory(receiver=record.receiver)
        for target, offset in ((dealer, 0), (other.dealer, args.customers)):
            Customer.objects.bulk_create(
                Customer(dealer=target, name=f"Site {i:06d}", address=f"{i} Main Street")
                for i in range(offset, offset + args.customers)
            )
        MonitoringAccount.objects.bulk_create(
            MonitoringAccount(
                customer=c, station_record=record, station=record.station, account_number=f"{i}"
            )
            for i, c in enumerate(Customer.objects.filter(dealer=dealer).order_by("id"))
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

        client = Client()
        client.force_login(owner)
        url = reverse("customers:list")
        last = client.get(url).context["paginator"].num_pages

        def get(path: str, params: dict | None = None):
            response = client.get(path, params or {})
            assert response.status_code == 200, response.status_code

        print(f"{connection.vendor}: {args.customers} customers per dealer, two dealers")
        floor = timed(lambda: get(reverse("dealers:member-list")), repeat=args.repeat)
        report("floor: team page (trivial, signed in)", floor)
        report("customer list, first page", timed(lambda: get(url), repeat=args.repeat), floor)
        report(
            f"customer list, last page ({last})",
            timed(lambda: get(url, {"page": last}), repeat=args.repeat),
            floor,
        )
        report(
            "customer list, search by account",
            timed(lambda: get(url, {"q": "9876"}), repeat=args.repeat),
            floor,
        )
        report(
            "customer list, search by name",
            timed(lambda: get(url, {"q": "site 00998"}), repeat=args.repeat),
            floor,
        )


if __name__ == "__main__":
    main()
