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
