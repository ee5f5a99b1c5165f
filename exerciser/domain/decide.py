"""The rules engine: positions, contracts, prices, balances and rules in; plan rows out.

Pure: no I/O, no clock, ``Decimal`` only. For each long option expiring today:

    itm               = S - K (call) or K - S (put), per share
    occ_would         = itm at the OCC reference >= ex_by_ex_threshold (False when waived)
    want              = itm at the decision price >= min_itm and >= min_itm_pct % of K,
                        and itm x multiplier x qty - fee x qty >= min_net_value,
                        and the account can carry it (buying power for calls, shares for puts)

    want,  occ_would  -> nothing (EXERCISE when explicit_exercise)
    want,  not occ    -> CONTRARY_EXERCISE (MANUAL_REVIEW when contrary_exercise is off)
    !want, occ_would  -> DO_NOT_EXERCISE
    !want, not occ    -> nothing: it lapses

Short options never get an instruction (a pin-risk warning instead). Cash-settled or
AM-settled index options and non-standard contracts are not guessed at. Anything
uncertain — no price, a stale price, contract data that disagrees with the symbol —
becomes MANUAL_REVIEW with the reason, and OCC's default applies.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal

from exerciser.domain.book import AccountBook, Contract, Position, Right
from exerciser.domain.ids import instruction_id
from exerciser.domain.instructions import InstructionType
from exerciser.domain.osi import OsiError, OsiSymbol, parse_osi
from exerciser.domain.plan import Outcome, Plan, PlanAction, PlanRow
from exerciser.domain.policy import (
    Action,
    CashSettled,
    DecisionPrice,
    ExByEx,
    NonStandard,
    Policy,
    Resolved,
    RuleSet,
    Subject,
)
from exerciser.domain.positional import require_fields
from exerciser.domain.prices import PriceSource, UnderlyingPrice

STANDARD_MULTIPLIER = Decimal(100)
# Cash-settled index option roots (European, mostly). The contract data has no
# settlement-type field, so the root (or AM settlement) is how we recognise them.
INDEX_ROOTS = frozenset(
    {"SPX", "SPXW", "SPXPM", "XSP", "NDX", "NDXP", "XND", "RUT", "RUTW", "MRUT", "VIX",
     "VIXW", "DJX", "OEX", "XEO"}
)  # fmt: skip
_ZERO = Decimal(0)
_SOURCE_NAMES = {source: source.value for source in PriceSource}
_HUNDRED = Decimal(100)
# ``_row`` builds rows positionally: a keyword call of PlanRow's 22 fields costs over
# four times the instructions (15,100 against 3,400 a row, cachegrind), about a sixth of
# the engine's. It is written for this order of the fields.
_ROW_FIELDS = (
    "account_id", "instrument_id", "symbol", "root", "underlying_symbol", "expiry", "right",
    "strike", "multiplier", "position_quantity", "available_quantity", "quantity",
    "occ_reference_price", "decision_price", "price_source", "itm_amount",
    "occ_would_exercise", "want_exercise", "action", "expected_outcome", "instruction_id",
    "reasons",
)  # fmt: skip
require_fields(PlanRow, _ROW_FIELDS, update="_ROW_FIELDS and _Engine._row")


@dataclass(frozen=True, slots=True, kw_only=True)
class DecisionInputs:
    business_date: date
    as_of: datetime
    accounts: Sequence[AccountBook]
    contracts: Mapping[str, Contract]  # by the option's instrument id
    prices: Mapping[str, UnderlyingPrice]  # by the underlying's instrument id
    underlying_symbols: Mapping[str, str]  # underlying instrument id -> ticker
    rules: RuleSet
    expires_today: Callable[[date], bool]  # listed expiry -> expires on business_date


@dataclass(frozen=True, slots=True, kw_only=True)
class _Terms:
    """The contract terms we decide on, after the cross-check."""

    root: str
    right: Right
    strike: Decimal
    expiry: date
    multiplier: Decimal
    underlying_id: str | None
    settle_on_open: bool
    adjusted: bool


@dataclass(frozen=True, slots=True)
class _Market:
    reference: Decimal
    decision: Decimal
    itm_ref: Decimal
    itm: Decimal
    occ_would: bool
    reasons: tuple[str, ...]


@dataclass(slots=True, kw_only=True)
class _Contract:
    """What a contract is, as one position names it, worked out once per ``decide`` call
    and shared by every account holding it: terms, underlying, price, and the rules that
    match it whatever the account."""

    terms: _Terms | None
    problem: str | None
    expiring: bool
    underlying: str
    price: UnderlyingPrice | None
    price_source: str | None
    general: tuple[int, ...]  # the rules that match it and name no account
    # Expiring today with known terms: the verdict where no rule names the account, and
    # those where some do, by id(Resolved). None otherwise: no verdict to reach.
    verdict: _Verdict | None = None
    verdicts: dict[int, _Verdict] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Verdict:
    """One contract under one outcome of the rules: everything about its rows that does
    not depend on the account's position."""

    contract: _Contract
    rules: Resolved
    fired: tuple[str, ...]  # "rule <source> applies", the last reasons of every row
    # The row of a long, available position when the gates stop it before the market:
    gate: tuple[_Act, tuple[str, ...]] | None
    market: _Market | None
    short: tuple[str, ...]  # the reasons of a short position's row
    unavailable: tuple[str, ...]  # ... and of a long one with nothing available
    gainful: bool  # in the money at the decision price
    failures: tuple[str, ...]  # threshold failures whatever the quantity
    net_per_contract: Decimal  # (itm x multiplier - fee): x quantity = net value
    value: Decimal  # itm x multiplier: the order in which capacity is given out
    wanted: tuple[_Act, str]  # the action and its reason when we want it exercised
    unwanted: tuple[_Act, str]  # ... and when we do not
    # The whole reasons of the two commonest rows, built once and shared by every row
    # of the verdict (the market's reasons, then ...): exercised in full, and not
    # exercised for the thresholds alone.
    exercised: tuple[str, ...]
    declined: tuple[str, ...]
    per_contract: Decimal  # strike x multiplier: the buying power a call takes


