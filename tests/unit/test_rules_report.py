"""describe_rules: the effective defaults with changes marked, then one sentence per rule."""

from __future__ import annotations

from decimal import Decimal

import pytest

from exerciser.adapters.rules_yaml import parse_rules
from exerciser.domain.book import Right
from exerciser.domain.policy import (
    POLICY_FIELDS,
    Action,
    CashSettled,
    Match,
    Policy,
    Rule,
    RuleSet,
)
from exerciser.reports.rules import describe_rules


def rule_lines(rules: RuleSet) -> list[str]:
    text = describe_rules(rules)
    return [line.strip() for line in text.split("\n\n", 1)[1].splitlines()[1:]]


def test_built_in_defaults_are_listed_unmarked_and_no_rules_is_said() -> None:
    text = describe_rules(RuleSet())
    lines = text.splitlines()
    assert lines[0] == "Defaults for every position (* = differs from the built-in default):"
    for name in POLICY_FIELDS:
        assert any(line.split()[:1] == [name] for line in lines), name
    assert "*" not in "\n".join(lines[1:])
    assert lines[-1] == "No rules: the defaults apply to every position."


def test_changed_defaults_are_marked_with_the_built_in_value() -> None:
    rules = RuleSet(
        defaults=Policy(
            min_itm=Decimal("0.05"), explicit_exercise=True, cash_settled=CashSettled.MANUAL_REVIEW
        )
    )
    marked = [line.split() for line in describe_rules(rules).splitlines() if "*" in line[:4]]
    assert marked == [
        ["*", "min_itm", "0.05", "(built-in:", "0.01)"],
        ["*", "explicit_exercise", "true", "(built-in:", "false)"],
        ["*", "cash_settled", "manual_review", "(built-in:", "none)"],
    ]


def test_an_equal_decimal_written_differently_is_not_a_change() -> None:
    text = describe_rules(RuleSet(defaults=Policy(pin_band=Decimal("0.5"))))
    assert "*" not in text.split("\n", 1)[1]


def test_the_issue_example_line() -> None:
    rule = Rule(
        match=Match(account=19816, symbol="AAPL  261218C00190000"),
        action=Action.DO_NOT_EXERCISE,
        quantity=Decimal(5),
        source="rules.yaml:14",
    )
    assert rule_lines(RuleSet(rules=(rule,))) == [
        "rules.yaml:14 — for account 19816, symbol AAPL 261218C00190000:"
        " force do_not_exercise, at most 5 contracts"
    ]


@pytest.mark.parametrize(
    ("rule", "sentence"),
    [
        pytest.param(
            Rule(match=Match(), action=Action.LEAVE, source="r.yaml:3"),
            "r.yaml:3 — for every position: force leave",
            id="empty-match-is-every-position",
        ),
        pytest.param(
            Rule(match=Match(root="TSLA", right=Right.CALL), set={"min_itm": Decimal("0.50")}),
            "rule 1 — for root TSLA, calls: set min_itm to 0.50",
            id="no-source-numbers-the-rule-and-decimals-keep-their-digits",
        ),
        pytest.param(
            Rule(
                match=Match(underlying="XYZ", right=Right.PUT),
                set={"fee_per_contract": Decimal("0.65"), "allow_short_stock": True},
                action=Action.AUTO,
            ),
            "rule 1 — for underlying XYZ, puts: set fee_per_contract to 0.65 and"
            " allow_short_stock to true, let the policy decide (auto)",
            id="auto-and-two-settings",
        ),
        pytest.param(
            Rule(
                match=Match(instrument_id="i-9"),
                set={"min_itm": Decimal(0), "pin_band": Decimal(1), "explicit_exercise": False},
                quantity=Decimal(1),
            ),
            "rule 1 — for instrument i-9: set min_itm to 0, pin_band to 1 and"
            " explicit_exercise to false, at most 1 contract",
            id="three-settings-and-a-single-contract",
        ),
        pytest.param(
            Rule(match=Match(account=7)),
            "rule 1 — for account 7: nothing",
            id="a-hand-built-empty-rule",
        ),
    ],
)
def test_each_rule_is_one_sentence(rule: Rule, sentence: str) -> None:
    assert rule_lines(RuleSet(rules=(rule,))) == [sentence]


def test_rules_are_listed_in_order_with_a_count() -> None:
    rules = RuleSet(
        rules=(
            Rule(match=Match(account=1), action=Action.EXERCISE, source="a.yaml:5"),
            Rule(match=Match(account=2), action=Action.LEAVE, source="a.yaml:7"),
        )
    )
    text = describe_rules(rules)
    assert "2 rules, in order (every matching rule applies; later ones win):" in text
    assert [line.split(" — ")[0] for line in rule_lines(rules)] == ["a.yaml:5", "a.yaml:7"]
    one = describe_rules(RuleSet(rules=rules.rules[:1]))
    assert "1 rule, in order" in one


def test_describes_a_loaded_file() -> None:
    loaded = parse_rules(
        "version: 1\n"
        "defaults: {fee_per_contract: '0.65'}\n"
        "rules:\n"
        "  - match: {root: SPX}\n"
        "    action: manual_review\n",
        source="desk.yaml",
    )
    text = describe_rules(loaded)
    assert "  * fee_per_contract      0.65  (built-in: 0)" in text
    assert text.endswith("  desk.yaml:4 — for root SPX: force manual_review")
