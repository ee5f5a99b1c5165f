"""Seeded fault schedules: from one integer, a whole expiration day to survive.

``Schedule.generate(seed)`` draws, with ``random.Random(seed)`` only:

- a small book: 2-4 accounts holding 3-8 expiring long options each, drawn from a pool
  whose rules make every one of them an instruction — AAPL options in the money at the
  close that a rule finds not worth exercising (DO_NOT_EXERCISE), MSFT calls out of the
  money at the close but in the money after hours (CONTRARY_EXERCISE) — sometimes next
  to positions that need no instruction (an out-of-the-money call, a later expiry, a
  short call). Each contract clears as ``accept``, ``reject`` (rejected late, at the
  first poll after SENT) or ``partial``. Sometimes an instruction entered by hand already
  stands on one planned contract (our row must end CONFLICT, unsent);
- how the broker settles (after N polls, after N seconds, or never) and how the run is
  configured (batch size 1-5, concurrency 1-3);
- faults armed at request indices (counted over the whole day, every run): 503 bursts,
  429s with Retry-After, lost acknowledgements, unreadable bodies, latency spikes (the
  simulator's ``sleep`` advances the fake clock: no real time passes, so no real read
  timeout can fire), and outages — a few requests in a row during which the broker
  still stores what is posted but acknowledges nothing, and refuses every read with a
  429 and a long Retry-After;
- process kills: at the Nth checkpoint of the submit path, before or after the Nth
  journal write, or after the Nth broker reply arrived (before anyone used it); and
  how long the dead process stays down before it is restarted. Some days start late,
  minutes before the internal cutoff, so faults and downtime push sends past it;
- how the alert channels fail.

``expected`` is what the day must plan: (account, contract) -> (type, quantity).
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Literal

from exerciser.sim import Scenario, parse_scenario
from exerciser.sim.scenario import Holding, Lifecycle

BUSINESS_DATE = date(2026, 11, 20)
START = datetime(2026, 11, 20, 21, 10, tzinfo=UTC)  # 16:10 New York: after hours
INTERNAL_CUTOFF = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)  # 17:30 New York - 30 min
CAPTURED_CLOSES = {"AAPL": Decimal("190.40"), "MSFT": Decimal("400.00")}

DNE, CEA = "DO_NOT_EXERCISE", "CONTRARY_EXERCISE"

RULES = """\
version: 1
rules:
  - match: {underlying: AAPL}   # thin edges: not worth exercising, so DO_NOT_EXERCISE
    set: {min_net_value: "1000000"}
  - match: {underlying: MSFT}   # decide on the after-hours trade: CONTRARY_EXERCISE
    set: {decision_price: latest}
