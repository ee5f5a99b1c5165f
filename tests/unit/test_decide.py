"""The rules engine, branch by branch, as a table; then its invariants as properties."""

from __future__ import annotations

import gc
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exerciser.domain.book import AccountBook, Contract, Position, Right
from exerciser.domain.decide import Decider, DecisionInputs, decide, itm_amount
from exerciser.domain.ids import instruction_id
from exerciser.domain.instructions import InstructionType
from exerciser.domain.plan import Outcome, Plan, PlanAction
from exerciser.domain.policy import Action, Match, Policy, Rule, RuleSet
from exerciser.domain.prices import PriceSource, UnderlyingPrice

DAY = date(2026, 11, 20)
AS_OF = datetime(2026, 11, 20, 21, 10, tzinfo=UTC)
ACCOUNT = 19816
UNDERLYING_ID = "u-aapl"
D = Decimal


@dataclass
class Case:
    """One option position and its world, with sensible defaults to override."""

    right: Right = Right.CALL
    strike: str = "190"
    close: str | None = "200"
    latest: str | None = None
    quantity: str = "10"
    available: str | None = None
    root: str = "AAPL"
    multiplier: str = "100"
    expiry: date = DAY
    settle_on_open: bool = False
    buying_power: str = "10000000"
    shares: str = "0"
    policy: dict[str, Any] = field(default_factory=dict)
    rules: list[Rule] = field(default_factory=list)
    contract: bool = True
    symbol: str | None = None
    contract_strike: str | None = None
    price_problem: str | None = None

    def osi(self) -> str:
        strike = int(D(self.strike) * 1000)
        return f"{self.root:<6}{self.expiry:%y%m%d}{self.right.value[0]}{strike:08d}"

    def inputs(self) -> DecisionInputs:
        qty = D(self.quantity)
        position = Position(
            account_id=ACCOUNT,
            instrument_id="c-1",
            symbol=self.symbol or self.osi(),
            is_option=True,
            quantity=qty,
            available_quantity=D(self.available) if self.available else abs(qty),
            is_short=qty < 0,
            underlying_id=UNDERLYING_ID,
        )
        stock = Position(
            account_id=ACCOUNT,
            instrument_id=UNDERLYING_ID,
            symbol="AAPL",
            is_option=False,
            quantity=D(self.shares),
            available_quantity=D(self.shares),
            is_short=False,
        )
        contracts = {}
        if self.contract:
            contracts["c-1"] = Contract(
                id="c-1",
                symbol=self.osi(),
                right=self.right,
                strike=D(self.contract_strike or self.strike),
                expiry=self.expiry,
                multiplier=D(self.multiplier),
                exercise_style="AMERICAN",
                settle_on_open=self.settle_on_open,
                underlying_id=UNDERLYING_ID,
            )
        prices = {}
        if self.close is not None:
            prices[UNDERLYING_ID] = UnderlyingPrice(
                symbol="AAPL",
                reference=D(self.close),
                latest=D(self.latest or self.close),
                source=PriceSource.BROKER,
                problem=self.price_problem,
            )
        return DecisionInputs(
            business_date=DAY,
            as_of=AS_OF,
            accounts=[
                AccountBook(
                    account_id=ACCOUNT,
                    buying_power=D(self.buying_power),
                    positions=(position, stock),
                )
            ],
            contracts=contracts,
            prices=prices,
            underlying_symbols={UNDERLYING_ID: "AAPL"},
            rules=RuleSet(defaults=Policy().with_overrides(self.policy), rules=tuple(self.rules)),
            expires_today=lambda listed: listed == DAY,
        )


def plan_of(case: Case) -> Plan:
    return decide(case.inputs())


def summary(plan: Plan) -> list[tuple[str, str, str]]:
    return [(r.action.value, format(r.quantity, "f"), r.expected_outcome.value) for r in plan.rows]


