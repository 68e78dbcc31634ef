"""Customer list speed at 10,000 customers: first and last page and the two searches, against
a trivial page measured in the same run.

.venv/bin/python bench/customer_list.py            # SQLite
DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/customer_list.py
    [--rounds 3] [--explain]

Every request goes through the whole Django stack (middleware, session, auth, URL routing,
template). The floor is the team page of a one-person dealer: signed in, a handful of small
queries, a short template. The cases take turns (floor, first page, last page, ...) so that a
change of load on a shared machine hits them alike. Each round prints its figures; the summary
gives the median ratio over the rounds and its spread. Aims: first and last page at most 1.5x
the floor, a search by account number or by name at most 2x.

The tables are vacuumed and analysed after seeding, as autovacuum does to a table that grew.
``--explain`` prints PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of each customer query the pages run.
"""

from __future__ import annotations

import argparse
import statistics

from _harness import explain_request, interleaved, report, summarize, test_database

AIMS = {
    "customer list, first page": 1.5,
    "customer list, last page": 1.5,
    "customer list, search by account": 2.0,
    "customer list, search by name": 2.0,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--explain", action="store_true", help="print the query plans")
    args = parser.parse_args()

    with test_database():
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        from customers.models import Customer, MonitoringAccount
        from customers.views.sites import CustomerListView
        from tests.factories import DealerStationFactory, MembershipFactory

        owner = MembershipFactory().user
        dealer = owner.dealer_memberships.get().dealer
        record = DealerStationFactory(dealer=dealer)
        # Another dealer with as many customers and accounts: the list must not pay for them.
        other = DealerStationFactory(receiver=record.receiver)
        for target, offset in ((dealer, 0), (other.dealer, args.customers)):
            Customer.objects.bulk_create(
                (
                    Customer(dealer=target, name=f"Site {i:06d}", address=f"{i} Main Street")
                    for i in range(offset, offset + args.customers)
                ),
                batch_size=5_000,
            )
        for target, station_record in ((dealer, record), (other.dealer, other)):
            MonitoringAccount.objects.bulk_create(
                (
                    MonitoringAccount(
                        customer=c,
                        station_record=station_record,
                        station=station_record.station,
                        account_number=f"{i}" if target == dealer else f"X{i}",
                    )
                    for i, c in enumerate(Customer.objects.filter(dealer=target).order_by("id"))
                ),
                batch_size=5_000,
            )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("VACUUM ANALYZE")

        client = Client()
        client.force_login(owner)
        url = reverse("customers:list")
        page_size = CustomerListView.paginate_by
        last = (Customer.objects.for_dealer(dealer).count() + page_size - 1) // page_size

        def get(path: str, params: dict | None = None):
            def request() -> None:
                response = client.get(path, params or {})
                assert response.status_code == 200, response.status_code

            return request

        cases = {
            "floor: team page (trivial, signed in)": get(reverse("dealers:member-list")),
            "customer list, first page": get(url),
            "customer list, last page": get(url, {"page": last}),
            "customer list, search by account": get(url, {"q": "9876"}),
            "customer list, search by name": get(url, {"q": "site 00998"}),
        }
        floor_label = next(iter(cases))
        print(
            f"{connection.vendor}: {args.customers} customers per dealer, two dealers; "
            f"the last page is page {last}; {args.repeat} requests per case per round"
        )
        ratios: dict[str, list[float]] = {label: [] for label in cases if label != floor_label}
        for number in range(1, args.rounds + 1):
            print(f"round {number}")
            samples = interleaved(cases, repeat=args.repeat)
            floor = samples[floor_label]
            report(floor_label, floor)
            for label in ratios:
                report(label, samples[label], floor)
                ratios[label].append(statistics.median(samples[label]) / statistics.median(floor))
        summarize(ratios, AIMS)

        if args.explain and connection.vendor == "postgresql":
            tables = ("customers_customer", "customers_monitoringaccount")
            for label, fn in cases.items():
                if label != floor_label:
                    print(f"\n== {label}: plans")
                    explain_request(fn, tables=tables)


if __name__ == "__main__":
    main()