"""


def osi(root: str, right: str, strike: str, expiry: str = "261120") -> str:
    """A padded OSI symbol: ``osi("AAPL", "C", "187.5")`` -> ``AAPL  261120C00187500``."""
    thousandths = int(Decimal(strike) * 1000)
    return f"{root:<6}{expiry}{right}{thousandths:08d}"


# Every contract of the pool is an instruction when held long (see the module docstring).
INSTRUCTED: dict[str, str] = {
    **{osi("AAPL", "C", k): DNE for k in ("150", "170", "180", "185", "187.5", "189", "190")},
    **{osi("AAPL", "P", k): DNE for k in ("191", "192.5", "195", "197.5", "200", "210")},
    **{
        osi("MSFT", "C", k): CEA
        for k in ("400.5", "401", "401.5", "402", "402.5", "403", "403.5", "404", "404.5")
    },
}
# Held, but no instruction: out of the money both ways, a later expiry, a short call.
UNINSTRUCTED: tuple[tuple[str, int], ...] = (
    (osi("AAPL", "C", "200"), 2),
    (osi("AAPL", "C", "190", expiry="261218"), 3),
    (osi("MSFT", "C", "410"), -1),
)

Outcome = Literal["accept", "reject", "partial"]
FaultKind = Literal[
    "submit_503", "rate_limit_429", "lost_ack", "malformed_body", "latency", "outage"
]
KillKind = Literal["checkpoint", "write_before", "write_after", "broker_reply"]
REJECT_REASON = "Rejected by OCC: account restricted"


@dataclass(frozen=True, slots=True)
class Fault:
    at: int  # armed just before the request with this index (1 = the day's first)
    kind: FaultKind
    count: int  # how many requests it hits (a burst)
    seconds: int = 0  # Retry-After of a 429; the delay of a latency spike


@dataclass(frozen=True, slots=True)
class Kill:
    kind: KillKind
    nth: int  # counted from the start of the run it kills


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    min_severity: str  # a Severity label
    failure_rate: float  # chance each send fails


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    seed: int
    accounts: dict[int, dict[str, int]]  # account -> symbol -> quantity (negative: short)
    outcomes: dict[str, tuple[Outcome, Decimal]]  # instructed symbol -> outcome, fraction
    settle: tuple[int | None, int | None]  # (after polls, after seconds); both None: never
    start: datetime
    batch_size: int
    concurrency: int
    faults: tuple[Fault, ...]
    kills: tuple[Kill, ...]  # the first kills the first run, and so on
    downtimes: tuple[int, ...]  # seconds each dead process stays down before the restart
    foreign: tuple[int, str] | None  # (account, symbol) an instruction entered by hand
    channels: tuple[Channel, ...]
    alert_passes: int  # delivery passes before the dispatcher is restarted
    expected: dict[tuple[int, str], tuple[str, Decimal]] = field(default_factory=dict)

    @property
    def settles(self) -> bool:
        return self.settle != (None, None)

    def accepted(self, symbol: str, quantity: Decimal) -> Decimal:
        """What clearing accepts of ``quantity`` contracts of ``symbol``."""
        outcome, fraction = self.outcomes[symbol]
        if outcome == "partial":
            return (quantity * fraction).to_integral_value(rounding=ROUND_FLOOR)
        return quantity

    def scenario(self) -> Scenario:
        """The simulator's day: the pool parsed once (the loader's YAML costs tens of
        milliseconds), with this schedule's accounts, clearing outcomes and lifecycle."""
        base = _pool_scenario()
        settle_polls, settle_seconds = self.settle
        contracts = []
        for contract in base.contracts:
            outcome, fraction = self.outcomes.get(contract.symbol, ("accept", Decimal(1)))
            contracts.append(
                replace(
                    contract,
                    outcome=outcome,
                    reject_reason=REJECT_REASON,
                    accepted_fraction=fraction if outcome == "partial" else Decimal("0.5"),
                )
            )
        [template] = base.accounts
        accounts = tuple(
            replace(
                template,
                id=account_id,
                short_name=f"SIM-{account_id}",
                full_name=f"Simulated account {account_id}",
                account_holder_entity_id=900_000_000 + account_id,
                positions=tuple(
                    Holding(symbol=s, quantity=Decimal(q), available_quantity=Decimal(abs(q)))
                    for s, q in positions.items()
                ),
            )
            for account_id, positions in self.accounts.items()
        )
        return replace(
            base,
            source=f"seed-{self.seed}",
            lifecycle=Lifecycle(
                settle_after_polls=settle_polls,
                settle_after_seconds=None if settle_seconds is None else Decimal(settle_seconds),
            ),
            contracts=tuple(contracts),
            accounts=accounts,
        )

    def describe(self) -> str:
        """One line per choice, for assertion messages."""
        return "\n".join(
            [
                f"seed {self.seed}: accounts {self.accounts}",
                f"  outcomes {self.outcomes}",
                f"  settle {self.settle} start {self.start.time()} batch {self.batch_size}"
                f" concurrency {self.concurrency} foreign {self.foreign}",
                f"  faults {list(self.faults)}",
                f"  kills {list(self.kills)} downtimes {list(self.downtimes)}",
                f"  channels {list(self.channels)} passes {self.alert_passes}",
            ]
        )

    @classmethod
    def generate(cls, seed: int) -> Schedule:
        rng = random.Random(seed)
        pool = sorted(INSTRUCTED)
        accounts: dict[int, dict[str, int]] = {}
        expected: dict[tuple[int, str], tuple[str, Decimal]] = {}
        for account_id in sorted(rng.sample(range(10_000, 99_999), rng.randint(2, 4))):
            held = rng.sample(pool, rng.randint(3, 8))
            positions = {symbol: rng.randint(1, 9) for symbol in held}
            for symbol, quantity in positions.items():
                expected[account_id, symbol] = (INSTRUCTED[symbol], Decimal(quantity))
            if rng.random() < 0.3:
                symbol, quantity = rng.choice(UNINSTRUCTED)
                positions[symbol] = quantity
            accounts[account_id] = dict(sorted(positions.items()))
        outcomes: dict[str, tuple[Outcome, Decimal]] = {}
        for symbol in sorted({s for _, s in expected}):
            roll = rng.random()
            if roll < 0.15:
                outcomes[symbol] = ("reject", Decimal(0))
            elif roll < 0.3:
                outcomes[symbol] = ("partial", rng.choice([Decimal("0.5"), Decimal("0.34")]))
            else:
                outcomes[symbol] = ("accept", Decimal(1))

        roll = rng.random()
        settle: tuple[int | None, int | None]
        start = START
        if roll < 0.06:
            settle = (None, None)  # never settles: reported open at the escalation point
            start = INTERNAL_CUTOFF - timedelta(minutes=rng.randint(3, 8))
        elif roll < 0.25:
            settle = (None, rng.choice([1, 5, 20]))
        else:
            settle = (rng.choice([1, 1, 2, 3]), None)
        if settle != (None, None) and rng.random() < 0.2:  # the day runs late: a deadline
            start = INTERNAL_CUTOFF - timedelta(seconds=rng.randint(20, 400))

        faults = tuple(
            sorted(
                (_fault(rng) for _ in range(rng.randint(1, 6))),
                key=lambda f: (f.at, f.kind),
            )
        )
        kills = tuple(_kill(rng) for _ in range(rng.choice([0, 1, 1, 2, 2, 3])))
        downtimes = tuple(rng.choice([0, 0, 5, 60, 240]) for _ in kills)
        # Entered by hand as ACCEPTED (live whatever the polls do), on a contract clearing
        # does not reject: our row must never join it at the broker.
        takers = sorted(k for k in expected if outcomes[k[1]][0] != "reject")
        foreign = rng.choice(takers) if takers and rng.random() < 0.1 else None
        channels = (
            Channel("slack:ops", "info", rng.choice([0.0, 0.2, 0.5])),
            Channel("email", rng.choice(["warning", "error"]), rng.choice([0.0, 0.3, 0.6])),
            Channel("pager", "critical", rng.choice([0.0, 0.5])),
        )[: rng.randint(1, 3)]
        return cls(
            seed=seed,
            accounts=accounts,
            outcomes=outcomes,
            settle=settle,
            start=start,
            batch_size=rng.randint(1, 5),
            concurrency=rng.randint(1, 3),
            faults=faults,
            kills=kills,
            downtimes=downtimes,
            foreign=foreign,
            channels=channels,
            alert_passes=rng.randint(0, 3),
            expected=expected,
        )


