"""A large expiration-day book, generated deterministically from a seed.

``generate(spec)`` returns the scenario as a plain tree: exactly what the YAML scenario
format (``exerciser/sim/README.md``) says, as dicts, lists and strings. From the tree:

- ``yaml_text(tree)`` is a scenario file for ``exerciser simulate --scenario FILE``;
- ``to_scenario(tree)`` builds the simulator's ``Scenario`` objects directly. Parsing
  120,000 positions through the strict YAML loader takes about 20 s, so the benchmark
  skips it; ``check_equivalence`` proves on a slice of the book that both paths give
  equal objects.

The book: ``underlyings`` stocks (a few well-known tickers, then made-up ones) plus the
SPX index. Each has 20 contracts expiring on the business date (10 strikes around the
close, calls and puts) and 2 calls listed a month later. Popular names and strikes near
the money are drawn more often, so the accounts share a couple of thousand contracts.
Some closes sit within a cent of a strike (OCC's $0.01 threshold and pin risk). Each
account holds ``expiring`` options expiring today (about 12 % short, a few with part of
the quantity unavailable), and fills the rest of its ``positions`` with shares (of the
underlyings of its long puts first, so puts can deliver) and later-dated options. Buying
power comes in tiers, so some calls do not fit. A few contracts are rejected or partly
accepted by clearing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

import yaml

from exerciser.sim import Faults, Scenario, parse_scenario
from exerciser.sim.scenario import (
    BALANCE_FIELDS,
    Account,
    Contract,
    Holding,
    Lifecycle,
    Underlying,
)

NEW_YORK = ZoneInfo("America/New_York")
TOKEN = "bench-token"  # noqa: S105 - the local simulator's bearer token, not a secret
AFTER_HOURS_DELAY = timedelta(minutes=5)  # the loader's default after_hours_at
STRIKES_EACH_SIDE = 5  # strikes below and at-or-above the close, per underlying
LATER_CALLS = 2  # later-dated calls per underlying
SHORT_SHARE = 0.12
PARTLY_AVAILABLE_SHARE = 0.03
REJECT_SHARE = 0.005
PARTIAL_SHARE = 0.005
PINNED_SHARE = 0.10  # underlyings that close within a cent of a strike
KNOWN = (
    "AAPL", "MSFT", "NVDA", "AMZN", "META", "GOOGL", "TSLA", "SPY", "QQQ", "IWM", "AMD",
    "NFLX", "JPM", "BAC", "XOM", "AVGO", "COST", "WMT", "DIS", "INTC", "PLTR", "SMCI",
    "COIN", "MSTR", "UBER", "BA", "F", "GM", "KO", "PFE",
)  # fmt: skip
INDEX = "SPX"
QUANTITIES = (1, 1, 1, 2, 2, 3, 4, 5, 5, 10, 10, 20, 25, 50)
BUYING_POWER_TIERS = ("25000", "100000", "250000", "1000000", "5000000", "25000000")


@dataclass(frozen=True, kw_only=True)
class BookSpec:
    """What to generate. The same spec and seed always give the same book."""

    accounts: int = 2000
    positions: int = 60  # per account, options and shares
    expiring: int = 50  # of them, options expiring on the business date
    underlyings: int = 100  # stocks, besides the SPX index
    seed: int = 20261120
    latency_ms: int = 20
    business_date: date = date(2026, 11, 20)  # the November 2026 monthly expiration
    later_expiry: date = date(2026, 12, 18)
    first_account: int = 200001

    def check(self) -> None:
        if self.accounts < 1 or self.underlyings < 1:
            raise ValueError("accounts and underlyings must be at least 1")
        if not 0 <= self.expiring <= self.positions:
            raise ValueError("expiring must be between 0 and positions")
        pool = (self.underlyings + 1) * 4 * STRIKES_EACH_SIDE
        if self.expiring > pool // 2:
            raise ValueError(f"expiring must be at most {pool // 2} for {self.underlyings} names")

    @property
    def close_at(self) -> datetime:
        return datetime.combine(self.business_date, time(16), tzinfo=NEW_YORK)

    @property
    def cutoff_at(self) -> datetime:
        return datetime.combine(self.business_date, time(17, 30), tzinfo=NEW_YORK)

    def account_ids(self) -> list[int]:
        return list(range(self.first_account, self.first_account + self.accounts))

    def as_dict(self) -> dict[str, Any]:
        return {
            name: value.isoformat() if isinstance(value, date) else value
            for name, value in asdict(self).items()
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> BookSpec:
        dates = {"business_date", "later_expiry"}
        values: dict[str, Any] = {
            k: date.fromisoformat(v) if k in dates else v for k, v in raw.items()
        }
        return cls(**values)


Tree = dict[str, Any]


@dataclass(frozen=True)
class _Listed:
    symbol: str
    underlying: str
    weight: float


def generate(spec: BookSpec) -> Tree:
    """The scenario tree for ``spec`` (see the module docstring)."""
    spec.check()
    rng = random.Random(spec.seed)  # noqa: S311 - a reproducible book, not crypto
    tickers = _tickers(rng, spec.underlyings)
    underlyings: list[Tree] = []
    contracts: list[Tree] = []
    expiring: list[_Listed] = []
    later: list[_Listed] = []
    for rank, ticker in enumerate([*tickers, INDEX]):
        is_index = ticker == INDEX
        close = Decimal("6000.00") if is_index else _money(rng.lognormvariate(4.6, 0.8) + 5)
        step = _strike_step(close)
        centre = (close / step).to_integral_value(rounding=ROUND_HALF_UP) * step
        if not is_index and rng.random() < PINNED_SHARE:
            close = centre + rng.choice((Decimal("-0.01"), Decimal("0.005"), Decimal("0.01")))
        last = _money(float(close) * (1 + rng.gauss(0, 0.006)))
        previous = _money(float(close) * (1 + rng.gauss(0, 0.015)))
        underlyings.append(
            {
                "symbol": ticker,
                **({"type": "INDEX"} if is_index else {}),
                "close": str(close),
                "last": str(last),
                "previous_close": str(previous),
            }
        )
        popularity = 1 / (rank + 1) ** 0.8
        for offset in range(-STRIKES_EACH_SIDE, STRIKES_EACH_SIDE):
            strike = centre + offset * step
            if strike <= 0:
                continue
            for right in "CP":
                symbol = _osi(ticker, spec.business_date, right, strike)
                contracts.append({"symbol": symbol, "underlying": ticker, **_clearing(rng)})
                weight = popularity * 0.75 ** abs(offset + 0.5)
                expiring.append(_Listed(symbol, ticker, weight))
        if not is_index:
            for offset in range(LATER_CALLS):
                symbol = _osi(ticker, spec.later_expiry, "C", centre + offset * step)
                contracts.append({"symbol": symbol, "underlying": ticker})
                later.append(_Listed(symbol, ticker, popularity))
    accounts = [
        _account(rng, spec, account_id=i, expiring=expiring, later=later, tickers=tickers)
        for i in spec.account_ids()
    ]
    return {
        "business_date": spec.business_date.isoformat(),
        "cutoff_at": spec.cutoff_at.isoformat(),
        "token": TOKEN,
        "revision": "2025-10-31",
        "page_size": 1000,
        "lifecycle": {"settle_after_polls": 1, "settle_after_seconds": None},
        "underlyings": underlyings,
        "contracts": contracts,
        "accounts": accounts,
        "faults": {"latency_ms": spec.latency_ms},
    }


def _tickers(rng: random.Random, count: int) -> list[str]:
    names = list(KNOWN[:count])
    taken = {*names, INDEX}
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while len(names) < count:
        name = "".join(rng.choice(letters) for _ in range(rng.choice((3, 4))))
        if name not in taken:
            taken.add(name)
            names.append(name)
    return names


def _money(value: float) -> Decimal:
    return Decimal(str(round(value, 2))).quantize(Decimal("0.01"))


def _strike_step(close: Decimal) -> Decimal:
    if close < 50:
        return Decimal(1)
    if close < 200:
        return Decimal("2.5")
    if close < 1000:
        return Decimal(5)
    return Decimal(25)


def _osi(root: str, expiry: date, right: str, strike: Decimal) -> str:
    return f"{root:<6}{expiry:%y%m%d}{right}{int(strike * 1000):08d}"


def _clearing(rng: random.Random) -> Tree:
    draw = rng.random()
    if draw < REJECT_SHARE:
        return {"outcome": "reject", "reject_reason": "Rejected by OCC: deliverable under review"}
    if draw < REJECT_SHARE + PARTIAL_SHARE:
        return {"outcome": "partial", "accepted_fraction": "0.5"}
    return {}


def _account(
    rng: random.Random,
    spec: BookSpec,
    *,
    account_id: int,
    expiring: Sequence[_Listed],
    later: Sequence[_Listed],
    tickers: Sequence[str],
) -> Tree:
    chosen = _draw(rng, expiring, spec.expiring)
    positions: list[Tree] = []
    long_puts: list[str] = []
    for listed in chosen:
        quantity = rng.choice(QUANTITIES)
        short = rng.random() < SHORT_SHARE
        row: Tree = {"symbol": listed.symbol, "quantity": str(-quantity if short else quantity)}
        if not short and quantity > 1 and rng.random() < PARTLY_AVAILABLE_SHARE:
            row["available_quantity"] = str(rng.randrange(quantity))
        if not short and listed.symbol[12] == "P" and listed.underlying != INDEX:
            long_puts.append(listed.underlying)
        positions.append(row)
    others = spec.positions - spec.expiring
    dated = _draw(rng, later, min(others // 3, len(later)))
    for listed in dated:
        quantity = rng.choice(QUANTITIES[:10])
        positions.append({"symbol": listed.symbol, "quantity": str(quantity)})
    stocks = list(dict.fromkeys(long_puts))
    spare = [t for t in tickers if t not in stocks]
    rng.shuffle(spare)
    for ticker in [*stocks, *spare][: others - len(dated)]:
        positions.append({"symbol": ticker, "quantity": str(100 * rng.randint(1, 30))})
    buying_power = rng.choice(BUYING_POWER_TIERS)
    return {
        "id": account_id,
        "balances": {"buying_power": buying_power, "settled_cash": buying_power},
        "positions": positions,
    }


def _draw(rng: random.Random, pool: Sequence[_Listed], count: int) -> list[_Listed]:
    """``count`` distinct entries of ``pool``, drawn by weight."""
    weights = [p.weight for p in pool]
    chosen: dict[str, _Listed] = {}
    while len(chosen) < count:
        for listed in rng.choices(pool, weights=weights, k=count - len(chosen)):
            chosen.setdefault(listed.symbol, listed)
    return list(chosen.values())


# --------------------------------------------------------------------- outputs


def yaml_text(tree: Tree) -> str:
    """The tree as a scenario file."""
    header = "# Generated by `python -m bench`; format: exerciser/sim/README.md\n"
    return header + yaml.safe_dump(tree, sort_keys=False, width=120)


def instrument_id(symbol: str) -> str:
    """The simulator's default instrument id (``exerciser/sim/README.md``)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"sim:instrument:{symbol}"))


