"""OSI option symbols: ``ROOT`` (1-6 characters, padded to six or not) ``YYMMDD`` ``C|P``
and the strike in thousandths over eight digits, e.g. ``AAPL  261218C00190000``.

Roots that end in a digit (``AAPL1``, ``DYN1``) are adjusted series after a corporate
action: their deliverable is not the standard 100 shares.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from exerciser.domain.book import Right

_TAIL = re.compile(r"(?P<yy>\d{2})(?P<mm>\d{2})(?P<dd>\d{2})(?P<right>[CP])(?P<strike>\d{8})")
_ROOT = re.compile(r"[A-Z][A-Z0-9.]{0,5}")
_THOUSAND = Decimal(1000)


class OsiError(ValueError):
    """A symbol that is not a valid OSI option symbol; the message says why."""


@dataclass(frozen=True, slots=True, kw_only=True)
class OsiSymbol:
    root: str
    expiry: date
    right: Right
    strike: Decimal

    @property
    def padded(self) -> str:
        return f"{self.root:<6}{self.expiry:%y%m%d}{self.right.value[0]}{self.strike * 1000:08.0f}"

    @property
    def is_adjusted(self) -> bool:
        """A numeric suffix on the root marks an adjusted (non-standard) series."""
        return self.root[-1].isdigit()


def parse_osi(symbol: str) -> OsiSymbol:
    """Parse an OSI symbol, padded or not; raise ``OsiError`` naming what is wrong."""
    compact = "".join(symbol.split()).upper()
    if len(compact) < 16:
        raise OsiError(f"{symbol!r} is not an OSI option symbol: too short")
    root, tail = compact[:-15], compact[-15:]
    found = _TAIL.fullmatch(tail)
    if found is None:
        raise OsiError(f"{symbol!r} is not an OSI option symbol: expected YYMMDD, C or P, 8 digits")
    if not _ROOT.fullmatch(root):
        raise OsiError(f"{symbol!r} is not an OSI option symbol: bad root {root!r}")
    try:
        expiry = date(2000 + int(found["yy"]), int(found["mm"]), int(found["dd"]))
    except ValueError:
        raise OsiError(f"{symbol!r} is not an OSI option symbol: no such date") from None
    return OsiSymbol(
        root=root,
        expiry=expiry,
        right=Right.CALL if found["right"] == "C" else Right.PUT,
        strike=Decimal(int(found["strike"])) / _THOUSAND,
    )