TABLE = [
    ("deep-itm-call-left-to-occ", Case(), [("NONE", "10", "EXERCISED")]),
    (
        "explicit-exercise",
        Case(policy={"explicit_exercise": True}),
        [("EXERCISE", "10", "EXERCISED")],
    ),
    ("half-penny-itm-lapses", Case(close="190.005"), [("NONE", "10", "LAPSES")]),
    ("one-penny-itm-exercised", Case(close="190.01"), [("NONE", "10", "EXERCISED")]),
    (
        "fees-eat-the-value",
        Case(
            close="190.03",
            quantity="4",
            policy={"fee_per_contract": D("0.65"), "min_net_value": D(25)},
        ),
        [("DO_NOT_EXERCISE", "4", "LAPSES")],
    ),
    (
        "min-itm-raises-the-bar",
        Case(close="190.03", policy={"min_itm": D("0.05")}),
        [("DO_NOT_EXERCISE", "10", "LAPSES")],
    ),
    (
        "min-itm-pct-of-strike",
        Case(close="190.50", policy={"min_itm_pct": D(1)}),
        [("DO_NOT_EXERCISE", "10", "LAPSES")],
    ),
    ("otm-lapses", Case(close="180"), [("NONE", "10", "LAPSES")]),
    (
        "after-hours-news-contrary",
        Case(close="189.90", latest="195", policy={"decision_price": "latest"}),
        [("CONTRARY_EXERCISE", "10", "EXERCISED")],
    ),
    (
        "after-hours-ignored-by-default",
        Case(close="189.90", latest="195"),
        [("NONE", "10", "LAPSES")],
    ),
    (
        "contrary-off-goes-to-human",
        Case(
            close="189.90",
            latest="195",
            policy={"decision_price": "latest", "contrary_exercise": False},
        ),
        [("MANUAL_REVIEW", "10", "UNKNOWN")],
    ),
    (
        "put-with-shares",
        Case(right=Right.PUT, close="180", shares="1000"),
        [("NONE", "10", "EXERCISED")],
    ),
    (
        "put-without-shares",
        Case(right=Right.PUT, close="180"),
        [("DO_NOT_EXERCISE", "10", "LAPSES")],
    ),
    (
        "put-partly-covered",
        Case(right=Right.PUT, close="180", shares="450"),
        [("NONE", "4", "EXERCISED"), ("DO_NOT_EXERCISE", "6", "LAPSES")],
    ),
    (
        "put-short-stock-allowed",
        Case(right=Right.PUT, close="180", policy={"allow_short_stock": True}),
        [("NONE", "10", "EXERCISED")],
    ),
    (
        "call-partly-covered",
        Case(buying_power="60000"),
        [("NONE", "3", "EXERCISED"), ("DO_NOT_EXERCISE", "7", "LAPSES")],
    ),
    (
        "call-no-buying-power-check",
        Case(buying_power="0", policy={"require_buying_power": False}),
        [("NONE", "10", "EXERCISED")],
    ),
    ("short-never-instructed", Case(quantity="-5"), [("NONE", "0", "UNKNOWN")]),
    (
        "waived-ex-by-ex-needs-contrary",
        Case(policy={"ex_by_ex": "waived"}),
        [("CONTRARY_EXERCISE", "10", "EXERCISED")],
    ),
    (
        "am-settled-index-left-alone",
        Case(root="SPX", settle_on_open=True),
        [("NONE", "10", "UNKNOWN")],
    ),
    ("pm-index-left-alone", Case(root="SPXW"), [("NONE", "10", "UNKNOWN")]),
    (
        "index-to-human-when-asked",
        Case(root="SPXW", policy={"cash_settled": "manual_review"}),
        [("MANUAL_REVIEW", "10", "UNKNOWN")],
    ),
    ("adjusted-root-to-human", Case(root="AAPL1"), [("MANUAL_REVIEW", "10", "UNKNOWN")]),
    ("multiplier-10-to-human", Case(multiplier="10"), [("MANUAL_REVIEW", "10", "UNKNOWN")]),
    (
        "non-standard-decided-when-asked",
        Case(root="AAPL1", policy={"non_standard": "decide"}),
        [("NONE", "10", "EXERCISED")],
    ),
    ("no-price-to-human", Case(close=None), [("MANUAL_REVIEW", "10", "UNKNOWN")]),
    (
        "stale-price-to-human",
        Case(price_problem="AAPL: stale price"),
        [("MANUAL_REVIEW", "10", "UNKNOWN")],
    ),
    (
        "contract-mismatch-to-human",
        Case(contract_strike="195"),
        [("MANUAL_REVIEW", "10", "UNKNOWN")],
    ),
    ("no-contract-data-to-human", Case(contract=False), [("MANUAL_REVIEW", "10", "UNKNOWN")]),
    (
        "malformed-symbol-no-data",
        Case(contract=False, symbol="GARBAGE"),
        [("MANUAL_REVIEW", "10", "UNKNOWN")],
    ),
    ("malformed-symbol-with-data", Case(symbol="GARBAGE"), [("MANUAL_REVIEW", "10", "UNKNOWN")]),
    ("not-expiring-today", Case(expiry=date(2026, 12, 18)), []),
    ("nothing-available", Case(available="0"), [("NONE", "0", "UNKNOWN")]),
    (
        "forced-exercise-otm",
        Case(close="185", rules=[Rule(action=Action.EXERCISE, source="r:1")]),
        [("CONTRARY_EXERCISE", "10", "EXERCISED")],
    ),
    (
        "forced-dne-part",
        Case(rules=[Rule(action=Action.DO_NOT_EXERCISE, quantity=D(4), source="r:1")]),
        [("DO_NOT_EXERCISE", "4", "LAPSES"), ("NONE", "6", "EXERCISED")],
    ),
    (
        "rule-leave",
        Case(close="190.03", policy={"min_itm": D(1)}, rules=[Rule(action=Action.LEAVE)]),
        [("NONE", "10", "UNKNOWN")],
    ),
    (
        "rule-manual-review",
        Case(rules=[Rule(action=Action.MANUAL_REVIEW)]),
        [("MANUAL_REVIEW", "10", "UNKNOWN")],
    ),
    (
        "rule-caps-quantity",
        Case(close="190.02", policy={"min_itm": D(1)}, rules=[Rule(quantity=D(3))]),
        [("DO_NOT_EXERCISE", "3", "LAPSES")],
    ),
    (
        "rule-for-other-account-ignored",
        Case(rules=[Rule(match=Match(account=1), action=Action.LEAVE)]),
        [("NONE", "10", "EXERCISED")],
    ),
]


