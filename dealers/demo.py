"""Demo data for the dealers app: a dealer with an owner, a technician and a viewer."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth import get_user_model

from dealers.models import Dealer, Membership

DEMO_DEALER_NAME = "Demo Alarm Co"
# A second dealer the demo owner also owns, to switch to in the navigation bar.
SECOND_DEALER_NAME = "Harbor Security (second demo dealer)"
# Fixed, printed and documented: this is demo data for a local portal, never production.
DEMO_USERS = [
    ("demo-owner", "demo-owner-pass", Membership.Role.OWNER),
    ("demo-tech", "demo-tech-pass", Membership.Role.TECHNICIAN),
    ("demo-viewer", "demo-viewer-pass", Membership.Role.VIEWER),
]
DEMO_ADMIN = ("demo-admin", "demo-admin-pass")


@dataclass
class DemoDealer:
    dealer: Dealer
    credentials: list[tuple[str, str, str]] = field(default_factory=list)
    second: Dealer | None = None


def ensure_user(username: str, password: str, **extra: object):
    """Create the user once with this password; a second run leaves it untouched."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=username, defaults={"email": f"{username}@example.com", **extra}
    )
    if created:
        user.set_password(password)
        user.save(update_fields=["password"])
    return user


def seed() -> DemoDealer:
    dealer, _ = Dealer.objects.get_or_create(name=DEMO_DEALER_NAME)
    demo = DemoDealer(dealer=dealer)
    for username, password, role in DEMO_USERS:
        user = ensure_user(username, password)
        Membership.objects.get_or_create(user=user, dealer=dealer, defaults={"role": role})
        demo.credentials.append((username, password, Membership.Role(role).label))
    second, _ = Dealer.objects.get_or_create(
        name=SECOND_DEALER_NAME, defaults={"time_zone": "America/Los_Angeles"}
    )
    owner = ensure_user(DEMO_USERS[0][0], DEMO_USERS[0][1])
    Membership.objects.get_or_create(
        user=owner, dealer=second, defaults={"role": Membership.Role.OWNER}
    )
    demo.second = second
    ensure_user(DEMO_ADMIN[0], DEMO_ADMIN[1], is_staff=True, is_superuser=True)
    demo.credentials.append((DEMO_ADMIN[0], DEMO_ADMIN[1], "Django admin (superuser)"))
    return demo