def to_scenario(tree: Tree, *, source: str = "bench") -> Scenario:
    """The ``Scenario`` the loader would build from ``yaml_text(tree)``, built directly."""
    day = date.fromisoformat(tree["business_date"])
    close_at = datetime.combine(day, time(16), tzinfo=NEW_YORK)
    underlyings = tuple(
        Underlying(
            symbol=u["symbol"],
            id=instrument_id(u["symbol"]),
            type=u.get("type", "COMMON_STOCK"),
            close=Decimal(u["close"]),
            last=Decimal(u["last"]),
            previous_close=Decimal(u["previous_close"]),
        )
        for u in tree["underlyings"]
    )
    contracts = tuple(_contract(c) for c in tree["contracts"])
    accounts = tuple(_scenario_account(a) for a in tree["accounts"])
    lifecycle = tree["lifecycle"]
    return Scenario(
        source=source,
        business_date=day,
        close_at=close_at,
        after_hours_at=close_at + AFTER_HOURS_DELAY,
        cutoff_at=datetime.fromisoformat(tree["cutoff_at"]),
        token=tree["token"],
        revision=tree["revision"],
        page_size=tree["page_size"],
        lifecycle=Lifecycle(
            settle_after_polls=lifecycle["settle_after_polls"],
            settle_after_seconds=lifecycle["settle_after_seconds"],
        ),
        underlyings=underlyings,
        contracts=contracts,
        accounts=accounts,
        faults=Faults(**tree["faults"]),
    )