@dataclass(frozen=True, slots=True)
class _Act:
    """An action as its rows carry it: OCC's outcome after it, and the instruction."""

    action: PlanAction
    outcome: Outcome
    kind: InstructionType | None


def _act(action: PlanAction, occ_would: bool | None) -> _Act:
    return _Act(action, _outcome(action, occ_would), action.instruction_type)


# A quantity the policy wants exercised, waiting for the capacity check: the position,
# its verdict, the reasons so far and the quantity (a plain tuple: a NamedTuple's
# constructor runs in Python).
_Wish = tuple[Position, "_Verdict", tuple[str, ...], Decimal]


def decide(inputs: DecisionInputs) -> Plan:
    """The plan for every account of ``inputs``, in their order."""
    decider = Decider(inputs)
    with _cyclic_gc_paused():
        return decider.plan([decider.account(account) for account in inputs.accounts])


@dataclass(frozen=True, slots=True)
class Decided:
    """One account's part of a plan: its rows and warnings."""

    rows: list[PlanRow]
    warnings: list[str]


class Decider:
    """``decide`` an account at a time, so that a caller can decide each account as its
    last input arrives. ``plan`` of the accounts' parts in the book's order is the plan
    ``decide`` makes of the book, row for row (``inputs.accounts`` is not read here)."""

    def __init__(self, inputs: DecisionInputs) -> None:
        self._inputs = inputs
        self._engine = _Engine(inputs)

    def account(self, account: AccountBook) -> Decided:
        rows: list[PlanRow] = []
        warnings: list[str] = []
        self._engine.account(account, rows, warnings)
        return Decided(_merge(self._inputs, rows), warnings)

    def plan(self, decided: Iterable[Decided]) -> Plan:
        rows: list[PlanRow] = []
        warnings: list[str] = []
        for part in decided:
            rows += part.rows
            warnings += part.warnings
        return Plan(
            business_date=self._inputs.business_date,
            as_of=self._inputs.as_of,
            rows=tuple(rows),
            warnings=tuple(warnings),
        )


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while the rows are built.

    A plan of 100,000 rows is over 120,000 new container objects (rows, their reasons,
    queued wishes) that all survive, the worst case for a generational collector: it
    walks them again and again as they pile up, and the whole heap (the book) with
    them, to free nothing. That was 0.6 s of 1.7 s of CPU (measured on a loaded 2-core
    machine). Paused, they are walked once, by the young collection that starts as soon
    as the collector is enabled again, as ``decide`` returns (0.085-0.097 s of a 0.8 s
    call at 100,000 rows). Reference counting still frees what dies meanwhile; a
    collector the caller had turned off is left off.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def itm_amount(right: Right, underlying: Decimal, strike: Decimal) -> Decimal:
    """How far in the money, per share; negative when out of the money."""
    return underlying - strike if right is Right.CALL else strike - underlying


