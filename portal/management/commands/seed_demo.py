"""Create the demo data for a local portal. Safe to run any number of times."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from customers import demo as customers_demo
from dealers import demo as dealers_demo
from media import demo as media_demo
from signals import demo as signals_demo
from stations import demo as stations_demo


class Command(BaseCommand):
    help = "Create (once) a demo dealer and its users, and print how to sign in."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--force",
            action="store_true",
            help="Seed even with DEBUG off (demo passwords are public: never in production).",
        )

    def handle(self, *args, force: bool = False, **options) -> None:
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo creates users with published passwords; it runs only with "
                "DJANGO_DEBUG=true (or --force on a throw-away database)."
            )
        with transaction.atomic():
            dealer = dealers_demo.seed()
            stations = stations_demo.seed(dealer.dealer)
            customers = customers_demo.seed(dealer.dealer, stations)
            signals_demo.seed(dealer.dealer)
            # Tokens the bridge simulator derives again (nothing secret is printed or stored).
            simulated = media_demo.seed()
            customers_demo.seed_second(dealer.second)
        base = settings.PORTAL_BASE_URL
        self.stdout.write(self.style.SUCCESS(f"Demo dealer: {dealer.dealer}"))
        self.stdout.write(f"Sign in at {base}/accounts/login/ with:")
        for username, password, role in dealer.credentials:
            self.stdout.write(f"  {username:<14} {password:<18} {role}")
        operator, operator_password = stations.operator
        self.stdout.write(
            f"  {operator:<14} {operator_password:<18} Operator at {stations.station}"
        )
        admin, admin_password = stations.station_admin
        self.stdout.write(
            f"  {admin:<14} {admin_password:<18} Station admin at {stations.station} "
            "(station console: /station/)"
        )
        self.stdout.write(
            f"Demo station: {stations.station}; receiver “{stations.receiver.name}” "
            f"passkey: {stations.passkey}"
        )
        for account in customers.accounts:
            self.stdout.write(
                f"Demo customer: {account.customer} · account {account.account_number} "
                f"at {account.station_record.station}"
            )
        self.stdout.write(
            f"Deep link for {operator} (zone 17 of {customers.customers[0]}): "
            f"{base}/monitoring?act={customers.accounts[0].account_number}&zone=017"
        )
        if simulated:
            self.stdout.write(
                f"Simulated bridges (make run's run_bridge_simulator): {', '.join(simulated)}"
            )
        self.stdout.write(
            f"demo-owner also owns “{dealer.second}”: switch to it with the dealer menu at the "
            "top right."
        )