@pytest.mark.parametrize(("case", "expected"), [pytest.param(c, e, id=i) for i, c, e in TABLE])
def test_decision_table(case: Case, expected: list[tuple[str, str, str]]) -> None:
    plan = plan_of(case)
    assert summary(plan) == expected
    for row in plan.rows:
        assert row.reasons, "every row says why"
        assert (row.instruction_id is not None) == (row.instruction_type is not None)


def test_rows_carry_prices_itm_and_the_rule_that_fired() -> None:
    case = Case(
        close="190.03",
        quantity="4",
        policy={"fee_per_contract": D("0.65")},
        rules=[Rule(match=Match(root="AAPL"), set={"min_net_value": D(25)}, source="r.yaml:7")],
    )
    (row,) = plan_of(case).rows
    assert row.occ_reference_price == D("190.03")
    assert row.decision_price == D("190.03")
    assert row.itm_amount == D("0.03")
    assert row.occ_would_exercise is True
    assert row.want_exercise is False
    assert row.price_source == "broker"
    assert row.instruction_id is not None
    assert row.instruction_id.startswith(f"xr-20261120-{ACCOUNT}-DNE-")
    assert any("net value" in r for r in row.reasons)
    assert "rule r.yaml:7 applies" in row.reasons


_AT_200 = (
    "AAPL reference 200 (broker), decision price 200: in the money by 10 per share",
    "OCC would exercise: 10 >= threshold 0.01",
)
_AT_190_02 = (
    "AAPL reference 190.02 (broker), decision price 190.02: in the money by 0.02 per share",
    "OCC would exercise: 0.02 >= threshold 0.01",
)
REASONS = [
    ("exercised", Case(policy={"explicit_exercise": True}), [
        (*_AT_200, "exercise: OCC exercises it by default"),
    ]),
    ("thresholds", Case(close="190.02", policy={"min_itm": D(1)}), [
        (*_AT_190_02, "not worth exercising: 0.02 < min_itm 1",
         "do not exercise although OCC would"),
    ]),
    ("net-value", Case(
        close="190.03",
        quantity="4",
        policy={"fee_per_contract": D("0.65"), "min_net_value": D(25)},
    ), [
        ("AAPL reference 190.03 (broker), decision price 190.03: in the money by 0.03 per share",
         "OCC would exercise: 0.03 >= threshold 0.01",
         "not worth exercising: net value 9.40 after fees < min_net_value 25",
         "do not exercise although OCC would"),
    ]),
    ("rule-fired", Case(
        close="190.02",
        policy={"min_itm": D(1)},
        rules=[Rule(match=Match(root="AAPL"), set={"explicit_exercise": True}, source="r:3")],
    ), [
        (*_AT_190_02, "not worth exercising: 0.02 < min_itm 1",
         "do not exercise although OCC would", "rule r:3 applies"),
    ]),
    ("part-fits", Case(buying_power="19000"), [
        (*_AT_200, "exercise: OCC exercises it by default"),
        (*_AT_200, "the account cannot carry all of it: buying power 19000 covers 1 of 10",
         "do not exercise although OCC would"),
    ]),
]  # fmt: skip


