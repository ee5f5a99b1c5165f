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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from functools import lru_cache

from exerciser.domain.book import AccountBook, Contract, Position, Right
from exerciser.domain.ids import instruction_id
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


@dataclass(slots=True, kw_only=True)
class _Case:
    """One long option position on its way to rows."""

    position: Position
    terms: _Terms
    underlying: str
    rules: Resolved
    price: UnderlyingPrice
    market: _Market
    reasons: list[str] = field(default_factory=list)

    @property
    def itm(self) -> Decimal:
        return self.market.itm

    @property
    def occ_would(self) -> bool:
        return self.market.occ_would


def decide(inputs: DecisionInputs) -> Plan:
    rows: list[PlanRow] = []
    warnings: list[str] = []
    for account in inputs.accounts:
        rows.extend(_decide_account(inputs, account, warnings))
    return Plan(
        business_date=inputs.business_date,
        as_of=inputs.as_of,
        rows=tuple(_merge(inputs, rows)),
        warnings=tuple(warnings),
    )


def itm_amount(right: Right, underlying: Decimal, strike: Decimal) -> Decimal:
    """How far in the money, per share; negative when out of the money."""
    return underlying - strike if right is Right.CALL else strike - underlying


def _decide_account(
    inputs: DecisionInputs, account: AccountBook, warnings: list[str]
) -> list[PlanRow]:
    rows: list[PlanRow] = []
    exercise_wishes: list[tuple[_Case, Decimal]] = []
    for position in account.option_positions:
        outcome = _assess(inputs, account, position, warnings)
        if isinstance(outcome, _Case):
            rows.extend(_intend(inputs, outcome, exercise_wishes))
        elif outcome is not None:
            rows.append(outcome)
    rows.extend(_allocate(inputs, account, exercise_wishes))
    return rows


def _assess(  # noqa: PLR0911 - a sequence of gates reads best as early returns
    inputs: DecisionInputs, account: AccountBook, position: Position, warnings: list[str]
) -> _Case | PlanRow | None:
    """A ``_Case`` to decide on, a final row, or None when it does not expire today."""
    terms, problem = _terms(
        position.symbol, position.underlying_id, inputs.contracts.get(position.instrument_id)
    )
    if terms is None:
        return _bare_row(inputs, position, problem or "unknown contract")
    if not inputs.expires_today(terms.expiry):
        return None
    underlying = inputs.underlying_symbols.get(terms.underlying_id or "", terms.root)
    price = inputs.prices.get(terms.underlying_id or "")
    resolved = _resolve(inputs.rules, account.account_id, position, terms, underlying)
    policy = resolved.policy
    base = _RowBase(inputs, position, terms, underlying, price, resolved)

    if position.is_short:
        _pin_warning(position, terms, price, policy, warnings)
        return base.row(PlanAction.NONE, ["short position: never instructed"])
    if position.available_quantity <= 0:
        return base.row(PlanAction.NONE, ["no available quantity to instruct"])
    if problem is not None:
        return base.row(PlanAction.MANUAL_REVIEW, [problem])
    if resolved.action is Action.LEAVE:
        return base.row(PlanAction.NONE, ["a rule says leave: OCC's default applies"])
    if resolved.action is Action.MANUAL_REVIEW:
        return base.row(PlanAction.MANUAL_REVIEW, ["a rule asks for manual review"])
    if terms.settle_on_open or terms.root in INDEX_ROOTS or underlying in INDEX_ROOTS:
        why = "cash-settled or AM-settled index option: not decided here"
        if policy.cash_settled is CashSettled.MANUAL_REVIEW:
            return base.row(PlanAction.MANUAL_REVIEW, [why])
        return base.row(PlanAction.NONE, [f"{why}; OCC's default applies"])
    if (terms.adjusted or terms.multiplier != STANDARD_MULTIPLIER) and (
        policy.non_standard is NonStandard.MANUAL_REVIEW
    ):
        why = (
            f"non-standard contract (root {terms.root}, multiplier {terms.multiplier}): "
            "the deliverable's value is unknown"
        )
        return base.row(PlanAction.MANUAL_REVIEW, [why])
    if price is None or not price.usable or price.reference is None:
        why = price.problem if price is not None and price.problem else f"{underlying}: no price"
        return base.row(PlanAction.MANUAL_REVIEW, [why or "no usable price"])

    market = _market(terms, price, policy, underlying)
    return _Case(
        position=position,
        terms=terms,
        underlying=underlying,
        rules=resolved,
        price=price,
        market=market,
        reasons=list(market.reasons),
    )


@dataclass(frozen=True, slots=True)
class _Market:
    reference: Decimal
    decision: Decimal
    itm_ref: Decimal
    itm: Decimal
    occ_would: bool
    reasons: tuple[str, ...]


def _resolve(
    rules: RuleSet, account_id: int, position: Position, terms: _Terms, underlying: str
) -> Resolved:
    if not rules.rules:
        return _defaults_only(rules.defaults)
    subject = Subject(
        account_id=account_id,
        root=terms.root,
        underlying=underlying,
        symbol=position.symbol,
        instrument_id=position.instrument_id,
        right=terms.right,
    )
    return rules.resolve(subject)


