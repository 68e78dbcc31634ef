from django.apps import AppConfig


class StationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "stations"

    def ready(self) -> None:
        from django.urls import reverse

        from dealers import dashboard, history
        from stations import selectors
        from stations.models import DealerStation

        dashboard.register(
            dashboard.Panel(
                name="receivers",
                template="stations/_dashboard.html",
                context=selectors.dashboard_receivers,
                order=30,
            )
        )
        history.register(
            history.HistorySource(
                kind="Monitoring station record",
                model=DealerStation,
                dealer_path="dealer",
                customer_path=None,
                label=lambda row: row.name,
                url=lambda row: reverse("stations:record-list"),
            )
        )