@pytest.mark.parametrize(("case", "expected"), [pytest.param(c, e, id=i) for i, c, e in REASONS])
def test_rows_say_why_in_full(case: Case, expected: list[tuple[str, ...]]) -> None:
    """The whole reasons, in order. The commonest two (exercised in full, declined for
    the thresholds alone) are built once per contract and shared by its rows; the others
    are built per row. Both must read the same."""
    assert [row.reasons for row in plan_of(case).rows] == expected


def test_short_near_the_strike_warns_of_pin_risk() -> None:
    near = plan_of(Case(quantity="-2", close="190.30"))
    far = plan_of(Case(quantity="-2", close="200"))
    assert len(near.warnings) == 1
    assert "pin risk" in near.warnings[0]
    assert far.warnings == ()


def test_instruction_ids_are_stable_and_well_formed() -> None:
    first = plan_of(Case(policy={"explicit_exercise": True})).rows[0].instruction_id
    again = plan_of(Case(policy={"explicit_exercise": True})).rows[0].instruction_id
    other = plan_of(Case(policy={"explicit_exercise": True}, quantity="9")).rows[0].instruction_id
    assert first == again
    assert first != other
    assert first is not None
    assert len(first) <= 64
    assert all(ch.isalnum() or ch == "-" for ch in first)


def test_buying_power_goes_to_the_most_valuable_calls_first() -> None:
    inputs = Case(buying_power="19000").inputs()
    account = inputs.accounts[0]
    cheap = Position(
        account_id=ACCOUNT,
        instrument_id="c-2",
        symbol="AAPL  261120C00185000",
        is_option=True,
        quantity=D(1),
        available_quantity=D(1),
        is_short=False,
        underlying_id=UNDERLYING_ID,
    )
    contracts = dict(inputs.contracts)
    contracts["c-2"] = Contract(
        id="c-2",
        symbol=cheap.symbol,
        right=Right.CALL,
        strike=D(185),
        expiry=DAY,
        multiplier=D(100),
        exercise_style="AMERICAN",
        settle_on_open=False,
        underlying_id=UNDERLYING_ID,
    )
    bigger = AccountBook(
        account_id=ACCOUNT, buying_power=D(19000), positions=(account.positions[0], cheap)
    )
    plan = decide(replace(inputs, accounts=[bigger], contracts=contracts))
    by_symbol = {(r.symbol, r.action): r.quantity for r in plan.rows}
    assert by_symbol[("AAPL  261120C00185000", PlanAction.NONE)] == 1  # itm 15: first
    assert by_symbol[("AAPL  261120C00190000", PlanAction.DO_NOT_EXERCISE)] == 10


# ---------------------------------------------------------------- properties

prices = st.decimals(min_value=D("0.01"), max_value=D(500), places=2)
quantities = st.integers(min_value=-20, max_value=20).filter(lambda q: q != 0)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    return Case(
        right=draw(st.sampled_from(list(Right))),
        strike=str(draw(st.integers(min_value=1, max_value=400))),
        close=str(draw(prices)),
        latest=str(draw(prices)),
        quantity=str(draw(quantities)),
        buying_power=str(draw(st.integers(min_value=0, max_value=2_000_000))),
        shares=str(draw(st.integers(min_value=0, max_value=3000))),
        policy={
            "decision_price": draw(st.sampled_from(["reference", "latest"])),
            "explicit_exercise": draw(st.booleans()),
            "contrary_exercise": draw(st.booleans()),
            "fee_per_contract": D(draw(st.sampled_from(["0", "0.65", "5"]))),
            "ex_by_ex": draw(st.sampled_from(["normal", "waived"])),
        },
    )


