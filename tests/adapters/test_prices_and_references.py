"""The --prices CSV reader and the file store of captured references, on real files."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from exerciser.adapters.prices_csv import load_prices, parse_prices
from exerciser.adapters.reference_store import FileReferenceStore
from exerciser.errors import ConfigError, PricesError

DAY = date(2026, 11, 20)


def test_prices_csv_reads_close_and_optional_last() -> None:
    text = "# drill prices\nsymbol,close,last\naapl,190.40,191.10\nMSFT,420.40,\n\nSPY,598\n"
    assert parse_prices(text, source="p.csv") == {
        "AAPL": (Decimal("190.40"), Decimal("191.10")),
        "MSFT": (Decimal("420.40"), None),
        "SPY": (Decimal("598"), None),
    }


def test_prices_csv_header_may_omit_last() -> None:
    assert parse_prices("symbol,close\nAAPL,1\n", source="p") == {"AAPL": (Decimal(1), None)}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "p.csv: empty"),
        ("ticker,price\nAAPL,1\n", "p.csv:1: header 'ticker,price'"),
        ("symbol,close\nAAPL,1,2,3\n", "p.csv:2: 'AAPL,1,2,3': expected 2 fields"),
        ("symbol,close,last\nAAPL,nan,\n", "p.csv:2: close = 'nan': must be a positive price"),
        ("symbol,close,last\nAAPL,1,-2\n", "p.csv:2: last = '-2': must be a positive price"),
        ("symbol,close\nAAPL,1\naapl,2\n", "p.csv:3: symbol 'AAPL': given twice"),
        ("symbol,close\n,1\n", "p.csv:2: symbol: empty"),
    ],
    ids=["empty", "bad-header", "too-many-fields", "nan", "negative-last", "duplicate", "blank"],
)
def test_prices_csv_problems_name_file_line_and_value(text: str, problem: str) -> None:
    with pytest.raises(PricesError) as info:
        parse_prices(text, source="p.csv")
    assert any(problem in p for p in info.value.problems), info.value.problems


def test_prices_csv_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(PricesError, match="cannot read"):
        load_prices(tmp_path / "nope.csv")


def test_reference_store_round_trips_and_keeps_the_first_capture(tmp_path: Path) -> None:
    store = FileReferenceStore(tmp_path / "references")
    assert store.get(DAY) == {}
    store.put(DAY, {"AAPL": Decimal("190.40")})
    store.put(DAY, {"AAPL": Decimal("191.10"), "MSFT": Decimal("420.40")})
    assert store.get(DAY) == {"AAPL": Decimal("190.40"), "MSFT": Decimal("420.40")}
    assert FileReferenceStore(tmp_path / "references").get(DAY)["AAPL"] == Decimal("190.40")
    assert [p.name for p in (tmp_path / "references").iterdir()] == ["2026-11-20.json"]


def test_a_corrupt_reference_file_is_an_error_not_an_empty_day(tmp_path: Path) -> None:
    (tmp_path / "2026-11-20.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="unreadable reference prices"):
        FileReferenceStore(tmp_path).get(DAY)
