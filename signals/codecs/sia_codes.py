"""The portal's Contact ID events as SIA two-letter event codes, for every protocol that carries
SIA codes (SOS Access v4's ``eventcode``; a SIA-DCS payload).

The portal keeps its events in Contact ID (a three-digit code and a qualifier: ``E`` new event or
opening, ``R`` restore or closing, ``P`` status). SIA (ANSI/SIA DC-03) names the same events with
two letters, one code for the event and another for its restore (``BA`` burglary alarm, ``BR``
burglary restoral), and, for openings and closings, one code for each (``OP`` / ``CL``).

The table below covers every default code of the portal's alarm library and the common
Contact ID codes around them; any other code gets its family's generic SIA code (1xx untyped
alarm ``UA``, 2xx supervisory ``US``, 3xx trouble ``YX``, 4xx opening/closing ``OP``/``CL``,
5xx bypass ``UB``, 6xx test ``RX``, anything else ``UA``). docs/protocol-sos-access-v4.md shows
the table to station engineers; a station that wants other codes overrides them per receiver.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SiaCodes:
    """The SIA codes of one Contact ID event: for the event (qualifier E or P) and its restore
    (qualifier R). ``two_state``: the event has no restore, the qualifier chooses between two
    events (an opening or a closing) instead."""

    event: str
    restore: str
    two_state: bool = False


def _pair(event: str, restore: str) -> SiaCodes:
    return SiaCodes(event, restore)


def _open_close(opening: str, closing: str) -> SiaCodes:
    return SiaCodes(opening, closing, two_state=True)


BURGLARY = _pair("BA", "BR")
FIRE = _pair("FA", "FR")
HOLD_UP = _pair("HA", "HR")

# Contact ID event code -> SIA codes.
TABLE: dict[str, SiaCodes] = {
    # 1xx alarms
    "100": _pair("MA", "MR"),  # medical
    "101": _pair("QA", "QR"),  # personal emergency
    "110": FIRE,
    "111": FIRE,  # smoke
    "112": FIRE,  # combustion
    "113": _pair("SA", "SR"),  # water flow (sprinkler)
    "114": _pair("KA", "KR"),  # heat
    "115": FIRE,  # pull station
    "116": FIRE,  # duct
    "117": FIRE,  # flame
    "118": FIRE,  # near alarm
    "120": _pair("PA", "PR"),  # panic
    "121": HOLD_UP,  # duress
    "122": HOLD_UP,  # silent
    "123": _pair("PA", "PR"),  # audible
    "124": HOLD_UP,  # duress, access granted
    "125": HOLD_UP,  # duress, egress granted
    "130": BURGLARY,
    "131": BURGLARY,  # perimeter
    "132": BURGLARY,  # interior
    "133": BURGLARY,  # 24-hour (safe)
    "134": BURGLARY,  # entry/exit
    "135": BURGLARY,  # day/night
    "136": BURGLARY,  # outdoor
    "137": _pair("TA", "TR"),  # tamper
    "138": BURGLARY,  # near alarm
    "139": _pair("BV", "BR"),  # intrusion verifier: burglary verified
    "140": _pair("UA", "UR"),  # general alarm
    "144": _pair("TA", "TR"),  # sensor tamper
    "145": _pair("TA", "TR"),  # module tamper
    "150": _pair("UA", "UR"),  # 24-hour non-burglary
    "151": _pair("GA", "GR"),  # gas detected
    "154": _pair("WA", "WR"),  # water leakage
    "158": _pair("KA", "KR"),  # high temperature
    "159": _pair("ZA", "ZR"),  # low temperature
    "162": _pair("GA", "GR"),  # carbon monoxide
    # 3xx troubles
    "300": _pair("YX", "YZ"),  # system trouble
    "301": _pair("AT", "AR"),  # AC loss
    "302": _pair("YT", "YR"),  # low system battery
    "305": _pair("RR", "RR"),  # system reset (power up)
    "306": _pair("YG", "YG"),  # programming changed
    "309": _pair("YT", "YR"),  # battery test failure
    "350": _pair("YC", "YK"),  # communication trouble
    "354": _pair("YC", "YK"),  # failure to communicate
    "380": _pair("UT", "UJ"),  # sensor trouble
    # 4xx openings and closings (E: opening, R: closing), access
    "400": _open_close("OP", "CL"),
    "401": _open_close("OP", "CL"),  # by user
    "403": _open_close("OA", "CA"),  # automatic
    "406": _pair("OC", "OC"),  # cancel
    "407": _open_close("OQ", "CQ"),  # remote arm/disarm
    "409": _open_close("OS", "CS"),  # keyswitch
    "421": _pair("DD", "DD"),  # access denied
    "422": _pair("DG", "DG"),  # access granted
    # 5xx bypasses and module changes
    "531": _pair("YG", "YG"),  # module added (configuration changed)
    "532": _pair("YG", "YG"),  # module removed (configuration changed)
    "570": _pair("BB", "BU"),  # zone bypass
    # 6xx tests
    "601": _pair("RX", "RX"),  # manual test
    "602": _pair("RP", "RP"),  # periodic test
}

_FAMILIES: dict[str, SiaCodes] = {
    "1": _pair("UA", "UR"),
    "2": _pair("US", "UR"),
    "3": _pair("YX", "YZ"),
    "4": _open_close("OP", "CL"),
    "5": _pair("UB", "UU"),
    "6": _pair("RX", "RX"),
}
_OTHER = _pair("UA", "UR")


def codes_for(contact_id_code: str) -> SiaCodes:
    """The SIA codes of a three-digit Contact ID event code (its family's when not listed)."""
    return TABLE.get(contact_id_code) or _FAMILIES.get(contact_id_code[:1], _OTHER)


def sia_code(contact_id_code: str, qualifier: str) -> str:
    """The SIA code of a Contact ID event with its qualifier (``E``, ``R`` or ``P``)."""
    codes = codes_for(contact_id_code)
    return codes.restore if qualifier == "R" else codes.event