@settings(max_examples=300, deadline=None)
@given(cases())
def test_no_instruction_ever_on_a_short_position(case: Case) -> None:
    plan = plan_of(case)
    if D(case.quantity) < 0:
        assert all(r.instruction_id is None for r in plan.rows)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_dne_only_where_occ_would_exercise_and_cea_only_where_it_would_not(case: Case) -> None:
    for row in plan_of(case).rows:
        if row.action is PlanAction.DO_NOT_EXERCISE:
            assert row.occ_would_exercise is True
        if row.action is PlanAction.CONTRARY_EXERCISE:
            assert row.occ_would_exercise is False


@settings(max_examples=300, deadline=None)
@given(cases())
def test_quantities_never_exceed_what_is_available(case: Case) -> None:
    plan = plan_of(case)
    available = abs(D(case.quantity))
    assert sum(r.quantity for r in plan.rows) <= available
    assert all(r.quantity >= 0 for r in plan.rows)


@settings(max_examples=300, deadline=None)
@given(cases(), st.decimals(min_value=D("0.01"), max_value=D(50), places=2))
def test_raising_a_calls_price_never_turns_exercise_into_non_exercise(
    case: Case, bump: Decimal
) -> None:
    case.right = Right.CALL
    case.latest = case.close

    def exercised(c: Case) -> Decimal:
        return sum(
            (r.quantity for r in plan_of(c).rows if r.expected_outcome is Outcome.EXERCISED),
            D(0),
        )

    before = exercised(case)
    case.close = case.latest = str(D(case.close or "1") + bump)
    assert exercised(case) >= before


def test_itm_amount_sign_convention() -> None:
    assert itm_amount(Right.CALL, D(200), D(190)) == D(10)
    assert itm_amount(Right.PUT, D(200), D(190)) == D(-10)


def test_instruction_ids_never_change_across_versions() -> None:
    """Golden values: journals and broker records from earlier versions must still match."""
    day = date(2026, 11, 20)
    dne = instruction_id(
        business_date=day,
        account_id=19816,
        instrument_id=" ABC-1 ",
        instruction_type=InstructionType.DO_NOT_EXERCISE,
        quantity=D("10.0"),
    )
    ex = instruction_id(
        business_date=day,
        account_id=19816,
        instrument_id="abc-1",
        instruction_type=InstructionType.EXERCISE,
        quantity=D("1E+1"),
        revision=2,
    )
    assert dne == "xr-20261120-19816-DNE-3cfdafc70f8023ad98f2"
    assert ex == "xr-20261120-19816-EX-858797cbda1474e9cd3b"


# ------------------------------------------- what is worked out once per contract

STRIKES = (180, 190, 200, 210)
SHARED_RULES = (
    Rule(match=Match(right=Right.PUT), set={"min_net_value": D(100)}, source="r:1"),
    Rule(match=Match(account=2), set={"explicit_exercise": True}, source="r:2"),
    Rule(
        match=Match(account=3, right=Right.CALL),
        action=Action.DO_NOT_EXERCISE,
        quantity=D(1),
        source="r:3",
    ),
)


def _contract(right: Right, strike: int) -> Contract:
    return Contract(
        id=f"c-{right.value[0]}{strike}",
        symbol=f"AAPL  261120{right.value[0]}{strike * 1000:08d}",
        right=right,
        strike=D(strike),
        expiry=DAY,
        multiplier=D(100),
        exercise_style="AMERICAN",
        settle_on_open=False,
        underlying_id=UNDERLYING_ID,
    )