class _Engine:
    """One ``decide`` call. Thousands of accounts hold the same few thousand contracts, so
    what depends only on the contract (terms, price, moneyness, which rules match, the
    gates) is worked out once per contract and outcome of the rules, in dictionaries that
    live as long as the call; a position then costs a few lookups and its rows."""

    def __init__(self, inputs: DecisionInputs) -> None:
        self._in = inputs
        self._rules = inputs.rules
        rules = inputs.rules.rules
        self._general = tuple(i for i, rule in enumerate(rules) if rule.match.account is None)
        named: dict[int, list[int]] = {}
        for i, rule in enumerate(rules):
            if rule.match.account is not None:
                named.setdefault(rule.match.account, []).append(i)
        self._named = {account: tuple(indices) for account, indices in named.items()}
        self._contracts: dict[tuple[str, str, str | None], _Contract] = {}

    def account(self, account: AccountBook, rows: list[PlanRow], warnings: list[str]) -> None:
        named = self._named.get(account.account_id)
        wishes: list[_Wish] = []
        for position in account.positions:
            if not position.is_option:
                continue
            key = (position.instrument_id, position.symbol, position.underlying_id)
            contract = self._contracts.get(key)
            if contract is None:
                contract = self._contracts[key] = self._contract(position)
            verdict = contract.verdict
            if verdict is None:
                if contract.terms is None and not position.is_short:  # shorts need no human
                    rows.append(self._bare_row(position, contract.problem))
                continue  # it does not expire today, or cannot be worked out
            if named is not None:
                verdict = self._named_verdict(contract, account.account_id, position, named)
            if position.is_short:
                _pin_warning(position, verdict, warnings)
                why = verdict.short
                rows.append(self._row(position, verdict, _NOTHING, _ZERO, why))
            elif position.available_quantity <= _ZERO:
                why = verdict.unavailable
                quantity = position.available_quantity
                rows.append(self._row(position, verdict, _NOTHING, quantity, why))
            elif verdict.gate is not None:
                act, why = verdict.gate
                quantity = position.available_quantity
                rows.append(self._row(position, verdict, act, quantity, why))
            else:
                self._intend(position, verdict, rows, wishes)
        if wishes:
            self._allocate(account, wishes, rows)

    def _contract(self, position: Position) -> _Contract:
        inputs = self._in
        terms, problem = _terms(
            position.symbol, position.underlying_id, inputs.contracts.get(position.instrument_id)
        )
        if terms is None:
            return _Contract(
                terms=None,
                problem=problem or "unknown contract",
                expiring=False,
                underlying="",
                price=None,
                price_source=None,
                general=(),
            )
        underlying = inputs.underlying_symbols.get(terms.underlying_id or "", terms.root)
        price = inputs.prices.get(terms.underlying_id or "")
        general: tuple[int, ...] = ()
        if self._general:
            # account_id is never tested by these rules: none of them names an account
            general = self._rules.matching(_subject(0, position, terms, underlying), self._general)
        contract = _Contract(
            terms=terms,
            problem=problem,
            expiring=inputs.expires_today(terms.expiry),
            underlying=underlying,
            price=price,
            price_source=_SOURCE_NAMES[price.source] if price is not None else None,
            general=general,
        )
        if contract.expiring:
            contract.verdict = self._verdict(contract, self._rules.folded(general))
        return contract

    def _named_verdict(
        self, contract: _Contract, account_id: int, position: Position, named: tuple[int, ...]
    ) -> _Verdict:
        """The verdict for an account that some rules name: those rules are matched per
        position, the others were matched once for the contract."""
        assert contract.terms is not None
        subject = _subject(account_id, position, contract.terms, contract.underlying)
        mine = self._rules.matching(subject, named)
        resolved = self._rules.folded(tuple(sorted(contract.general + mine)))
        verdict = contract.verdicts.get(id(resolved))
        if verdict is None:
            verdict = contract.verdicts[id(resolved)] = self._verdict(contract, resolved)
        return verdict

    def _verdict(self, contract: _Contract, resolved: Resolved) -> _Verdict:
        terms, price = contract.terms, contract.price
        assert terms is not None
        policy = resolved.policy
        gate = _gate(contract, terms, resolved)
        market = None
        if gate is None:
            assert price is not None  # checked by _gate
            assert price.reference is not None
            market = _market(terms, price, policy, contract.underlying)
        itm = market.itm if market is not None else _ZERO
        failures: tuple[str, ...] = ("nothing to gain by exercising",)
        if itm > 0:  # the net value is checked per position: it depends on the quantity
            failures = ()
            if itm < policy.min_itm:
                failures += (f"not worth exercising: {itm} < min_itm {policy.min_itm}",)
            floor = terms.strike * policy.min_itm_pct / _HUNDRED
            if policy.min_itm_pct > 0 and itm < floor:
                failures += (
                    f"not worth exercising: {itm} < {policy.min_itm_pct}% of the strike ({floor})",
                )
        occ_would = market is not None and market.occ_would
        fired = tuple(f"rule {source} applies" for source in resolved.fired if source)
        gated = None if gate is None else (_act(gate[0], None), (*gate[1], *fired))
        wanted = _wanted(policy, occ_would=occ_would)
        unwanted = _unwanted(occ_would=occ_would)
        seen = market.reasons if market is not None else ()
        return _Verdict(
            contract=contract,
            rules=resolved,
            fired=fired,
            gate=gated,
            market=market,
            short=("short position: never instructed", *fired),
            unavailable=("no available quantity to instruct", *fired),
            gainful=itm > 0,
            failures=failures,
            net_per_contract=itm * terms.multiplier - policy.fee_per_contract,
            value=itm * terms.multiplier,
            wanted=wanted,
            unwanted=unwanted,
            exercised=(*seen, wanted[1], *fired),
            declined=(*seen, *failures, unwanted[1], *fired),
            per_contract=terms.strike * terms.multiplier,
        )

    def _intend(
        self,
        position: Position,
        verdict: _Verdict,
        rows: list[PlanRow],
        wishes: list[_Wish],
    ) -> None:
        """Rows for what the policy or a forced action says, before capacity; quantities
        that want exercising under the policy are queued in ``wishes`` for the capacity
        check."""
        assert verdict.market is not None
        reasons = verdict.market.reasons
        available = position.available_quantity
        cap = verdict.rules.quantity_cap
        forced = verdict.rules.action
        if forced is Action.EXERCISE or forced is Action.DO_NOT_EXERCISE:
            quantity = min(available, cap) if cap is not None else available
            want = forced is Action.EXERCISE
            why = f"a rule forces {forced.value} on {quantity}"
            rows.append(self._final(position, verdict, quantity, reasons, (why,), want=want))
            remainder = available - quantity
            if remainder <= _ZERO:
                return
            available = remainder
        elif cap is not None and cap < available:
            reasons = (*reasons, f"a rule caps the quantity at {cap} of {available} available")
            available = cap

        failures = verdict.failures
        if verdict.gainful:
            net = verdict.net_per_contract * available
            min_net = verdict.rules.policy.min_net_value
            if net < min_net:
                failures = (
                    *failures,
                    f"not worth exercising: net value {net} after fees < min_net_value {min_net}",
                )
        if not failures:
            wishes.append((position, verdict, reasons, available))
            return
        rows.append(self._final(position, verdict, available, reasons, failures, want=False))

    def _allocate(self, account: AccountBook, wishes: list[_Wish], rows: list[PlanRow]) -> None:
        """Give buying power to calls and shares to puts, most valuable per contract first;
        what does not fit is not exercised (a second row)."""
        buying_power = account.buying_power
        shares = {
            p.instrument_id: p.available_quantity
            for p in account.positions
            if not p.is_option and not p.is_short
        }
        wishes.sort(key=_most_valuable_first)
        for position, verdict, reasons, quantity in wishes:
            policy = verdict.rules.policy
            terms = verdict.contract.terms
            assert terms is not None
            held = None  # the shares a put delivers, when it needs them
            if terms.right is Right.CALL and policy.require_buying_power:
                per_contract = verdict.per_contract
                fits = _whole(buying_power / per_contract) if per_contract > _ZERO else quantity
                fits = max(_ZERO, min(quantity, fits))
                buying_power -= fits * per_contract
            elif terms.right is Right.PUT and not policy.allow_short_stock:
                held = shares.get(terms.underlying_id or "", _ZERO)
                fits = max(_ZERO, min(quantity, _whole(held / terms.multiplier)))
                shares[terms.underlying_id or ""] = held - fits * terms.multiplier
            else:
                fits = quantity
            if fits > _ZERO:
                rows.append(self._final(position, verdict, fits, reasons, (), want=True))
            if fits < quantity:  # only the first two branches leave some out
                short_of = (
                    f"buying power {account.buying_power} covers {fits} of {quantity}"
                    if held is None
                    else f"{held} shares of {verdict.contract.underlying} deliver {fits} of "
                    f"{quantity}"
                )
                why = (f"the account cannot carry all of it: {short_of}",)
                rest = quantity - fits
                rows.append(self._final(position, verdict, rest, reasons, why, want=False))

    def _final(
        self,
        position: Position,
        verdict: _Verdict,
        quantity: Decimal,
        reasons: tuple[str, ...],
        extra: tuple[str, ...],
        *,
        want: bool,
    ) -> PlanRow:
        """Map intent and OCC's default to the instruction, and build the row."""
        act, why = verdict.wanted if want else verdict.unwanted
        assert verdict.market is not None
        if reasons is not verdict.market.reasons:
            whole = (*reasons, *extra, why, *verdict.fired)
        elif want and not extra:
            whole = verdict.exercised
        elif not want and extra is verdict.failures:
            whole = verdict.declined
        else:
            whole = (*reasons, *extra, why, *verdict.fired)
        return self._row(position, verdict, act, quantity, whole, want=want)

    def _row(
        self,
        position: Position,
        verdict: _Verdict,
        act: _Act,
        quantity: Decimal,
        reasons: tuple[str, ...],
        *,
        want: bool | None = None,
    ) -> PlanRow:
        """A row of a contract whose terms are known; ``reasons`` are whole, the fired
        rules' included. Rows with ``want`` None were decided before the market."""
        contract = verdict.contract
        terms = contract.terms
        assert terms is not None
        market = verdict.market if want is not None else None
        price = contract.price
        occ_would = market.occ_would if market is not None else None
        return PlanRow(  # positionally, in the order of _ROW_FIELDS
            position.account_id,
            position.instrument_id,
            position.symbol,
            terms.root,
            contract.underlying,  # underlying_symbol
            terms.expiry,
            terms.right,
            terms.strike,
            terms.multiplier,
            position.quantity,  # position_quantity
            position.available_quantity,
            quantity,
            (  # occ_reference_price
                market.reference
                if market is not None
                else (price.reference if price is not None else None)
            ),
            market.decision if market is not None else None,  # decision_price
            contract.price_source,
            market.itm if market is not None else None,  # itm_amount
            occ_would,  # occ_would_exercise
            want,  # want_exercise
            act.action,
            act.outcome,  # expected_outcome
            (  # instruction_id
                None
                if act.kind is None or quantity <= _ZERO
                else instruction_id(
                    business_date=self._in.business_date,
                    account_id=position.account_id,
                    instrument_id=position.instrument_id,
                    instruction_type=act.kind,
                    quantity=quantity,
                )
            ),
            reasons,
        )

    def _bare_row(self, position: Position, problem: str | None) -> PlanRow:
        """A row for a position whose contract cannot be worked out at all."""
        return PlanRow(
            account_id=position.account_id,
            instrument_id=position.instrument_id,
            symbol=position.symbol,
            root=None,
            underlying_symbol=None,
            expiry=None,
            right=None,
            strike=None,
            multiplier=None,
            position_quantity=position.quantity,
            available_quantity=position.available_quantity,
            quantity=position.available_quantity,
            occ_reference_price=None,
            decision_price=None,
            price_source=None,
            itm_amount=None,
            occ_would_exercise=None,
            want_exercise=None,
            action=PlanAction.MANUAL_REVIEW,
            expected_outcome=Outcome.UNKNOWN,
            instruction_id=None,
            reasons=(f"{problem}; cannot tell whether it expires today",),
        )