@lru_cache(maxsize=16)
def _defaults_only(policy: Policy) -> Resolved:
    """What the rules resolve to when there are none (the common case): one object."""
    return Resolved(policy=policy)


@lru_cache(maxsize=65536)
def _market(terms: _Terms, price: UnderlyingPrice, policy: Policy, underlying: str) -> _Market:
    """Prices, moneyness and OCC's default for one contract under one policy. Cached: the
    same contract recurs across thousands of accounts."""
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


def _intend(
    inputs: DecisionInputs, case: _Case, wishes: list[tuple[_Case, Decimal]]
) -> list[PlanRow]:
    """Rows for what the policy or a forced action says, before capacity; quantities that
    want exercising under the policy are queued in ``wishes`` for the capacity check."""
    available = case.position.available_quantity
    cap = case.rules.quantity_cap
    forced = case.rules.action
    rows: list[PlanRow] = []
    if forced in (Action.EXERCISE, Action.DO_NOT_EXERCISE):
        quantity = min(available, cap) if cap is not None else available
        want = forced is Action.EXERCISE
        why = f"a rule forces {forced.value} on {quantity}"
        rows.append(_final(inputs, case, want=want, quantity=quantity, reasons=[why]))
        remainder = available - quantity
        if remainder <= 0:
            return rows
        available = remainder
    elif cap is not None and cap < available:
        case.reasons.append(f"a rule caps the quantity at {cap} of {available} available")
        available = cap

    policy = case.rules.policy
    failures = _threshold_failures(case, policy, available)
    if failures:
        rows.append(_final(inputs, case, want=False, quantity=available, reasons=failures))
    else:
        wishes.append((case, available))
    return rows


def _threshold_failures(case: _Case, policy: Policy, quantity: Decimal) -> list[str]:
    if case.itm <= 0:
        return ["nothing to gain by exercising"]
    failures = []
    if case.itm < policy.min_itm:
        failures.append(f"not worth exercising: {case.itm} < min_itm {policy.min_itm}")
    floor = case.terms.strike * policy.min_itm_pct / _HUNDRED
    if policy.min_itm_pct > 0 and case.itm < floor:
        failures.append(
            f"not worth exercising: {case.itm} < {policy.min_itm_pct}% of the strike ({floor})"
        )
    net = (case.itm * case.terms.multiplier - policy.fee_per_contract) * quantity
    if net < policy.min_net_value:
        failures.append(
            f"not worth exercising: net value {net} after fees < min_net_value "
            f"{policy.min_net_value}"
        )
    return failures


def _allocate(
    inputs: DecisionInputs, account: AccountBook, wishes: list[tuple[_Case, Decimal]]
) -> list[PlanRow]:
    """Give buying power to calls and shares to puts, most valuable per contract first;
    what does not fit is not exercised (a second row)."""
    buying_power = account.buying_power
    shares = {
        p.instrument_id: p.available_quantity
        for p in account.positions
        if not p.is_option and not p.is_short
    }
    rows: list[PlanRow] = []
    ordered = sorted(
        wishes, key=lambda w: (-w[0].itm * w[0].terms.multiplier, w[0].position.symbol)
    )
    for case, quantity in ordered:
        policy = case.rules.policy
        terms = case.terms
        if terms.right is Right.CALL and policy.require_buying_power:
            per_contract = terms.strike * terms.multiplier
            fits = _whole(buying_power / per_contract) if per_contract > 0 else quantity
            fits = max(_ZERO, min(quantity, fits))
            buying_power -= fits * per_contract
            short_of = f"buying power {account.buying_power} covers {fits} of {quantity}"
        elif terms.right is Right.PUT and not policy.allow_short_stock:
            held = shares.get(terms.underlying_id or "", _ZERO)
            fits = max(_ZERO, min(quantity, _whole(held / terms.multiplier)))
            shares[terms.underlying_id or ""] = held - fits * terms.multiplier
            short_of = f"{held} shares of {case.underlying} deliver {fits} of {quantity}"
        else:
            fits, short_of = quantity, ""
        if fits > 0:
            rows.append(_final(inputs, case, want=True, quantity=fits, reasons=[]))
        if fits < quantity:
            why = f"the account cannot carry all of it: {short_of}"
            rows.append(_final(inputs, case, want=False, quantity=quantity - fits, reasons=[why]))
    return rows