@st.composite
def shared_books(draw: st.DrawFn) -> DecisionInputs:
    """Up to six accounts (rules name accounts 2 and 3) holding the same eight contracts."""
    contracts = {c.id: c for c in (_contract(r, k) for r in Right for k in STRIKES)}
    accounts = []
    for account_id in range(1, draw(st.integers(min_value=1, max_value=6)) + 1):
        held = draw(st.lists(st.sampled_from(sorted(contracts)), min_size=1, max_size=5))
        positions = [
            Position(
                account_id=account_id,
                instrument_id=ident,
                symbol=contracts[ident].symbol,
                is_option=True,
                quantity=(q := D(draw(quantities))),
                available_quantity=abs(q),
                is_short=q < 0,
                underlying_id=UNDERLYING_ID,
            )
            for ident in held
        ]
        shares = D(draw(st.integers(min_value=0, max_value=1000)))
        stock = Position(
            account_id=account_id,
            instrument_id=UNDERLYING_ID,
            symbol="AAPL",
            is_option=False,
            quantity=shares,
            available_quantity=shares,
            is_short=False,
        )
        bp = D(draw(st.integers(min_value=0, max_value=300_000)))
        accounts.append(
            AccountBook(account_id=account_id, buying_power=bp, positions=(*positions, stock))
        )
    close = draw(st.decimals(min_value=D(170), max_value=D(220), places=2))
    return DecisionInputs(
        business_date=DAY,
        as_of=AS_OF,
        accounts=accounts,
        contracts=contracts,
        prices={
            UNDERLYING_ID: UnderlyingPrice(
                symbol="AAPL", reference=close, latest=close, source=PriceSource.BROKER
            )
        },
        underlying_symbols={UNDERLYING_ID: "AAPL"},
        rules=RuleSet(defaults=Policy(), rules=SHARED_RULES),
        expires_today=lambda listed: listed == DAY,
    )


@settings(max_examples=200, deadline=None)
@given(shared_books())
def test_a_book_decides_as_its_accounts_would_alone(inputs: DecisionInputs) -> None:
    """The engine works a contract out once and shares it across accounts: nothing from
    one account (a rule that names it, its order in the book) may leak into another's."""
    whole = decide(inputs)
    alone = [decide(replace(inputs, accounts=[a])) for a in inputs.accounts]
    assert whole.rows == tuple(row for plan in alone for row in plan.rows)
    assert whole.warnings == tuple(w for plan in alone for w in plan.warnings)
    backwards = decide(replace(inputs, accounts=list(reversed(inputs.accounts))))
    assert sorted(backwards.rows, key=repr) == sorted(whole.rows, key=repr)


@settings(max_examples=200, deadline=None)
@given(shared_books(), st.randoms(use_true_random=False))
def test_deciding_account_by_account_in_any_order_makes_the_plan_decide_makes(
    inputs: DecisionInputs, rng: Any
) -> None:
    """``make_plan`` decides each account as its balance arrives, in whatever order that
    is, and puts the parts together in the book's order: the plan must be the same."""
    decider = Decider(replace(inputs, accounts=()))
    order = list(range(len(inputs.accounts)))
    rng.shuffle(order)
    parts = {i: decider.account(inputs.accounts[i]) for i in order}
    assert decider.plan(parts[i] for i in range(len(inputs.accounts))) == decide(inputs)


def test_rules_that_name_an_account_apply_to_it_alone() -> None:
    call = _contract(Right.CALL, 190)
    inputs = replace(Case().inputs(), rules=RuleSet(defaults=Policy(), rules=SHARED_RULES))
    books = [
        AccountBook(
            account_id=account_id,
            buying_power=D(10_000_000),
            positions=(
                Position(
                    account_id=account_id,
                    instrument_id=call.id,
                    symbol=call.symbol,
                    is_option=True,
                    quantity=D(5),
                    available_quantity=D(5),
                    is_short=False,
                    underlying_id=UNDERLYING_ID,
                ),
            ),
        )
        for account_id in (1, 3, 4)
    ]
    price = UnderlyingPrice(
        symbol="AAPL", reference=D(200), latest=D(200), source=PriceSource.BROKER
    )
    plan = decide(
        replace(inputs, accounts=books, contracts={call.id: call}, prices={UNDERLYING_ID: price})
    )
    rows = [(r.account_id, r.action.value, str(r.quantity)) for r in plan.rows]
    assert rows == [
        (1, "NONE", "5"),
        (3, "DO_NOT_EXERCISE", "1"),  # r:3 forces DNE on one
        (3, "NONE", "4"),
        (4, "NONE", "5"),
    ]
    assert [r.reasons[-1] for r in plan.rows] == [
        "exercise: OCC exercises it by default",
        "rule r:3 applies",
        "rule r:3 applies",
        "exercise: OCC exercises it by default",
    ]


@pytest.mark.parametrize("enabled", [True, False])
def test_decide_leaves_the_garbage_collector_as_it_found_it(enabled: bool) -> None:
    was = gc.isenabled()
    try:
        if not enabled:
            gc.disable()
        decide(Case().inputs())
        assert gc.isenabled() is enabled
    finally:
        if was:
            gc.enable()
