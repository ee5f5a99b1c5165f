"""Wire dicts for the read-only resources: Account, AccountBalances, Position, OptionsContract.

Every field the OpenAPI schema requires is present; optional ones the simulator can fill
sensibly are filled, the rest are null.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from exerciser.sim.market import intrinsic
from exerciser.sim.scenario import Account, Contract, Holding, Underlying
from exerciser.sim.wire import JsonObject, day, decimal_text, money_text, timestamp

INDEX_OPTIONS_EXCHANGE = "XCBO"
EQUITY_OPTIONS_EXCHANGE = "BATO"


def account_json(account: Account) -> JsonObject:
    return {
        "id": account.id,
        "short_name": account.short_name,
        "full_name": account.full_name,
        "type": account.type,
        "subtype": account.subtype,
        "status": account.status,
        "open_date": day(account.open_date),
        "close_date": None,
        "account_holder_entity_id": account.account_holder_entity_id,
        "options_level": account.options_level,
    }


def balances_json(account: Account, *, business_date: date) -> JsonObject:
    values = {name: money_text(amount) for name, amount in account.balances.items()}
    margin = account.subtype == "MARGIN"
    return {
        "account_id": account.id,
        "currency": "USD",
        "margin_type": "REG_T" if margin else "NONE",
        "multiplier": "2" if margin else None,
        "margin_details": None,
        **values,
        "sod": {
            "asof": day(business_date),
            "buying_power": values["buying_power"],
            "equity": values["equity"],
            "long_market_value": values["long_market_value"],
            "short_market_value": values["short_market_value"],
            "trade_cash": values["trade_cash"],
            "maintenance_margin_excess": None,
            "maintenance_margin_requirement": None,
        },
    }


def position_json(
    account_id: int,
    holding: Holding,
    *,
    instrument: Underlying | Contract,
    underlying: Underlying,
    spot: Decimal,
    business_date: date,
) -> JsonObject:
    """A Position; options are marked at intrinsic value against ``spot``."""
    if isinstance(instrument, Contract):
        price = intrinsic(instrument, spot)
        closing = intrinsic(instrument, underlying.close)
        value = price * instrument.multiplier * holding.quantity
        kind = "OPTION"
    else:
        price, closing = spot, underlying.close
        value = price * holding.quantity
        kind = underlying.type
    return {
        "account_id": account_id,
        "instrument_id": instrument.id,
        "symbol": holding.symbol,
        "instrument_type": kind,
        "quantity": decimal_text(holding.quantity),
        "available_quantity": decimal_text(holding.available_quantity),
        "market_value": money_text(value),
        "position_type": "SHORT" if holding.quantity < 0 else "LONG",
        "instrument_price": money_text(price),
        "closing_price": money_text(closing),
        "closing_price_date": day(business_date),
        "underlying_instrument_id": underlying.id if isinstance(instrument, Contract) else None,
        "avg_price": None,
        "cost_basis": None,
        "unrealized_pnl": None,
    }


def contract_json(
    contract: Contract, *, underlying: Underlying, business_date: date, close_at: datetime
) -> JsonObject:
    trades_today = contract.expiry == business_date and not contract.settle_on_open
    return {
        "id": contract.id,
        "symbol": contract.symbol,
        "contract_type": contract.contract_type,
        "currency": "USD",
        "exchange": INDEX_OPTIONS_EXCHANGE
        if underlying.type == "INDEX"
        else EQUITY_OPTIONS_EXCHANGE,
        "exercise_style": contract.exercise_style,
        "expiry": day(contract.expiry),
        "strike_price": decimal_text(contract.strike),
        "multiplier": decimal_text(contract.multiplier),
        "listing_type": "STANDARD",
        "is_liquidation_only": False,
        "is_marginable": True,
        "is_tradable": True,
        "is_settle_on_open": contract.settle_on_open,
        "last_trade_cutoff": timestamp(close_at) if trades_today else None,
        "underlying_instrument_id": underlying.id,
        "open_interest": None,
    }