def _final(
    inputs: DecisionInputs, case: _Case, *, want: bool, quantity: Decimal, reasons: list[str]
) -> PlanRow:
    """Map intent and OCC's default to the instruction, and build the row."""
    policy = case.rules.policy
    base = _RowBase(inputs, case.position, case.terms, case.underlying, case.price, case.rules)
    extra = list(reasons)
    if want and case.occ_would:
        action = PlanAction.EXERCISE if policy.explicit_exercise else PlanAction.NONE
        extra.append("exercise: OCC exercises it by default")
    elif want:
        if policy.contrary_exercise:
            action = PlanAction.CONTRARY_EXERCISE
            extra.append("exercise although OCC would not: contrary exercise advice")
        else:
            action = PlanAction.MANUAL_REVIEW
            extra.append("worth exercising but contrary_exercise is off: a human decides")
    elif case.occ_would:
        action = PlanAction.DO_NOT_EXERCISE
        extra.append("do not exercise although OCC would")
    else:
        action = PlanAction.NONE
        extra.append("not exercised: it lapses")
    return base.row(action, case.reasons + extra, quantity=quantity, want=want, market=case.market)


@dataclass(frozen=True, slots=True)
class _RowBase:
    inputs: DecisionInputs
    position: Position
    terms: _Terms
    underlying: str
    price: UnderlyingPrice | None
    rules: Resolved

    def row(
        self,
        action: PlanAction,
        reasons: Iterable[str],
        *,
        quantity: Decimal | None = None,
        want: bool | None = None,
        market: _Market | None = None,
    ) -> PlanRow:
        position, terms = self.position, self.terms
        qty = position.available_quantity if quantity is None else quantity
        if position.is_short:
            qty = _ZERO
        fired = [f"rule {source} applies" for source in self.rules.fired if source]
        return _build_row(
            self.inputs,
            position,
            action=action,
            quantity=qty,
            reasons=(*reasons, *fired),
            terms=terms,
            underlying=self.underlying,
            price=self.price,
            want=want,
            market=market,
        )


def _build_row(
    inputs: DecisionInputs,
    position: Position,
    *,
    action: PlanAction,
    quantity: Decimal,
    reasons: Sequence[str],
    terms: _Terms | None = None,
    underlying: str | None = None,
    price: UnderlyingPrice | None = None,
    want: bool | None = None,
    market: _Market | None = None,
) -> PlanRow:
    occ_would = market.occ_would if market is not None else None
    reference = market.reference if market is not None else _reference(price)
    key = _key(inputs, position.account_id, position.instrument_id, action, quantity)
    return PlanRow(
        account_id=position.account_id,
        instrument_id=position.instrument_id,
        symbol=position.symbol,
        root=terms.root if terms else None,
        underlying_symbol=underlying,
        expiry=terms.expiry if terms else None,
        right=terms.right if terms else None,
        strike=terms.strike if terms else None,
        multiplier=terms.multiplier if terms else None,
        position_quantity=position.quantity,
        available_quantity=position.available_quantity,
        quantity=quantity,
        occ_reference_price=reference,
        decision_price=market.decision if market is not None else None,
        price_source=_SOURCE_NAMES[price.source] if price is not None else None,
        itm_amount=market.itm if market is not None else None,
        occ_would_exercise=occ_would,
        want_exercise=want,
        action=action,
        expected_outcome=_outcome(action, occ_would),
        instruction_id=key,
        reasons=tuple(reasons),
    )


def _reference(price: UnderlyingPrice | None) -> Decimal | None:
    return price.reference if price is not None else None


def _outcome(action: PlanAction, occ_would: bool | None) -> Outcome:
    if action in (PlanAction.EXERCISE, PlanAction.CONTRARY_EXERCISE):
        return Outcome.EXERCISED
    if action is PlanAction.DO_NOT_EXERCISE:
        return Outcome.LAPSES
    if action is PlanAction.NONE and occ_would is not None:
        return Outcome.EXERCISED if occ_would else Outcome.LAPSES
    return Outcome.UNKNOWN


def _bare_row(inputs: DecisionInputs, position: Position, problem: str) -> PlanRow | None:
    """A row for a position whose contract cannot be worked out at all. Shorts are never
    instructed, so they need no human for this."""
    if position.is_short:
        return None
    return _build_row(
        inputs,
        position,
        action=PlanAction.MANUAL_REVIEW,
        quantity=position.available_quantity,
        reasons=[f"{problem}; cannot tell whether it expires today"],
    )


@lru_cache(maxsize=65536)
def _terms(
    symbol: str, underlying_id: str | None, contract: Contract | None
) -> tuple[_Terms | None, str | None]:
    """Contract data is authoritative; the OSI symbol is the fallback and the cross-check.
    Returns the terms, and a problem that sends the row to a human (terms may still be
    known, so the row can say what it is). Cached: contracts recur across accounts."""
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


def _pin_warning(
    position: Position,
    terms: _Terms,
    price: UnderlyingPrice | None,
    policy: Policy,
    warnings: list[str],
) -> None:
    level = None
    if price is not None:
        level = price.latest if price.latest is not None else price.reference
    if level is None:
        warnings.append(
            f"account {position.account_id}: short {position.symbol}: no price, pin risk unknown"
        )
        return
    distance = abs(level - terms.strike)
    if distance <= policy.pin_band:
        warnings.append(
            f"account {position.account_id}: pin risk on short {position.symbol}: "
            f"underlying {level} is {distance} from the strike {terms.strike} "
            f"(pin_band {policy.pin_band}); assignment is uncertain"
        )


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