def _contract(c: Tree) -> Contract:
    symbol: str = c["symbol"]
    tail = symbol[6:]
    return Contract(
        symbol=symbol,
        id=instrument_id(symbol),
        underlying=c["underlying"],
        strike=Decimal(int(tail[7:])) / 1000,
        expiry=date(2000 + int(tail[0:2]), int(tail[2:4]), int(tail[4:6])),
        contract_type="CALL" if tail[6] == "C" else "PUT",
        multiplier=Decimal(100),
        exercise_style="AMERICAN",
        settle_on_open=False,
        outcome=c.get("outcome", "accept"),
        reject_reason=c.get("reject_reason", "Rejected by clearing"),
        accepted_fraction=Decimal(c.get("accepted_fraction", "0.5")),
    )


def _scenario_account(a: Tree) -> Account:
    account_id: int = a["id"]
    balances = dict.fromkeys(BALANCE_FIELDS, Decimal("0.00"))
    balances.update({k: Decimal(v) for k, v in a["balances"].items()})
    return Account(
        id=account_id,
        short_name=f"SIM-{account_id}",
        full_name=f"Simulated account {account_id}",
        type="CUSTOMER",
        subtype="MARGIN",
        status="ACTIVE",
        options_level=3,
        open_date=date(2020, 1, 2),
        account_holder_entity_id=900_000_000 + account_id,
        balances=balances,
        positions=tuple(
            Holding(
                symbol=p["symbol"],
                quantity=Decimal(p["quantity"]),
                available_quantity=Decimal(p.get("available_quantity", p["quantity"].lstrip("-"))),
            )
            for p in a["positions"]
        ),
    )


