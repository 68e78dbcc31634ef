"""Plain helpers for customers: the one normalisation account numbers and IDs go through."""

from __future__ import annotations

import re
import secrets

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


def normalise_identifier(value: str) -> str:
    """Trim and upper-case; the result may still be invalid (see the patterns above)."""
    return value.strip().upper()


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