def _subject(account_id: int, position: Position, terms: _Terms, underlying: str) -> Subject:
    return Subject(
        account_id=account_id,
        root=terms.root,
        underlying=underlying,
        symbol=position.symbol,
        instrument_id=position.instrument_id,
        right=terms.right,
    )


def _gate(  # noqa: PLR0911 - a sequence of gates reads best as early returns
    contract: _Contract, terms: _Terms, resolved: Resolved
) -> tuple[PlanAction, tuple[str, ...]] | None:
    """The row of a long, available position that is not decided on the market (its
    action and reasons), or None when it is."""
    policy = resolved.policy
    underlying, price = contract.underlying, contract.price
    if contract.problem is not None:
        return PlanAction.MANUAL_REVIEW, (contract.problem,)
    if resolved.action is Action.LEAVE:
        return PlanAction.NONE, ("a rule says leave: OCC's default applies",)
    if resolved.action is Action.MANUAL_REVIEW:
        return PlanAction.MANUAL_REVIEW, ("a rule asks for manual review",)
    if terms.settle_on_open or terms.root in INDEX_ROOTS or underlying in INDEX_ROOTS:
        why = "cash-settled or AM-settled index option: not decided here"
        if policy.cash_settled is CashSettled.MANUAL_REVIEW:
            return PlanAction.MANUAL_REVIEW, (why,)
        return PlanAction.NONE, (f"{why}; OCC's default applies",)
    if (terms.adjusted or terms.multiplier != STANDARD_MULTIPLIER) and (
        policy.non_standard is NonStandard.MANUAL_REVIEW
    ):
        why = (
            f"non-standard contract (root {terms.root}, multiplier {terms.multiplier}): "
            "the deliverable's value is unknown"
        )
        return PlanAction.MANUAL_REVIEW, (why,)
    if price is None or not price.usable or price.reference is None:
        why = price.problem if price is not None and price.problem else f"{underlying}: no price"
        return PlanAction.MANUAL_REVIEW, (why or "no usable price",)
    return None


