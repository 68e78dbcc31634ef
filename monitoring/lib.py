"""Reading a deep link's query string, as automation software sends it.

Parameter names are matched case-insensitively and values are normalised the way account
numbers are stored. Anything unknown is ignored; anything malformed is reported, never
guessed at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from django.http import QueryDict

from customers.lib import (
    ACCOUNT_NUMBER_MAX,
    REFERENCE_ID_MAX,
    identifier_error,
    normalise_identifier,
)
from customers.models import ZONE_MAX

# meaning -> accepted names (DESIGN.md §2)
ACCOUNT_NAMES = ("act", "csid", "txid")
REFERENCE_NAMES = ("uid", "massite", "serialno", "serial_no")
SITE_NAMES = ("site",)
ZONE_NAMES = ("zone",)

SITE_ID_RE = re.compile(r"^[A-Z0-9]{1,12}$")
ZONE_RE = re.compile(r"^[0-9]{1,6}$")  # zero-padded text such as 017 or 0017


class DeepLinkError(ValueError):
    """A query string the portal cannot act on; ``problem`` says which kind."""

    def __init__(self, problem: str, detail: str) -> None:
        super().__init__(detail)
        self.problem = problem
        self.detail = detail


@dataclass(frozen=True)
class DeepLink:
    """The identifiers a deep link gave, normalised; each may be absent."""

    account_number: str = ""
    reference_id: str = ""
    site_id: str = ""
    zone: int | None = None
    raw: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def has_identifier(self) -> bool:
        return bool(self.account_number or self.reference_id or self.site_id)


def _one_value(params: dict[str, list[str]], names: tuple[str, ...], meaning: str) -> str:
    """The single normalised value given under any of ``names`` ('' if none).

    The same value under two aliases is fine; two different values for one meaning is not.
    """
    values = {normalise_identifier(v) for name in names for v in params.get(name, [])}
    values.discard("")
    if len(values) > 1:
        raise DeepLinkError(
            "malformed", f"The link gives more than one {meaning}: {', '.join(sorted(values))}."
        )
    return values.pop() if values else ""


def parse(query: QueryDict) -> DeepLink:
    params: dict[str, list[str]] = {}
    for name, values in query.lists():
        params.setdefault(name.strip().lower(), []).extend(values)

    account = _one_value(params, ACCOUNT_NAMES, "account number")
    reference = _one_value(params, REFERENCE_NAMES, "reference ID")
    site = _one_value(params, SITE_NAMES, "site ID")
    zone_text = _one_value(params, ZONE_NAMES, "zone")

    # Characters a receiver cannot carry are an error, never a match on what Unicode case
    # mapping would make of them (customers.lib.normalise_identifier upper-cases ASCII only).
    if account and (
        error := identifier_error(account, what="account number", max_length=ACCOUNT_NUMBER_MAX)
    ):
        raise DeepLinkError("malformed", error)
    if reference and (
        error := identifier_error(reference, what="reference ID", max_length=REFERENCE_ID_MAX)
    ):
        raise DeepLinkError("malformed", error)
    if site and not SITE_ID_RE.match(site):
        raise DeepLinkError("malformed", "The site ID may hold only 1-12 letters and digits.")
    zone = None
    if zone_text:
        if not ZONE_RE.match(zone_text) or int(zone_text) > ZONE_MAX:
            raise DeepLinkError("malformed", f"The zone must be a number from 0 to {ZONE_MAX}.")
        zone = int(zone_text)

    # Only the names this page understands, as given (they passed the checks above).
    known = (*ACCOUNT_NAMES, *REFERENCE_NAMES, *SITE_NAMES, *ZONE_NAMES)
    raw = {name: params[name][0].strip() for name in known if params.get(name)}
    return DeepLink(
        account_number=account, reference_id=reference, site_id=site, zone=zone, raw=raw
    )
