from urllib.parse import urlsplit

from django.apps import AppConfig
from django.conf import settings
from django.core import checks


class SignalsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "signals"

    def ready(self) -> None:
        from signals import codecs
        from stations import protocols

        checks.register(check_portal_base_url)
        # The apps below signals (the receiver forms, the account rules) learn the protocols
        # from this registry; they never import a codec.
        for codec in codecs.all_codecs():
            protocols.register(codec.spec())


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
