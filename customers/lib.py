"""Plain helpers for customers: the one normalisation account numbers and IDs go through.

The generic identifier rule lives here: an account number, reference ID or bridge serial
holds only ASCII letters, digits and '-', upper-cased with ASCII rules only (never Unicode
case mapping, which turns "straße" into "STRASSE" and a dotless "i234" into "I234"). Anything
else is an error that names ALLOWED_CHARACTERS. Rules that only some receivers need (a protocol that
carries hexadecimal account numbers) are added by the app that knows the protocol, through
register_account_number_rule(), from its AppConfig.ready().
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stations.models import DealerStation

# Trimmed, upper-case, only A-Z, 0-9 and '-': how account numbers (and reference IDs, and
# what deep links carry) are stored and compared. Held in the database by CheckConstraints.
IDENTIFIER_CHARS = r"[A-Z0-9-]"
ACCOUNT_NUMBER_MAX = 20
REFERENCE_ID_MAX = 30
ACCOUNT_NUMBER_RE = re.compile(rf"^{IDENTIFIER_CHARS}{{1,{ACCOUNT_NUMBER_MAX}}}$")
REFERENCE_ID_RE = re.compile(rf"^{IDENTIFIER_CHARS}{{1,{REFERENCE_ID_MAX}}}$")
# A bridge serial, as printed on its label and stored (CheckConstraint on Bridge.serial).
SERIAL_RE = re.compile(rf"^{IDENTIFIER_CHARS}{{4,32}}$")

# Site IDs: no 0/O or 1/I, so an operator can read one aloud.
_SITE_ID_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
SITE_ID_LENGTH = 10


# How an error names what is allowed (tests look for this exact text).
ALLOWED_CHARACTERS = "only the letters A-Z, the digits 0-9 and '-'"
_ASCII_UPPER = str.maketrans("abcdefghijklmnopqrstuvwxyz", "ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_IDENTIFIER_CHAR = re.compile(IDENTIFIER_CHARS)


def normalise_identifier(value: str) -> str:
    """Trim and upper-case ASCII letters only; the result may still be invalid.

    Other characters are left as they are, so that the check that follows refuses them
    instead of storing (or matching) what Unicode case mapping would have made of them.
    """
    return value.strip().translate(_ASCII_UPPER)


def identifier_error(value: str, *, what: str, max_length: int) -> str | None:
    """Why a normalised identifier is not acceptable, in words a dealer can act on, or None."""
    bad = sorted({ch for ch in value if not _IDENTIFIER_CHAR.fullmatch(ch)})
    if bad:
        shown = ", ".join("space" if ch.isspace() else repr(ch) for ch in bad[:5])
        return f"The {what} may hold {ALLOWED_CHARACTERS} (not {shown})."
    if not value or len(value) > max_length:
        return f"The {what} has 1-{max_length} characters: {ALLOWED_CHARACTERS}."
    return None


# A rule for account numbers that only some receivers need: it gets the normalised number and
# the dealer's station record (whose receiver tells the protocol) and returns an error or None.
AccountNumberRule = Callable[[str, "DealerStation"], "str | None"]
_account_number_rules: list[AccountNumberRule] = []


def register_account_number_rule(rule: AccountNumberRule) -> AccountNumberRule:
    """Add a rule every account number is checked against (call from AppConfig.ready())."""
    if rule not in _account_number_rules:
        _account_number_rules.append(rule)
    return rule


def account_number_rules() -> list[AccountNumberRule]:
    """The registered rules, in registration order (the list itself)."""
    return _account_number_rules


def account_number_errors(number: str, station_record: DealerStation | Any) -> list[str]:
    """The registered rules' errors for this number at this station record."""
    return [error for rule in _account_number_rules if (error := rule(number, station_record))]


def generate_site_id() -> str:
    return "".join(secrets.choice(_SITE_ID_ALPHABET) for _ in range(SITE_ID_LENGTH))


def follows_prefix(account_number: str, prefix: str) -> bool:
    """An account number follows the station's prefix rule: no prefix, or it starts with the
    prefix and has more after it."""
    return not prefix or (account_number.startswith(prefix) and account_number != prefix)


def prefix_example(prefix: str, *, receiver_adds_prefix: bool) -> str:
    """How a dealer enters an account number under a prefix, with an example."""
    if not prefix:
        return "Enter the account number the station gave you, e.g. 1234."
    if receiver_adds_prefix:
        return (
            f"Enter the number without the prefix {prefix}: the station's receiver adds it "
            f"(type 1234 for account {prefix}1234)."
        )
    return f"Enter the number with the prefix {prefix}, e.g. {prefix}1234."
