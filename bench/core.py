"""The decision core alone: ``exerciser.domain.decide.decide`` on a generated book.

The book is the generator's (the same one the simulator serves), turned into the domain
values the client would produce; prices are the close, captured right after it, as
``plan_book`` reads them. Only the ``decide`` call is timed. It runs on one thread, so on
one core; rows per second are counted against the CPU seconds of the call (on an idle
machine the same as its wall time; on a shared one, less inflated by other work), and
the wall-time rate is kept too. Every call is cold: any ``functools`` cache of the domain
modules is emptied before it (since 1d1fb8c the engine keeps its per-contract work in
dictionaries of its own that last one call, so every call starts cold there too). The
least of the calls is the figure judged, with the median and the slowest beside it. It
runs with the configured rules file and again with the built-in defaults and no rules.
``decide`` pauses the cyclic garbage collector while it builds the plan; the young
collection that then walks the new rows once starts as soon as ``decide`` enables the
collector again, so it is inside the timed span, and in the figures: 0.085 to 0.097 s of
calls of 0.80 to 0.89 s at 100,000 rows (``gc.callbacks``, three calls, 2026-11-21).
"""

from __future__ import annotations

import math
import statistics
import sys
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.book import INDEX, BookSpec, Tree, generate, instrument_id
from bench.clock import ANCHOR_AFTER_CLOSE
from bench.profiling import profiled
from bench.usage import cpu_seconds, wall
from exerciser.adapters.calendar import XnysCalendar
from exerciser.adapters.rules_yaml import load_rules
from exerciser.domain.book import AccountBook, Contract, Position, Right
from exerciser.domain.calendar import expiry_day
from exerciser.domain.decide import DecisionInputs, decide
from exerciser.domain.policy import RuleSet
from exerciser.domain.prices import price_from_trade
from exerciser.services.plan import expiring_on

REPEATS = 5


def run(config: dict[str, Any]) -> dict[str, Any]:
    spec = BookSpec.from_dict(config["spec"])
    accounts = math.ceil(config["rows"] / spec.expiring)
    spec = BookSpec.from_dict({**spec.as_dict(), "accounts": accounts})
    tree = generate(spec)
    repeats = config.get("repeats", REPEATS)
    profile_dir = config.get("profile_dir")
    inputs = build_inputs(tree, load_rules(Path(config["rules"])))
    result = {"accounts": accounts, **_timed(inputs, repeats, profile_dir)}
    if not profile_dir and config.get("without_rules", True):
        defaults = replace(inputs, rules=RuleSet())
        result["without_rules"] = _timed(defaults, repeats, None)
    return result


def _timed(inputs: DecisionInputs, repeats: int, profile_dir: str | None) -> dict[str, Any]:
    """``decide(inputs)`` ``repeats`` times, every call cold (caches emptied before it).

    The least CPU time is the figure judged, as ``timeit`` takes the least: on a shared
    machine other work only ever adds time, and the same code measured 60,421 to 102,897
    rows a second in one call each of eight runs within ten minutes (2026-11-21). The
    median and the slowest are kept beside it."""
    expiring = sum(1 for a in inputs.accounts for p in a.option_positions if _today(inputs, p))
    runs: list[dict[str, float]] = []
    plan_rows = 0
    profile = None
    for attempt in range(repeats):
        _clear_caches()
        w0, c0 = wall(), cpu_seconds()
        if attempt == 0 and profile_dir:
            with profiled(Path(profile_dir), "core") as profile:
                plan = decide(inputs)
        else:
            plan = decide(inputs)
        runs.append({"wall_s": wall() - w0, "cpu_s": cpu_seconds() - c0})
        plan_rows = len(plan.rows)
    cpu = sorted(r["cpu_s"] for r in runs)
    least = min(runs, key=lambda r: r["cpu_s"])
    result: dict[str, Any] = {
        "option_positions": sum(len(a.option_positions) for a in inputs.accounts),
        "expiring_rows": expiring,
        "plan_rows": plan_rows,
        "calls": len(runs),
        "cpu_s": [round(c, 3) for c in cpu],
        "rows_per_s": round(expiring / cpu[0]),
        "rows_per_s_median": round(expiring / statistics.median(cpu)),
        "rows_per_s_slowest": round(expiring / cpu[-1]),
        "rows_per_s_wall": round(expiring / least["wall_s"]),
    }
    if profile is not None:
        result["profile"] = profile.as_dict()
    return result


def _today(inputs: DecisionInputs, position: Position) -> bool:
    contract = inputs.contracts.get(position.instrument_id)
    return contract is not None and inputs.expires_today(contract.expiry)


def _clear_caches() -> None:
    """Empty every ``functools`` cache of the domain modules (the engine's, the ids')."""
    for name, module in list(sys.modules.items()):
        if not name.startswith("exerciser.domain"):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear):
                clear()


def build_inputs(tree: Tree, rules: RuleSet) -> DecisionInputs:
    """The decision inputs ``plan_book`` would build for this book, just after the close."""
    day = date.fromisoformat(tree["business_date"])
    calendar = XnysCalendar.around(day)
    session = expiry_day(calendar, day)
    as_of = session.close_at + ANCHOR_AFTER_CLOSE
    tickers = {u["symbol"]: instrument_id(u["symbol"]) for u in tree["underlyings"]}
    prices = {
        tickers[u["symbol"]]: price_from_trade(
            symbol=u["symbol"],
            price=Decimal(u["close"]),
            traded_at=session.close_at - timedelta(seconds=1),
            session_open=session.open_at,
            session_close=session.close_at,
            as_of=as_of,
        )
        for u in tree["underlyings"]
    }
    contracts = {}
    for c in tree["contracts"]:
        symbol: str = c["symbol"]
        tail = symbol[6:]
        contracts[instrument_id(symbol)] = Contract(
            id=instrument_id(symbol),
            symbol=symbol,
            right=Right.CALL if tail[6] == "C" else Right.PUT,
            strike=Decimal(int(tail[7:])) / 1000,
            expiry=date(2000 + int(tail[0:2]), int(tail[2:4]), int(tail[4:6])),
            multiplier=Decimal(100),
            exercise_style="EUROPEAN" if c["underlying"] == INDEX else "AMERICAN",
            settle_on_open=False,
            underlying_id=tickers[c["underlying"]],
        )
    accounts = tuple(_account_book(a, contracts, tickers) for a in tree["accounts"])
    return DecisionInputs(
        business_date=day,
        as_of=as_of,
        accounts=accounts,
        contracts=contracts,
        prices=prices,
        underlying_symbols={v: k for k, v in tickers.items()},
        rules=rules,
        expires_today=expiring_on(calendar, day),
    )


def _account_book(a: Tree, contracts: dict[str, Contract], tickers: dict[str, str]) -> AccountBook:
    positions = []
    for p in a["positions"]:
        symbol: str = p["symbol"]
        quantity = Decimal(p["quantity"])
        ident = instrument_id(symbol)
        contract = contracts.get(ident)
        positions.append(
            Position(
                account_id=a["id"],
                instrument_id=ident,
                symbol=symbol,
                is_option=contract is not None,
                quantity=quantity,
                available_quantity=Decimal(p.get("available_quantity", abs(quantity))),
                is_short=quantity < 0,
                underlying_id=contract.underlying_id if contract else tickers.get(symbol),
            )
        )
    return AccountBook(
        account_id=a["id"],
        buying_power=Decimal(a["balances"]["buying_power"]),
        positions=tuple(positions),
    )
