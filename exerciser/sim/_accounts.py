"""Reading the ``accounts`` section of a scenario: accounts, balances and positions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from exerciser.sim._reader import Field
from exerciser.sim.osi import parse_osi
from exerciser.sim.scenario import BALANCE_FIELDS, Account, Holding, Underlying

ACCOUNT_KEYS = (
    "id",
    "short_name",
    "full_name",
    "type",
    "subtype",
    "status",
    "options_level",
    "open_date",
    "account_holder_entity_id",
    "balances",
    "positions",
)
POSITION_KEYS = ("symbol", "quantity", "available_quantity")


def read_account(item: Field, underlyings: dict[str, Underlying], contracts: set[str]) -> Account:
    fields = item.mapping(allowed=ACCOUNT_KEYS, required=("id",))
    account_id = fields.field("id").integer(minimum=1)
    opt = fields.get
    short, full, kind, subtype = opt("short_name"), opt("full_name"), opt("type"), opt("subtype")
    status, level, opened, holder = (
        opt("status"),
        opt("options_level"),
        opt("open_date"),
        opt("account_holder_entity_id"),
    )
    balances = fields.field("balances")
    return Account(
        id=account_id,
        short_name=short.text() if short else f"SIM-{account_id}",
        full_name=full.text() if full else f"Simulated account {account_id}",
        type=kind.choice(("CUSTOMER", "OTHER")) if kind else "CUSTOMER",
        subtype=subtype.choice(("MARGIN", "CASH", "OTHER")) if subtype else "MARGIN",
        status=status.choice(("ACTIVE", "INACTIVE", "CLOSED")) if status else "ACTIVE",
        options_level=level.integer(minimum=0) if level else 3,
        open_date=opened.day() if opened else date(2020, 1, 2),
        account_holder_entity_id=holder.integer(minimum=0) if holder else 900_000_000 + account_id,
        balances=_balances(balances),
        positions=_positions(fields.field("positions"), underlyings, contracts),
    )


def _balances(field: Field) -> dict[str, Decimal]:
    values = dict.fromkeys(BALANCE_FIELDS, Decimal("0.00"))
    if field.is_null:
        return values
    fields = field.mapping(allowed=BALANCE_FIELDS)
    for name in BALANCE_FIELDS:
        value = fields.get(name)
        if value:
            values[name] = value.decimal()
    return values


def _positions(
    field: Field, underlyings: dict[str, Underlying], contracts: set[str]
) -> tuple[Holding, ...]:
    holdings: list[Holding] = []
    for item in field.items():
        fields = item.mapping(allowed=POSITION_KEYS, required=("symbol", "quantity"))
        symbol = _holding_symbol(fields.field("symbol"), underlyings, contracts)
        if any(h.symbol == symbol for h in holdings):
            fields.field("symbol").fail(f"{symbol!r} appears twice in this account")
        quantity_field = fields.field("quantity")
        quantity = quantity_field.decimal()
        if symbol in contracts and quantity != quantity.to_integral_value():
            quantity_field.fail(f"{quantity_field.value!r} is not a whole number of contracts")
        available_field = fields.get("available_quantity")
        available = available_field.decimal() if available_field else abs(quantity)
        if available_field and not Decimal(0) <= available <= abs(quantity):
            available_field.fail(
                f"{available_field.value!r} is not between 0 and the position size {abs(quantity)}"
            )
        holdings.append(Holding(symbol=symbol, quantity=quantity, available_quantity=available))
    return tuple(holdings)


def _holding_symbol(field: Field, underlyings: dict[str, Underlying], contracts: set[str]) -> str:
    text = field.text()
    try:
        padded = parse_osi(text).padded
    except ValueError:
        padded = None
    if padded is not None and padded in contracts:
        return padded
    ticker = text.upper()
    if ticker in underlyings:
        if underlyings[ticker].type == "INDEX":
            field.fail(f"{text!r} is an index, which cannot be held as a position")
        return ticker
    raise field.error(f"{text!r} is neither a contract nor an underlying")
