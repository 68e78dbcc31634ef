from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class SignalsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "signals"

    def ready(self) -> None:
        from customers.lib import register_account_number_rule
        from signals import codecs
        from stations import protocols

        # Tagged, so that a command that runs only some checks (run_dispatcher) can name it.
        checks.register(check_portal_base_url, "signals")
        # The apps below signals (the receiver forms, the account rules) learn the protocols
        # from this registry; they never import a codec.
        for codec in codecs.all_codecs():
            protocols.register(codec.spec())
        # Account numbers a receiver's protocol cannot carry are refused when they are saved.
        register_account_number_rule(protocols.account_number_rule)
        register_dashboard_and_history()


def register_dashboard_and_history() -> None:
    """The dashboard's signal panel, and the alarm codes' history in the timelines."""
    from django.urls import reverse

    from dealers import dashboard, history
    from signals import selectors
    from signals.lib import Trigger
    from signals.models import EventCode

    dashboard.register(
        dashboard.Panel(
            name="signals",
            template="signals/_dashboard.html",
            context=selectors.dashboard_signals,
            order=20,
        )
    )
    triggers = dict(Trigger.choices)

    def label(row) -> str:
        where = f"zone {row.zone.number:03d}" if row.zone_id else "site" if row.customer_id else ""
        trigger = triggers.get(row.trigger, row.trigger)
        state = row.event_code if row.enabled else "off"
        return f"{trigger}{f' ({where})' if where else ''}: {state}"

    def url(row) -> str:
        if row.customer_id:
            return reverse("signals:site-codes", args=[row.customer.code])
        return reverse("signals:code-library")

    history.register(
        history.HistorySource(
            kind="Alarm code",
            model=EventCode,
            dealer_path="dealer",
            customer_path="customer_id",
            label=label,
            url=url,
            related=("zone", "customer"),
        )
    )


def check_portal_base_url(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Alarm packages carry deep links built on PORTAL_BASE_URL: it must be an http(s) URL."""
    parts = urlsplit(getattr(settings, "PORTAL_BASE_URL", ""))
    if parts.scheme in ("http", "https") and parts.netloc:
        return []
    return [
        checks.Warning(
            "PORTAL_BASE_URL is not an http(s) URL: alarm packages will carry no video link.",
            hint="Set PORTAL_BASE_URL to the portal's public address, e.g. "
            "https://portal.example.com.",
            id="signals.W001",
        )
    ]
