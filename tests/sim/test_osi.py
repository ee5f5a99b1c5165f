"""OSI symbols: padded and unpadded spellings read the same; the padded one is written."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exerciser.sim.osi import OsiSymbol, pad_osi, parse_osi


@pytest.mark.parametrize(
    ("text", "root", "expiry", "kind", "strike"),
    [
        pytest.param(
            "AAPL  261120C00190000", "AAPL", date(2026, 11, 20), "CALL", "190", id="padded"
        ),
        pytest.param(
            "AAPL261120C00190000", "AAPL", date(2026, 11, 20), "CALL", "190", id="unpadded"
        ),
        pytest.param(
            "AAPL1 261120P00187500", "AAPL1", date(2026, 11, 20), "PUT", "187.5", id="adjusted"
        ),
        pytest.param(
            "SPXW  261120C06000000", "SPXW", date(2026, 11, 20), "CALL", "6000", id="spxw"
        ),
        pytest.param(
            "F     261218P00012500", "F", date(2026, 12, 18), "PUT", "12.5", id="one-letter"
        ),
        pytest.param(
            " tsla261120c00350000 ", "TSLA", date(2026, 11, 20), "CALL", "350", id="lowercase"
        ),
    ],
)
def test_parse_osi_reads_root_expiry_type_and_strike(
    text: str, root: str, expiry: date, kind: str, strike: str
) -> None:
    parsed = parse_osi(text)

    assert (parsed.root, parsed.expiry, parsed.contract_type, parsed.strike) == (
        root,
        expiry,
        kind,
        Decimal(strike),
    )
    assert len(parsed.padded) == 21


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("AAPL", id="too-short"),
        pytest.param("AAPL  261120X00190000", id="not-call-or-put"),
        pytest.param("AAPL  261320C00190000", id="month-13"),
        pytest.param("TOOLONGROOT261120C00190000", id="root-over-six"),
        pytest.param("AA PL 261120C00190000", id="space-in-root"),
        pytest.param("AAPL  261120C0019000", id="short-strike"),
    ],
)
def test_parse_osi_refuses_what_is_not_an_osi_symbol(text: str) -> None:
    with pytest.raises(ValueError, match=r"OSI|impossible|too short"):
        parse_osi(text)
    assert pad_osi(text) is None


def test_pad_osi_pads_the_root_to_six_characters() -> None:
    assert pad_osi("SPY261120P00598000") == "SPY   261120P00598000"


@given(
    root=st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", min_size=1, max_size=6),
    expiry=st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31)),
    kind=st.sampled_from(["CALL", "PUT"]),
    thousandths=st.integers(min_value=0, max_value=99_999_999),
)
def test_padded_symbols_round_trip(root: str, expiry: date, kind: str, thousandths: int) -> None:
    symbol = OsiSymbol(
        root=root, expiry=expiry, contract_type=kind, strike=Decimal(thousandths) / 1000
    )

    assert parse_osi(symbol.padded) == symbol
    assert parse_osi(symbol.padded.replace(" ", "")).padded == symbol.padded
