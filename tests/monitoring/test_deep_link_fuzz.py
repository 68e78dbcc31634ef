"""Whatever the query string holds, /monitoring answers with a page, never a 500."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import CustomerFactory, MonitoringAccountFactory

pytestmark = pytest.mark.django_db

NAMES = ["act", "csid", "txid", "uid", "massite", "serialno", "serial_no", "site", "zone"]
names = st.one_of(st.sampled_from(NAMES), st.sampled_from([n.upper() for n in NAMES]), st.text())
values = st.one_of(
    st.text(),
    st.from_regex(r"[0-9A-Za-z\- ]{0,25}", fullmatch=True),
    st.sampled_from(["3444", "017", "0", "999", "1000", "%00", "\x00", "../", "<script>"]),
)
raw_strings = st.from_regex(r"[a-zA-Z0-9=&%;+_.~\-\x00-\x7f]{0,80}", fullmatch=True)
ALLOWED = {200, 400, 403, 404, 409}


@pytest.fixture
def operator_client(client, operator, record):
    MonitoringAccountFactory(
        customer=CustomerFactory(dealer=record.dealer), station_record=record, account_number="3444"
    )
    client.force_login(operator)
    return client


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(pairs=st.lists(st.tuples(names, values), max_size=6))
def test_encoded_parameters_never_500(operator_client, pairs):
    response = operator_client.get(f"/monitoring?{urlencode(pairs)}")
    assert response.status_code in ALLOWED


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(query=raw_strings)
def test_raw_query_strings_never_500(operator_client, query):
    response = operator_client.generic("GET", "/monitoring", QUERY_STRING=query)
    assert response.status_code in ALLOWED
