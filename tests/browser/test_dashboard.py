"""The demo owner's dashboard shows the numbers the data holds, and each leads to its list."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from customers.models import Customer, MonitoringAccount
from dealers.demo import DEMO_DEALER_NAME
from dealers.models import Dealer
from signals.models import Signal
from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser


def test_the_dashboard_numbers_match_the_data(page, demo):
    sign_in(page, "demo-owner", "demo-owner-pass")
    page.goto("/dealer/")
    dealer = Dealer.objects.get(name=DEMO_DEALER_NAME)  # demo-owner's first dealer
    since = timezone.now() - timedelta(hours=24)
    signals = Signal.objects.filter(dealer=dealer)
    expected = {
        "count-customers": Customer.objects.filter(dealer=dealer, status="active").count(),
        "count-archived": Customer.objects.filter(dealer=dealer, status="archived").count(),
        "count-pending-now": signals.filter(state="pending").count(),
        "count-signals-delivered": signals.filter(state="delivered", created_at__gte=since).count(),
    }
    for testid, number in expected.items():
        expect(page.get_by_test_id(testid)).to_have_text(str(number))
    for link in page.get_by_test_id("count-accounts").all():
        name = link.get_attribute("data-record")
        count = MonitoringAccount.objects.filter(
            customer__dealer=dealer, station_record__name=name
        ).count()
        expect(link).to_have_text(str(count))

    # The customers number leads to the list, which counts as many.
    page.get_by_test_id("count-customers").click()
    expect(page.get_by_test_id("customer-list").locator("tbody tr")).to_have_count(
        expected["count-customers"]
    )