def _market(terms: _Terms, price: UnderlyingPrice, policy: Policy, underlying: str) -> _Market:
    """Prices, moneyness and OCC's default for one contract under one policy."""
    reference = price.reference
    assert reference is not None  # checked by the caller: price.usable
    decision = reference
    if policy.decision_price is DecisionPrice.LATEST and price.latest is not None:
        decision = price.latest
    itm_ref = itm_amount(terms.right, reference, terms.strike)
    occ_would = policy.ex_by_ex is ExByEx.NORMAL and itm_ref >= policy.ex_by_ex_threshold
    itm = itm_amount(terms.right, decision, terms.strike)
    moneyness = f"in the money by {itm}" if itm >= 0 else f"out of the money by {-itm}"
    reasons = [
        f"{underlying} reference {reference} ({price.source}), decision price {decision}: "
        f"{moneyness} per share"
    ]
    if policy.ex_by_ex is ExByEx.WAIVED:
        reasons.append(f"OCC waived exercise-by-exception for {underlying}: nothing is automatic")
    elif occ_would:
        reasons.append(f"OCC would exercise: {itm_ref} >= threshold {policy.ex_by_ex_threshold}")
    else:
        reasons.append(f"OCC would not exercise: {itm_ref} < threshold {policy.ex_by_ex_threshold}")
    return _Market(reference, decision, itm_ref, itm, occ_would, tuple(reasons))


