"""OSI symbols: padded or not, adjusted roots, strikes in thousandths; bad ones are
clear errors, never crashes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exerciser.domain.book import Right
from exerciser.domain.osi import OsiError, parse_osi


@pytest.mark.parametrize(
    ("symbol", "root", "expiry", "right", "strike", "adjusted"),
    [
        ("AAPL  261218C00190000", "AAPL", date(2026, 12, 18), Right.CALL, "190", False),
        ("AAPL261218C00190000", "AAPL", date(2026, 12, 18), Right.CALL, "190", False),
        ("AAPL1 261218P00187500", "AAPL1", date(2026, 12, 18), Right.PUT, "187.5", True),
        ("AAPL1261218P00187500", "AAPL1", date(2026, 12, 18), Right.PUT, "187.5", True),
        ("SPXW  261120C06000000", "SPXW", date(2026, 11, 20), Right.CALL, "6000", False),
        ("X     260619P00000500", "X", date(2026, 6, 19), Right.PUT, "0.5", False),
        ("brk.b 261120c00400000", "BRK.B", date(2026, 11, 20), Right.CALL, "400", False),
    ],
    ids=[
        "padded",
        "unpadded",
        "adjusted-padded",
        "adjusted-unpadded",
        "index",
        "one-letter",
        "lowercase-dotted",
    ],
)
def test_parse(
    symbol: str, root: str, expiry: date, right: Right, strike: str, adjusted: bool
) -> None:
    osi = parse_osi(symbol)
    assert (osi.root, osi.expiry, osi.right, osi.strike) == (root, expiry, right, Decimal(strike))
    assert osi.is_adjusted is adjusted
    assert parse_osi(osi.padded) == osi
    assert len(osi.padded) == 21


@pytest.mark.parametrize(
    ("symbol", "why"),
    [
        ("", "too short"),
        ("AAPL", "too short"),
        ("AAPL  261318C00190000", "no such date"),
        ("AAPL  261218X00190000", "expected YYMMDD"),
        ("AAPL  261218C0019000", "expected YYMMDD"),
        ("TOOLONGROOT261218C00190000", "bad root"),
        ("1AAP  261218C00190000", "bad root"),
    ],
)
def test_malformed_symbols_say_why(symbol: str, why: str) -> None:
    with pytest.raises(OsiError, match=why):
        parse_osi(symbol)


@given(st.text(max_size=40))
def test_any_text_parses_or_raises_osi_error(text: str) -> None:
    try:
        osi = parse_osi(text)
    except OsiError:
        return
    assert parse_osi(osi.padded) == osi
