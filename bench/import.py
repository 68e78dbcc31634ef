"""Bulk import of customers: preview and import of 1,000 and 10,000 lines, per line.

Prints the time and the number of queries per line for the preview (checking every line) and
the import (writing them all, with history), for new sites and for the same file imported
again (nothing changes). Neither may grow with the number of lines. The floor, measured in
the same run, is a bare bulk insert of as many customer rows: the least that writing them
can cost.

.venv/bin/python bench/import.py            # SQLite
DATABASE_URL=postgres://postgres@127.0.0.1:5432/portal .venv/bin/python bench/import.py
"""

from __future__ import annotations

import argparse
import time

from _harness import test_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000])
    args = parser.parse_args()

    with test_database():
        import tablib
        from django.db import connection, transaction
        from django.test.utils import CaptureQueriesContext

        from customers import imports
        from customers.models import Customer, MonitoringAccount
        from tests.factories import DealerStationFactory, MembershipFactory

        # Another dealer already has 10,000 accounts at the station: the uniqueness check
        # looks across dealers.
        shared = DealerStationFactory()
        Customer.objects.bulk_create(
            Customer(dealer=shared.dealer, name=f"Theirs {i}") for i in range(10_000)
        )
        MonitoringAccount.objects.bulk_create(
            MonitoringAccount(
                customer=customer,
                station_record=shared,
                station=shared.station,
                account_number=f"X{i}",
            )
            for i, customer in enumerate(Customer.objects.filter(dealer=shared.dealer))
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

        def measure(label: str, lines: int, fn) -> tuple[float, int]:
            with CaptureQueriesContext(connection) as queries:
                start = time.perf_counter()
                result = fn()
                seconds = time.perf_counter() - start
            per_line_ms = seconds * 1000 / lines
            per_line_q = len(queries) / lines
            print(
                f"  {label:<34} {seconds:7.2f} s  {per_line_ms:6.3f} ms/line  "
                f"{len(queries):5d} queries  {per_line_q:6.4f} queries/line",
                flush=True,
            )
            return per_line_ms, result

        print(f"{connection.vendor}: lines of new sites, each with an account and two zones")
        for size in args.sizes:
            owner = MembershipFactory().user
            dealer = owner.dealer_memberships.get().dealer
            DealerStationFactory(dealer=dealer, receiver=shared.receiver, name="Central")
            dataset = tablib.Dataset(
                headers=[
                    "Name",
                    "Street address",
                    "City",
                    "Time zone",
                    "Central account number",
                    "Central reference ID",
                    "Zones",
                ]
            )
            for i in range(size):
                dataset.append(
                    [
                        f"Site {i:06d}",
                        f"{i} Main Street",
                        "Springfield",
                        "America/Chicago",
                        f"{size}-{i}",
                        f"R{size}-{i}",
                        "017 Front door [Entry/Exit]; 018 Stock room [Instant]",
                    ]
                )
            content = dataset.export("csv").encode()
            print(f"{size} lines ({len(content) // 1024} KiB)")

            def floor(size=size, dealer=dealer):
                with transaction.atomic():
                    Customer.objects.bulk_create(
                        (Customer(dealer=dealer, name=f"F{i}") for i in range(size)),
                        batch_size=500,
                    )
                    transaction.set_rollback(True)

            floor_ms, _ = measure("floor: bulk insert of bare rows", size, floor)
            parsed = imports.read_file(content, "csv")
            preview_ms, plan = measure(
                "preview (new sites)", size, lambda p=parsed, d=dealer: imports.plan_import(d, p)
            )
            assert plan.ok, plan.summary()["rows"][:3]
            import_ms, _ = measure(
                "import (new sites)",
                size,
                lambda p=parsed, d=dealer, o=owner: imports.commit_import(d, p, actor=o),
            )
            assert Customer.objects.filter(dealer=dealer).count() == size
            everyone = Customer.objects.for_dealer(dealer).order_by("name")
            exported = imports.read_file(
                imports.export_file(imports.export_rows(dealer, everyone), "csv"), "csv"
            )
            again_ms, plan = measure(
                "preview (the export, unchanged)",
                size,
                lambda p=exported, d=dealer: imports.plan_import(d, p),
            )
            assert plan.counts()["unchanged"] == size
            measure(
                "import (the export, unchanged)",
                size,
                lambda p=exported, d=dealer, o=owner: imports.commit_import(d, p, actor=o),
            )
            print(
                f"  ratio to floor per line: preview {preview_ms / floor_ms:.1f}x, "
                f"import {import_ms / floor_ms:.1f}x, re-import preview "
                f"{again_ms / floor_ms:.1f}x",
                flush=True,
            )


if __name__ == "__main__":
    main()