def _wanted(policy: Policy, *, occ_would: bool) -> tuple[_Act, str]:
    """The instruction when we want it exercised: the difference from OCC's default."""
    if occ_would:
        action = PlanAction.EXERCISE if policy.explicit_exercise else PlanAction.NONE
        return _act(action, occ_would), "exercise: OCC exercises it by default"
    if policy.contrary_exercise:
        return (
            _act(PlanAction.CONTRARY_EXERCISE, occ_would),
            "exercise although OCC would not: contrary exercise advice",
        )
    return (
        _act(PlanAction.MANUAL_REVIEW, occ_would),
        "worth exercising but contrary_exercise is off: a human decides",
    )


def _unwanted(*, occ_would: bool) -> tuple[_Act, str]:
    """The instruction when we do not want it exercised."""
    if occ_would:
        return _act(PlanAction.DO_NOT_EXERCISE, occ_would), "do not exercise although OCC would"
    return _act(PlanAction.NONE, occ_would), "not exercised: it lapses"


def _outcome(action: PlanAction, occ_would: bool | None) -> Outcome:
    if action is PlanAction.EXERCISE or action is PlanAction.CONTRARY_EXERCISE:
        return Outcome.EXERCISED
    if action is PlanAction.DO_NOT_EXERCISE:
        return Outcome.LAPSES
    if action is PlanAction.NONE and occ_would is not None:
        return Outcome.EXERCISED if occ_would else Outcome.LAPSES
    return Outcome.UNKNOWN