_POOL_YAML = """\
business_date: 2026-11-20
close_at: 2026-11-20T16:00:00-05:00
underlyings:
  - {symbol: AAPL, close: "190.40", previous_close: "189.00"}
  - {symbol: MSFT, close: "400.00", last: "405.00", previous_close: "398.00"}
contracts:
CONTRACTS
accounts:
  - id: 1
    balances: {buying_power: "10000000.00"}
"""


@functools.cache
def _pool_scenario() -> Scenario:
    """Every contract a schedule may hold, and one account to copy."""
    symbols = [*INSTRUCTED, *(symbol for symbol, _ in UNINSTRUCTED)]
    contracts = "\n".join(f'  - {{symbol: "{s}", underlying: {s[:6].strip()}}}' for s in symbols)
    return parse_scenario(_POOL_YAML.replace("CONTRACTS", contracts), source="faults-pool.yaml")


def _fault(rng: random.Random) -> Fault:
    kind: FaultKind = rng.choice(
        ["submit_503", "rate_limit_429", "lost_ack", "malformed_body", "latency", "outage"]
    )
    at = rng.randint(1, 60)
    if kind == "outage":
        return Fault(at, kind, rng.randint(2, 8), seconds=rng.choice([5, 30, 90]))
    if kind == "submit_503":
        return Fault(at, kind, rng.randint(1, 3))
    if kind == "rate_limit_429":
        return Fault(at, kind, rng.randint(1, 2), seconds=rng.randint(1, 20))
    if kind == "latency":
        return Fault(at, kind, rng.randint(1, 4), seconds=rng.choice([1, 5, 25]))
    return Fault(at, kind, 1)


def _kill(rng: random.Random) -> Kill:
    kind: KillKind = rng.choice(["checkpoint", "write_before", "write_after", "broker_reply"])
    limit = {"checkpoint": 12, "write_before": 30, "write_after": 30, "broker_reply": 20}[kind]
    return Kill(kind, rng.randint(1, limit))
