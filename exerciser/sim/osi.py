"""OSI option symbols, read and written the way the simulator needs them.

An OSI symbol is a root of one to six characters padded with spaces to six, the expiry as
``YYMMDD``, ``C`` or ``P``, and the strike times 1000 as eight digits:
``"AAPL  261120C00190000"``. The simulator accepts the unpadded spelling
(``"AAPL261120C00190000"``) too, and always stores and echoes the padded one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

_ROOT = re.compile(r"[A-Z0-9]{1,6}")
_TAIL = re.compile(r"(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})(?P<right>[CP])(?P<strike>\d{8})")
_TAIL_LENGTH = 15


@dataclass(frozen=True, kw_only=True)
class OsiSymbol:
    """The four parts of an OSI symbol."""

    root: str
    expiry: date
    contract_type: str  # "CALL" or "PUT"
    strike: Decimal

    @property
    def padded(self) -> str:
        right = "C" if self.contract_type == "CALL" else "P"
        thousandths = int(self.strike * 1000)
        return f"{self.root:<6}{self.expiry:%y%m%d}{right}{thousandths:08d}"


def parse_osi(text: str) -> OsiSymbol:
    """Parse a padded or unpadded OSI symbol; raise ``ValueError`` saying what is wrong."""
    compact = text.strip().upper()
    if len(compact) <= _TAIL_LENGTH:
        raise ValueError(f"{text!r} is too short to be an OSI symbol")
    root, tail = compact[:-_TAIL_LENGTH].rstrip(), compact[-_TAIL_LENGTH:]
    tail_match = _TAIL.fullmatch(tail)
    if _ROOT.fullmatch(root) is None or tail_match is None:
        raise ValueError(f"{text!r} is not an OSI symbol (ROOT + YYMMDD + C/P + 8-digit strike)")
    try:
        expiry = date(2000 + int(tail_match["yy"]), int(tail_match["mm"]), int(tail_match["dd"]))
    except ValueError:
        raise ValueError(f"{text!r} has an impossible expiry date") from None
    strike = Decimal(int(tail_match["strike"])) / 1000
    return OsiSymbol(
        root=root,
        expiry=expiry,
        contract_type="CALL" if tail_match["right"] == "C" else "PUT",
        strike=strike,
    )


def pad_osi(text: str) -> str | None:
    """The padded form of ``text`` when it is an OSI symbol, else ``None``."""
    try:
        return parse_osi(text).padded
    except ValueError:
        return None