_NOTHING = _act(PlanAction.NONE, None)  # decided before the market: the outcome is unknown


def _terms(
    symbol: str, underlying_id: str | None, contract: Contract | None
) -> tuple[_Terms | None, str | None]:
    """Contract data is authoritative; the OSI symbol is the fallback and the cross-check.
    Returns the terms, and a problem that sends the row to a human (terms may still be
    known, so the row can say what it is)."""
    osi: OsiSymbol | None = None
    osi_error = None
    try:
        osi = parse_osi(symbol)
    except OsiError as exc:
        osi_error = str(exc)
    if contract is None:
        if osi is None:
            return None, f"no contract data and {osi_error}"
        return _Terms(
            root=osi.root,
            right=osi.right,
            strike=osi.strike,
            expiry=osi.expiry,
            multiplier=STANDARD_MULTIPLIER,
            underlying_id=underlying_id,
            settle_on_open=False,
            adjusted=osi.is_adjusted,
        ), "no contract data from the broker: terms read from the OSI symbol only"
    root = osi.root if osi is not None else "".join(contract.symbol.split()[:1]) or "?"
    terms = _Terms(
        root=root,
        right=contract.right,
        strike=contract.strike,
        expiry=contract.expiry,
        multiplier=contract.multiplier,
        underlying_id=contract.underlying_id or underlying_id,
        settle_on_open=contract.settle_on_open,
        adjusted=osi.is_adjusted if osi is not None else False,
    )
    if osi is None:
        return terms, f"cannot cross-check the contract: {osi_error}"
    mismatches = [
        f"{name} {mine} vs {theirs}"
        for name, mine, theirs in (
            ("strike", osi.strike, contract.strike),
            ("expiry", osi.expiry, contract.expiry),
            ("right", osi.right.value, contract.right.value),
        )
        if mine != theirs
    ]
    if mismatches:
        return terms, "contract data disagrees with the OSI symbol: " + ", ".join(mismatches)
    return terms, None


def _pin_warning(position: Position, verdict: _Verdict, warnings: list[str]) -> None:
    terms, price = verdict.contract.terms, verdict.contract.price
    assert terms is not None
    pin_band = verdict.rules.policy.pin_band
    level = None
    if price is not None:
        level = price.latest if price.latest is not None else price.reference
    if level is None:
        warnings.append(
            f"account {position.account_id}: short {position.symbol}: no price, pin risk unknown"
        )
        return
    distance = abs(level - terms.strike)
    if distance <= pin_band:
        warnings.append(
            f"account {position.account_id}: pin risk on short {position.symbol}: "
            f"underlying {level} is {distance} from the strike {terms.strike} "
            f"(pin_band {pin_band}); assignment is uncertain"
        )


def _most_valuable_first(wish: _Wish) -> tuple[Decimal, str]:
    return -wish[1].value, wish[0].symbol


def _whole(value: Decimal) -> Decimal:
    return value.to_integral_value(rounding=ROUND_FLOOR)


def _merge(inputs: DecisionInputs, rows: list[PlanRow]) -> list[PlanRow]:
    """One row per account, contract and action: a forced part and a policy part that
    end in the same instruction become one instruction of their summed quantity."""
    merged: dict[tuple[int, str, PlanAction], PlanRow] = {}
    for row in rows:
        key = (row.account_id, row.instrument_id, row.action)
        first = merged.get(key)
        if first is None:
            merged[key] = row
            continue
        quantity = first.quantity + row.quantity
        reasons = first.reasons + tuple(r for r in row.reasons if r not in first.reasons)
        merged[key] = replace(
            first,
            quantity=quantity,
            reasons=reasons,
            instruction_id=_key(
                inputs, first.account_id, first.instrument_id, first.action, quantity
            ),
        )
    return list(merged.values())


def _key(
    inputs: DecisionInputs, account_id: int, instrument: str, action: PlanAction, quantity: Decimal
) -> str | None:
    kind = action.instruction_type
    if kind is None or quantity <= 0:
        return None
    return instruction_id(
        business_date=inputs.business_date,
        account_id=account_id,
        instrument_id=instrument,
        instruction_type=kind,
        quantity=quantity,
    )
