"""Identifiers a receiver cannot carry are errors that name the allowed characters.

Upper-casing with Unicode rules turned ``straße`` into ``STRASSE`` and a dotless-i ``i234``
into ``I234``: a dealer typed one account number and another was stored, and a deep link
with the first opened the site of the second. Only ASCII letters are upper-cased; anything
else is an error.
"""

from __future__ import annotations

import html

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from customers import services
from customers.lib import ALLOWED_CHARACTERS, normalise_identifier
from customers.models import MonitoringAccount
from tests.factories import MonitoringAccountFactory

pytestmark = pytest.mark.django_db

# Each upper-cases (Unicode) into something valid: none may be stored or matched as that.
TRANSLITERATED = {
    "straße": "STRASSE",
    "\u0131234": "I234",
    "ﬀ12": "FF12",  # the ff ligature
    "\u212a42": "K42",  # Kelvin sign
    "ǆ9": "Ǆ9",
}


@pytest.mark.parametrize("typed", TRANSLITERATED)
def test_normalising_never_transliterates(typed):
    assert normalise_identifier(typed) != TRANSLITERATED[typed]
    assert normalise_identifier(f" {typed} ").isascii() is False


def test_normalising_upper_cases_ascii_and_trims():
    assert normalise_identifier("  abc-12z ") == "ABC-12Z"


@pytest.mark.parametrize("typed", TRANSLITERATED)
def test_an_account_number_with_other_characters_is_a_field_error_naming_the_allowed(
    owner_client, customer, record, typed
):
    response = owner_client.post(
        reverse("customers:account-create", args=[customer.code]),
        {"station_record": str(record.code), "account_number": typed, "reference_id": ""},
    )
    assert response.status_code == 200
    errors = " ".join(response.context["form"].errors["account_number"])
    assert ALLOWED_CHARACTERS in errors
    assert not MonitoringAccount.objects.exists()


@pytest.mark.parametrize("typed", TRANSLITERATED)
def test_a_reference_id_with_other_characters_is_a_field_error(customer, record, typed):
    with pytest.raises(ValidationError) as caught:
        services.account_assign(
            customer=customer, station_record=record, account_number="1234", reference_id=typed
        )
    assert ALLOWED_CHARACTERS in " ".join(caught.value.message_dict["reference_id"])
    assert not MonitoringAccount.objects.exists()


@pytest.mark.parametrize(("typed", "stored"), [("\u0131234", "I234"), ("straße", "STRASSE")])
def test_a_deep_link_with_such_characters_gets_the_operators_error_page_not_a_match(
    client, customer, record, operator, typed, stored
):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number=stored)
    client.force_login(operator)
    for name in ("act", "csid", "uid"):
        response = client.get("/monitoring", {name: typed})
        assert response.status_code in (400, 404), (name, response.status_code)
        assert customer.name not in response.text
        assert ALLOWED_CHARACTERS in html.unescape(response.text)


def test_a_matching_ascii_deep_link_still_opens_the_site(client, customer, record, operator):
    MonitoringAccountFactory(customer=customer, station_record=record, account_number="I234")
    client.force_login(operator)
    assert client.get("/monitoring", {"act": "i234"}).status_code == 200


def test_the_rule_for_a_protocol_can_be_added_by_a_higher_app(customer, record):
    """The extension point other apps (the signal codecs) register per-receiver rules into."""
    from customers.lib import account_number_rules, register_account_number_rule

    def hex_only(number: str, station_record) -> str | None:
        if any(ch not in "0123456789ABCDEF" for ch in number):
            return "This receiver takes account numbers in hexadecimal: 0-9 and A-F."
        return None

    register_account_number_rule(hex_only)
    try:
        with pytest.raises(ValidationError) as caught:
            services.account_assign(customer=customer, station_record=record, account_number="XYZ")
        assert "hexadecimal" in " ".join(caught.value.message_dict["account_number"])
        assert (
            services.account_assign(
                customer=customer, station_record=record, account_number="1F2"
            ).account_number
            == "1F2"
        )
    finally:
        account_number_rules().remove(hex_only)


def test_a_station_prefix_is_not_transliterated_either(record):
    """A prefix is part of every account number under it: stored as given, or refused."""
    from django.db import IntegrityError, transaction

    record.account_prefix = "ab"
    record.save()
    assert record.account_prefix == "AB"
    record.account_prefix = "ß"
    with pytest.raises(IntegrityError), transaction.atomic():
        record.save()


def test_the_databases_own_rules_name_the_allowed_characters_too(customer, record):
    """What the constraints say when they are the ones to refuse (the admin, a service that
    skipped the form): the same words as the forms, not "letters" (ß is a letter)."""
    from customers.models import Bridge

    account = MonitoringAccount(
        customer=customer,
        station_record=record,
        station=record.station,
        account_number="STRAßE",
        reference_id="ẞ-1",
    )
    with pytest.raises(ValidationError) as refused:
        account.validate_constraints()
    messages = refused.value.messages
    assert len(messages) == 2 and all(ALLOWED_CHARACTERS in m for m in messages), messages
    with pytest.raises(ValidationError) as refused:
        Bridge(customer=customer, serial="BRÜCKE-1", model="x").validate_constraints()
    assert ALLOWED_CHARACTERS in refused.value.messages[0]