def check_equivalence(tree: Tree, accounts: int = 20) -> None:
    """Raise ``AssertionError`` unless the YAML loader and ``to_scenario`` agree on the
    book's instruments and its first ``accounts`` accounts."""
    part = {**tree, "accounts": tree["accounts"][:accounts]}
    direct = to_scenario(part, source="check")
    parsed = parse_scenario(yaml_text(part), source="check")
    if parsed != direct:
        raise AssertionError("bench.book.to_scenario disagrees with the scenario loader")


def summary(tree: Tree) -> dict[str, int]:
    """Counts that describe the book."""
    day = date.fromisoformat(tree["business_date"]).strftime("%y%m%d")
    held = [p for a in tree["accounts"] for p in a["positions"]]
    options = [p for p in held if len(p["symbol"]) == 21]
    expiring = [p for p in options if p["symbol"][6:12] == day]
    return {
        "accounts": len(tree["accounts"]),
        "positions": len(held),
        "option_positions": len(options),
        "expiring_option_positions": len(expiring),
        "short_expiring_positions": sum(1 for p in expiring if p["quantity"].startswith("-")),
        "share_positions": len(held) - len(options),
        "underlyings": len(tree["underlyings"]),
        "listed_contracts": len(tree["contracts"]),
        "distinct_contracts_held": len({p["symbol"] for p in options}),
        "distinct_expiring_contracts_held": len({p["symbol"] for p in expiring}),
    }
