"""``--prices FILE``: operator-given prices for drills and reviews.

CSV with a header line ``symbol,close,last``: the underlying's ticker, its regular-
session close (the OCC reference) and, optionally, its latest trade including after
hours (empty or absent means the close). Lines starting with ``#`` are comments.

    symbol,close,last
    AAPL,190.40,191.10
    MSFT,420.40,
"""

from __future__ import annotations

import csv
import io
from decimal import Decimal, InvalidOperation
from pathlib import Path

from exerciser.errors import PricesError

FilePrices = dict[str, tuple[Decimal, Decimal | None]]


def load_prices(path: Path) -> FilePrices:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise PricesError([f"{path}: cannot read: {exc}"]) from None
    return parse_prices(text, source=str(path))


def parse_prices(text: str, *, source: str) -> FilePrices:
    lines = [(n, line) for n, line in enumerate(text.splitlines(), 1) if not _skip(line)]
    if not lines:
        raise PricesError([f"{source}: empty: expected a header line 'symbol,close,last'"])
    header_no, header = lines[0]
    columns = [c.strip().lower() for c in next(csv.reader([header]))]
    if columns[:2] != ["symbol", "close"] or columns[2:] not in ([], ["last"]):
        raise PricesError(
            [f"{source}:{header_no}: header {header!r}: expected 'symbol,close,last'"]
        )
    prices: FilePrices = {}
    problems: list[str] = []
    for number, line in lines[1:]:
        cells = [c.strip() for c in next(csv.reader(io.StringIO(line)))]
        where = f"{source}:{number}"
        if len(cells) < 2 or len(cells) > len(columns):
            problems.append(f"{where}: {line!r}: expected {len(columns)} fields")
            continue
        symbol = cells[0].upper()
        close = _price(cells[1], f"{where}: close", problems)
        last = _price(cells[2], f"{where}: last", problems) if len(cells) > 2 and cells[2] else None
        if not symbol:
            problems.append(f"{where}: symbol: empty")
        elif symbol in prices:
            problems.append(f"{where}: symbol {symbol!r}: given twice")
        elif close is not None:
            prices[symbol] = (close, last)
    if problems:
        raise PricesError(problems)
    return prices


def _skip(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _price(cell: str, where: str, problems: list[str]) -> Decimal | None:
    try:
        value = Decimal(cell)
    except InvalidOperation:
        problems.append(f"{where} = {cell!r}: not a decimal number")
        return None
    if not value.is_finite() or value <= 0:
        problems.append(f"{where} = {cell!r}: must be a positive price")
        return None
    return value
