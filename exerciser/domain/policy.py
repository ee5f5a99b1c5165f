"""Exercise policy: the knobs of the decision, and the rules that set them per position.

A ``RuleSet`` is ``defaults`` plus ordered ``rules``. For a position, every matching rule
applies in order and later ones win: ``set`` overrides policy fields, ``action`` forces an
intent, ``quantity`` caps the quantity. Nothing here reads files; the YAML loader lives
in ``exerciser.adapters.rules_yaml``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Any

from exerciser.domain.book import Right


class Action(StrEnum):
    """A rule's forced intent. ``auto`` lets the policy decide."""

    AUTO = "auto"
    EXERCISE = "exercise"
    DO_NOT_EXERCISE = "do_not_exercise"
    LEAVE = "leave"
    MANUAL_REVIEW = "manual_review"


class DecisionPrice(StrEnum):
    REFERENCE = "reference"  # the regular-session close OCC uses
    LATEST = "latest"  # the latest trade, after-hours included


class NonStandard(StrEnum):
    MANUAL_REVIEW = "manual_review"
    DECIDE = "decide"


class CashSettled(StrEnum):
    NONE = "none"
    MANUAL_REVIEW = "manual_review"


class ExByEx(StrEnum):
    NORMAL = "normal"
    WAIVED = "waived"  # OCC waived exercise-by-exception (e.g. a halted underlying)


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """Every knob, with the built-in defaults. Money is per share unless named otherwise;
    ``min_itm_pct`` is a percentage of the strike (``"0.5"`` means 0.5 %)."""

    ex_by_ex_threshold: Decimal = Decimal("0.01")
    min_itm: Decimal = Decimal("0.01")
    min_itm_pct: Decimal = Decimal(0)
    fee_per_contract: Decimal = Decimal(0)
    min_net_value: Decimal = Decimal(0)
    decision_price: DecisionPrice = DecisionPrice.REFERENCE
    explicit_exercise: bool = False
    contrary_exercise: bool = True
    require_buying_power: bool = True
    allow_short_stock: bool = False
    pin_band: Decimal = Decimal("0.50")
    non_standard: NonStandard = NonStandard.MANUAL_REVIEW
    cash_settled: CashSettled = CashSettled.NONE
    ex_by_ex: ExByEx = ExByEx.NORMAL

    def with_overrides(self, overrides: Mapping[str, Any]) -> Policy:
        """A copy with ``overrides`` applied; enum names and decimal strings are
        converted to the field's type (the loader has already validated them)."""
        if not overrides:
            return self
        return replace(self, **{name: _coerce(name, v) for name, v in overrides.items()})


POLICY_FIELDS: Mapping[str, type] = {
    f.name: type(getattr(Policy(), f.name)) for f in fields(Policy)
}


def _coerce(name: str, value: Any) -> Any:
    kind = POLICY_FIELDS[name]
    if isinstance(value, kind):
        return value
    if issubclass(kind, StrEnum):
        return kind(value)
    if kind is Decimal:
        return Decimal(str(value))
    return value


def normalize_symbol(symbol: str) -> str:
    """OSI symbols compare with spaces ignored and case folded."""
    return "".join(symbol.split()).upper()


@lru_cache(maxsize=65536)
def _normalized(symbol: str) -> str:
    return normalize_symbol(symbol)


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    """What rules can match on, for one position."""

    account_id: int
    root: str
    underlying: str
    symbol: str
    instrument_id: str
    right: Right


@dataclass(frozen=True, slots=True, kw_only=True)
class Match:
    """All given keys must match; an empty match matches everything."""

    account: int | None = None
    root: str | None = None
    underlying: str | None = None
    symbol: str | None = None
    instrument_id: str | None = None
    right: Right | None = None

    def matches(self, subject: Subject) -> bool:
        return (
            (self.account is None or self.account == subject.account_id)
            and (self.root is None or self.root.upper() == subject.root.upper())
            and (self.underlying is None or self.underlying.upper() == subject.underlying.upper())
            and (self.symbol is None or _normalized(self.symbol) == _normalized(subject.symbol))
            and (self.instrument_id is None or self.instrument_id == subject.instrument_id)
            and (self.right is None or self.right is subject.right)
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    match: Match = field(default_factory=Match)
    set: Mapping[str, Any] = field(default_factory=dict)
    action: Action | None = None
    quantity: Decimal | None = None
    source: str = ""  # where it was written, e.g. "rules.yaml:12", for the reasons


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolved:
    """The outcome of the rules for one position."""

    policy: Policy
    action: Action = Action.AUTO
    quantity_cap: Decimal | None = None
    fired: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class RuleSet:
    defaults: Policy = field(default_factory=Policy)
    rules: tuple[Rule, ...] = ()
    # The outcome depends only on which rules match: folded once per combination.
    _folded: dict[tuple[int, ...], Resolved] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def resolve(self, subject: Subject) -> Resolved:
        return self.folded(self.matching(subject, range(len(self.rules))))

    def matching(self, subject: Subject, candidates: Iterable[int]) -> tuple[int, ...]:
        """The indices, among ``candidates``, of the rules that match ``subject``."""
        return tuple(i for i in candidates if self.rules[i].match.matches(subject))

    def folded(self, matching: tuple[int, ...]) -> Resolved:
        """What the rules at ``matching`` (ascending indices) resolve to, applied in order.
        The outcome depends only on which rules match: folded once per combination, so
        equal combinations give the same ``Resolved`` object."""
        resolved = self._folded.get(matching)
        if resolved is None:
            resolved = self._folded[matching] = self._fold(matching)
        return resolved

    def _fold(self, matching: tuple[int, ...]) -> Resolved:
        policy, action, cap, fired = self.defaults, Action.AUTO, None, []
        for index in matching:
            rule = self.rules[index]
            policy = policy.with_overrides(rule.set)
            if rule.action is not None:
                action = rule.action
            if rule.quantity is not None:
                cap = rule.quantity
            fired.append(rule.source)
        return Resolved(policy=policy, action=action, quantity_cap=cap, fired=tuple(fired))
