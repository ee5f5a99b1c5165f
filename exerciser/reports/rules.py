"""What a rule set would do, in plain sentences, for ``exerciser rules check FILE``.

A pure function of the ``RuleSet``: the effective defaults (those that differ from the
built-in ones marked ``*``), then one line per rule in file order::

    rules.yaml:14 — for account 19816, symbol AAPL 261218C00190000: force do_not_exercise,
    at most 5 contracts
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum

from exerciser.domain.book import Right
from exerciser.domain.policy import POLICY_FIELDS, Action, Match, Policy, Rule, RuleSet


def describe_rules(rules: RuleSet) -> str:
    lines = ["Defaults for every position (* = differs from the built-in default):"]
    builtin = Policy()
    width = max(len(name) for name in POLICY_FIELDS)
    for name in POLICY_FIELDS:
        value, base = getattr(rules.defaults, name), getattr(builtin, name)
        if value != base:
            lines.append(f"  * {name:<{width}}  {_value(value)}  (built-in: {_value(base)})")
        else:
            lines.append(f"    {name:<{width}}  {_value(value)}")
    lines.append("")
    if not rules.rules:
        lines.append("No rules: the defaults apply to every position.")
    else:
        count = len(rules.rules)
        lines.append(
            f"{count} rule{'' if count == 1 else 's'}, in order "
            "(every matching rule applies; later ones win):"
        )
        lines.extend(
            f"  {_describe_rule(rule, number)}" for number, rule in enumerate(rules.rules, 1)
        )
    return "\n".join(lines)


def _describe_rule(rule: Rule, number: int) -> str:
    return f"{rule.source or f'rule {number}'} — for {_subject(rule.match)}: {_effects(rule)}"


def _subject(match: Match) -> str:
    parts = []
    if match.account is not None:
        parts.append(f"account {match.account}")
    if match.root is not None:
        parts.append(f"root {match.root}")
    if match.underlying is not None:
        parts.append(f"underlying {match.underlying}")
    if match.symbol is not None:
        parts.append(f"symbol {' '.join(match.symbol.split())}")
    if match.instrument_id is not None:
        parts.append(f"instrument {match.instrument_id}")
    if match.right is not None:
        parts.append("calls" if match.right is Right.CALL else "puts")
    return ", ".join(parts) or "every position"


def _effects(rule: Rule) -> str:
    parts = []
    if rule.set:
        parts.append("set " + _and([f"{name} to {_value(v)}" for name, v in rule.set.items()]))
    if rule.action is Action.AUTO:
        parts.append("let the policy decide (auto)")
    elif rule.action is not None:
        parts.append(f"force {rule.action.value}")
    if rule.quantity is not None:
        plural = "" if rule.quantity == 1 else "s"
        parts.append(f"at most {_value(rule.quantity)} contract{plural}")
    return ", ".join(parts) or "nothing"


def _and(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"


def _value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)  # a Decimal prints as written: "0.50" stays "0.50"
