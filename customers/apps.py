from django.apps import AppConfig


class CustomersConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "customers"

    def ready(self) -> None:
        from django.urls import reverse

        from customers import models, selectors
        from dealers import dashboard, history

        dashboard.register(
            dashboard.Panel(
                name="customers",
                template="customers/_dashboard.html",
                context=selectors.dashboard_customers,
                order=10,
            )
        )

        def site_url(row) -> str:
            return reverse("customers:detail", args=[row.customer.code])

        sources = [
            history.HistorySource(
                kind="Site",
                model=models.Customer,
                dealer_path="dealer",
                customer_path="id",
                label=lambda row: row.name,
                url=lambda row: reverse("customers:detail", args=[row.code]),
            ),
            history.HistorySource(
                kind="Bridge",
                model=models.Bridge,
                dealer_path="customer__dealer",
                customer_path="customer_id",
                label=lambda row: row.name or f"Bridge {row.serial}",
                url=site_url,
                related=("customer",),
            ),
            history.HistorySource(
                kind="Camera",
                model=models.Camera,
                dealer_path="bridge__customer__dealer",
                customer_path="bridge__customer_id",
                label=lambda row: f"{row.name} (channel {row.channel})",
                url=lambda row: reverse("customers:detail", args=[row.bridge.customer.code]),
                related=("bridge__customer",),
            ),
            history.HistorySource(
                kind="Zone",
                model=models.Zone,
                dealer_path="customer__dealer",
                customer_path="customer_id",
                label=lambda row: f"Zone {row.number:03d} {row.name}",
                url=site_url,
                related=("customer",),
            ),
            history.HistorySource(
                kind="Account",
                model=models.MonitoringAccount,
                dealer_path="customer__dealer",
                customer_path="customer_id",
                label=lambda row: f"Account {row.account_number}",
                url=site_url,
                related=("customer",),
            ),
        ]
        for source in sources:
            history.register(source)
