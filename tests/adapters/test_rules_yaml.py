"""The rules YAML loader: valid files load exactly, every problem in a bad file is reported
as ``file:line:col: path: value why``, and no input crashes it, hangs it or expands it."""

from __future__ import annotations

import textwrap
import time
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exerciser.adapters.rules_yaml import MAX_CHARS, MAX_DEPTH, load_rules, parse_rules
from exerciser.domain.book import Right
from exerciser.domain.policy import (
    POLICY_FIELDS,
    Action,
    CashSettled,
    DecisionPrice,
    ExByEx,
    Match,
    NonStandard,
    Policy,
    Rule,
    RuleSet,
    Subject,
)
from exerciser.errors import ConfigError, RulesError

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def parse(text: str) -> RuleSet:
    return parse_rules(textwrap.dedent(text), source="rules.yaml")


def problems_of(text: str) -> tuple[str, ...]:
    with pytest.raises(RulesError) as caught:
        parse(text)
    return caught.value.problems


def rule(line: int, **kw: Any) -> Rule:
    return Rule(source=f"rules.yaml:{line}", **kw)


# --- valid files ------------------------------------------------------------------------

VALID = [
    pytest.param("version: 1\n", RuleSet(), id="version-only-is-the-built-in-defaults"),
    pytest.param(
        'version: "1"\ndefaults:\nrules:\n',
        RuleSet(),
        id="quoted-version-and-empty-sections",
    ),
    pytest.param(
        """\
        version: 1
        defaults:
          min_itm: 0.05
          min_itm_pct: 0.5
          fee_per_contract: 1
          min_net_value: "25.00"
          pin_band: "0.50"
          ex_by_ex_threshold: -0
        """,
        RuleSet(
            defaults=Policy(
                min_itm=Decimal("0.05"),
                min_itm_pct=Decimal("0.5"),
                fee_per_contract=Decimal(1),
                min_net_value=Decimal("25.00"),
                pin_band=Decimal("0.50"),
                ex_by_ex_threshold=Decimal(0),
            )
        ),
        id="decimals-read-from-their-text-never-through-float",
    ),
    pytest.param(
        """\
        version: 1
        defaults:
          decision_price: LATEST
          non_standard: Decide
          cash_settled: manual_review
          ex_by_ex: waived
          explicit_exercise: True
          contrary_exercise: false
          require_buying_power: FALSE
          allow_short_stock: true
        """,
        RuleSet(
            defaults=Policy(
                decision_price=DecisionPrice.LATEST,
                non_standard=NonStandard.DECIDE,
                cash_settled=CashSettled.MANUAL_REVIEW,
                ex_by_ex=ExByEx.WAIVED,
                explicit_exercise=True,
                contrary_exercise=False,
                require_buying_power=False,
                allow_short_stock=True,
            )
        ),
        id="enums-any-case-and-true-false-booleans",
    ),
    pytest.param(
        """\
        version: 1
        rules:               # comments and blank lines do not shift the source lines

          - match: {account: 19816}
            set: {min_itm: "0.05"}
          - match: {root: TSLA, right: C}
            set: {fee_per_contract: "0.65", min_net_value: "25"}
          - match: {account: 19816, symbol: "AAPL  261218C00190000"}
            action: do_not_exercise
            quantity: 5
        """,
        RuleSet(
            rules=(
                rule(4, match=Match(account=19816), set={"min_itm": Decimal("0.05")}),
                rule(
                    6,
                    match=Match(root="TSLA", right=Right.CALL),
                    set={"fee_per_contract": Decimal("0.65"), "min_net_value": Decimal(25)},
                ),
                rule(
                    8,
                    match=Match(account=19816, symbol="AAPL  261218C00190000"),
                    action=Action.DO_NOT_EXERCISE,
                    quantity=Decimal(5),
                ),
            )
        ),
        id="the-issue-example-with-rule-sources",
    ),
    pytest.param(
        """\
        version: 1
        rules:
          - match: {}
            action: auto
          - match: {account: "19816", instrument_id: 12345, underlying: XYZ}
            quantity: "10"
          - match: {root: ON, symbol: aapl261218p00190000, right: put}
            action: manual_review
        """,
        RuleSet(
            rules=(
                rule(3, match=Match(), action=Action.AUTO),
                rule(
                    5,
                    match=Match(account=19816, instrument_id="12345", underlying="XYZ"),
                    quantity=Decimal(10),
                ),
                rule(
                    7,
                    match=Match(root="ON", symbol="aapl261218p00190000", right=Right.PUT),
                    action=Action.MANUAL_REVIEW,
                ),
            )
        ),
        id="quoted-numbers-ticker-ON-is-not-a-boolean-and-put-spelled-out",
    ),
    pytest.param(
        "\ufeffversion: 1\r\nrules:\r\n  - match: {right: c}\r\n    action: exercise\r\n",
        RuleSet(rules=(rule(3, match=Match(right=Right.CALL), action=Action.EXERCISE),)),
        id="byte-order-mark-and-crlf",
    ),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_valid_files_load_to_the_expected_rule_set(text: str, expected: RuleSet) -> None:
    assert parse(text) == expected


def test_a_yaml_float_keeps_its_exact_digits() -> None:
    policy = parse("version: 1\ndefaults: {min_itm: 0.10, pin_band: 0.1}\n").defaults
    assert str(policy.min_itm) == "0.10"
    assert policy.pin_band == Decimal("0.1")
    assert isinstance(policy.pin_band, Decimal)


@pytest.mark.parametrize(
    ("written", "right"),
    [
        *[(written, Right.CALL) for written in ("C", "c", "CALL", "Call")],
        *[(written, Right.PUT) for written in ("P", "p", "PUT", "put")],
    ],
)
def test_right_accepts_letters_and_words_in_any_case(written: str, right: Right) -> None:
    loaded = parse(f"version: 1\nrules:\n  - {{match: {{right: {written}}}, action: leave}}\n")
    assert loaded.rules[0].match.right is right


def test_every_policy_field_can_be_set_in_defaults_and_in_a_rule() -> None:
    """Pins that the loader has a reader for the type of every Policy field."""
    changed = {name: _not_the_default(name) for name in POLICY_FIELDS}
    in_defaults = "".join(f"  {name}: {value}\n" for name, value in changed.items())
    in_rule = "".join(f"      {name}: {value}\n" for name, value in changed.items())
    loaded = parse_rules(
        f"version: 1\ndefaults:\n{in_defaults}rules:\n  - match: {{}}\n    set:\n{in_rule}",
        source="rules.yaml",
    )
    for name in POLICY_FIELDS:
        assert getattr(loaded.defaults, name) != getattr(Policy(), name), name
    assert loaded.rules[0].set == {name: getattr(loaded.defaults, name) for name in POLICY_FIELDS}


def _not_the_default(name: str) -> str:
    kind, default = POLICY_FIELDS[name], getattr(Policy(), name)
    if kind is bool:
        return "false" if default else "true"
    if kind is Decimal:
        return '"7.25"'
    assert issubclass(kind, StrEnum), f"no test value for {name}: {kind}"
    return next(member.value for member in kind if member != default)


def test_loaded_rules_resolve_in_order_with_later_rules_winning() -> None:
    loaded = parse(
        """\
        version: 1
        defaults: {min_itm: "0.02"}
        rules:
          - match: {account: 19816}
            set: {min_itm: "0.05", fee_per_contract: "0.65"}
          - match: {root: AAPL}
            set: {min_itm: "0.10"}
            action: exercise
          - match: {root: TSLA}
            action: leave
        """
    )
    subject = Subject(
        account_id=19816,
        root="AAPL",
        underlying="AAPL",
        symbol="AAPL  261218C00190000",
        instrument_id="i-1",
        right=Right.CALL,
    )
    resolved = loaded.resolve(subject)
    assert resolved.policy.min_itm == Decimal("0.10")
    assert resolved.policy.fee_per_contract == Decimal("0.65")
    assert resolved.action is Action.EXERCISE
    assert resolved.fired == ("rules.yaml:4", "rules.yaml:6")


# --- bad files: every problem, one line each, with file:line:col --------------------------

V = "version: 1\n"

BAD = [
    pytest.param(
        V + "rules:\n  - match: {account: 19816}\n    set:\n      min_itm: 0.0x\n",
        ["rules.yaml:5:16: rules[0].set.min_itm: '0.0x' is not a decimal"],
        id="not-a-decimal",
    ),
    pytest.param(
        V + 'defaults:\n  min_itm: .nan\n  pin_band: Infinity\n  fee_per_contract: "NaN"\n',
        [
            "rules.yaml:3:12: defaults.min_itm: '.nan' is not a finite decimal",
            "rules.yaml:4:13: defaults.pin_band: 'Infinity' is not a finite decimal",
            "rules.yaml:5:21: defaults.fee_per_contract: 'NaN' is not a finite decimal",
        ],
        id="nan-and-infinity",
    ),
    pytest.param(
        V + "defaults:\n  fee_per_contract: -0.65\n  min_net_value: 1e3\n  min_itm: 1_000\n",
        [
            "rules.yaml:3:21: defaults.fee_per_contract: '-0.65' must not be negative",
            "rules.yaml:4:18: defaults.min_net_value: '1e3' is not a decimal",
            "rules.yaml:5:12: defaults.min_itm: '1_000' is not a decimal",
        ],
        id="negative-exponent-and-underscore-decimals",
    ),
    pytest.param(
        V + "defaults:\n  min_itm: \u0663\nrules:\n  - {match: {account: \u0663}, quantity: 1}\n",
        [
            "rules.yaml:3:12: defaults.min_itm: '\u0663' is not a decimal",
            "rules.yaml:5:23: rules[0].match.account: '\u0663' is not a positive whole number",
        ],
        id="only-ascii-digits",
    ),
    pytest.param(
        V + "defaults:\n"
        '  contrary_exercise: "yes"\n'
        "  explicit_exercise: yes\n"
        '  allow_short_stock: "true"\n'
        "  require_buying_power: 1\n",
        [
            "rules.yaml:3:22: defaults.contrary_exercise: 'yes' is not a boolean"
            " (write true or false)",
            "rules.yaml:4:22: defaults.explicit_exercise: 'yes' is not a boolean"
            " (write true or false)",
            "rules.yaml:5:22: defaults.allow_short_stock: 'true' is a string, not a boolean"
            " (drop the quotes)",
            "rules.yaml:6:25: defaults.require_buying_power: '1' is not a boolean"
            " (write true or false)",
        ],
        id="only-real-yaml-booleans",
    ),
    pytest.param(
        V + "defaults:\n  decision_price: close\nrules:\n  - {match: {}, action: skip}\n",
        [
            "rules.yaml:3:19: defaults.decision_price: 'close' is not one of reference | latest",
            "rules.yaml:5:25: rules[0].action: 'skip' is not one of"
            " auto | exercise | do_not_exercise | leave | manual_review",
        ],
        id="unknown-enum-values-list-the-allowed-ones",
    ),
    pytest.param(
        V + "rules:\n  - match: {right: X}\n    action: leave\n",
        ["rules.yaml:3:20: rules[0].match.right: 'X' is not a right (write C or P)"],
        id="bad-right",
    ),
    pytest.param(
        V + "rules:\n"
        "  - {match: {}, quantity: 0}\n"
        "  - {match: {}, quantity: -3}\n"
        "  - {match: {}, quantity: 2.5}\n"
        "  - {match: {}, quantity: true}\n"
        "  - {match: {}, quantity: 1234567890123456789}\n",
        [
            "rules.yaml:3:27: rules[0].quantity: '0' is not a positive whole number",
            "rules.yaml:4:27: rules[1].quantity: '-3' is not a positive whole number",
            "rules.yaml:5:27: rules[2].quantity: '2.5' is not a positive whole number",
            "rules.yaml:6:27: rules[3].quantity: 'true' is not a positive whole number",
            "rules.yaml:7:27: rules[4].quantity: '1234567890123456789' is too large",
        ],
        id="quantity-not-a-positive-whole-number",
    ),
    pytest.param(
        V + "rules:\n  - match: {account: abc}\n    action: leave\n"
        '  - match: {account: ""}\n    action: leave\n',
        [
            "rules.yaml:3:22: rules[0].match.account: 'abc' is not a positive whole number",
            "rules.yaml:5:22: rules[1].match.account: '' is not a positive whole number",
        ],
        id="bad-account",
    ),
    pytest.param(
        V + 'version: 1\ndefaults:\n  min_itm: "0.01"\n  min_itm: "0.02"\n',
        [
            "rules.yaml:2:1: version: duplicate key (first given on line 1)",
            "rules.yaml:5:3: defaults.min_itm: duplicate key (first given on line 4)",
        ],
        id="duplicate-keys",
    ),
    pytest.param(
        V + "defautls: {}\nrules:\n  - match: {acount: 1}\n    sett: {}\n    frobnicate: 1\n",
        [
            "rules.yaml:2:1: defautls: unknown key (did you mean 'defaults'?)",
            "rules.yaml:4:13: rules[0].match.acount: unknown key (did you mean 'account'?)",
            "rules.yaml:5:5: rules[0].sett: unknown key (did you mean 'set'?)",
            "rules.yaml:6:5: rules[0].frobnicate: unknown key"
            " (expected one of: match, set, action, quantity)",
        ],
        id="unknown-keys-with-suggestions",
    ),
    pytest.param("", ["rules.yaml:1:1: the file is empty"], id="empty-file"),
    pytest.param("# nothing\n\n", ["rules.yaml:1:1: the file is empty"], id="only-comments"),
    pytest.param(
        "- version: 1\n",
        ["rules.yaml:1:1: the top level must be a mapping, got a list"],
        id="top-level-list",
    ),
    pytest.param(
        "hello\n",
        ["rules.yaml:1:1: the top level must be a mapping, got 'hello'"],
        id="top-level-scalar",
    ),
    pytest.param(
        "rules: []\n",
        ["rules.yaml:1:1: version: missing (the file must start with 'version: 1')"],
        id="missing-version",
    ),
    pytest.param(
        "version: 2\n",
        ["rules.yaml:1:10: version: '2' is not supported (only 1)"],
        id="unsupported-version",
    ),
    pytest.param(
        V + "rules:\n  - match: {account: 1}\n  - match: {}\n    set: {}\n",
        [
            "rules.yaml:3:5: rules[0]: the rule does nothing (give it set, action or quantity)",
            "rules.yaml:4:5: rules[1]: the rule does nothing (give it set, action or quantity)",
        ],
        id="rules-with-nothing-to-do",
    ),
    pytest.param(
        V + "rules:\n  - action: leave\n  - match:\n    action: leave\n",
        [
            "rules.yaml:3:5: rules[0]: missing key 'match' (write match: {} to match every"
            " position)",
            "rules.yaml:4:11: rules[1].match: no value (write match: {} to match every position)",
        ],
        id="missing-or-empty-match",
    ),
    pytest.param(
        V + 'defaults: &d\n  min_itm: "0.05"\nrules:\n  - match: {}\n    set: *d\n',
        ["rules.yaml:2:11: anchors and aliases (&name, *name) are not supported"],
        id="anchors-refused",
    ),
    pytest.param(
        V + "rules:\n  - match: {account: 1\n    action: leave\n",
        [
            "rules.yaml:4:11: invalid YAML: while parsing a flow mapping (started at 3:12);"
            " expected ',' or '}', but got ':'"
        ],
        id="unclosed-flow-mapping",
    ),
    pytest.param(
        V + 'defaults:\n  min_itm: "0.05\n',
        [
            "rules.yaml:4:1: invalid YAML: while scanning a quoted scalar (started at 3:12);"
            " found unexpected end of stream"
        ],
        id="unclosed-quote",
    ),
    pytest.param(
        V + "defaults:\n\tmin_itm: 1\n",
        ["rules.yaml:3:1: invalid YAML: while scanning for the next token; found character"],
        id="tab-indentation",
    ),
    pytest.param(
        V + "---\nversion: 1\n",
        ["rules.yaml:2:1: invalid YAML: expected a single document in the stream"],
        id="two-documents",
    ),
    pytest.param(
        V + 'defaults:\n  min_itm: "0\x00"\n',
        ["rules.yaml:3:14: invalid YAML: character #x0000 is not allowed"],
        id="control-character",
    ),
    pytest.param(
        V + 'defaults:\n  ? [min_itm]\n  : "0.05"\n',
        ["rules.yaml:3:5: defaults: a key must be a plain word, got a list"],
        id="non-scalar-key",
    ),
    pytest.param(
        V + "rules:\n  - leave everything\n",
        ["rules.yaml:3:5: rules[0]: expected a mapping, got 'leave everything'"],
        id="rule-not-a-mapping",
    ),
    pytest.param(
        V + "rules: {match: {}}\n",
        ["rules.yaml:2:8: rules: expected a list of rules, got a mapping"],
        id="rules-not-a-list",
    ),
    pytest.param(
        V + "defaults: [min_itm]\nrules:\n  - match: {}\n    set: [min_itm]\n",
        [
            "rules.yaml:2:11: defaults: expected a mapping, got a list",
            "rules.yaml:5:10: rules[0].set: expected a mapping, got a list",
        ],
        id="defaults-and-set-not-mappings",
    ),
    pytest.param(
        V + "defaults:\n  min_itm:\n  non_standard: ~\n",
        [
            "rules.yaml:3:11: defaults.min_itm: no value (expected a decimal)",
            "rules.yaml:4:17: defaults.non_standard: no value"
            " (expected one of manual_review | decide)",
        ],
        id="missing-values",
    ),
    pytest.param(
        V + "rules:\n  - match: {symbol: AAPL190C}\n    action: leave\n",
        [
            "rules.yaml:3:21: rules[0].match.symbol: 'AAPL190C' is not an OSI option symbol"
            " (like 'AAPL  261218C00190000')"
        ],
        id="bad-symbol",
    ),
    pytest.param(
        V + 'rules:\n  - match: {symbol: "AAPL  261218C00190000", right: P}\n    action: leave\n',
        [
            "rules.yaml:3:53: rules[0].match.right: 'P' contradicts the symbol"
            " 'AAPL  261218C00190000' (the rule could never match)"
        ],
        id="right-contradicts-symbol",
    ),
    pytest.param(
        V + 'rules:\n  - match: {root: "", underlying: }\n    action: leave\n',
        [
            "rules.yaml:3:19: rules[0].match.root: must not be empty",
            "rules.yaml:3:34: rules[0].match.underlying: no value (expected a name)",
        ],
        id="empty-names",
    ),
    pytest.param(
        V + 'defaults: !!python/object/apply:os.system ["echo pwned"]\n',
        ["rules.yaml:2:11: defaults: expected a mapping, got a list"],
        id="python-tags-are-inert",
    ),
    pytest.param(
        "version: 3\n"
        "defaults:\n  min_itm: x\n  pin_band: -1\n"
        "rules:\n  - match: {right: Q}\n    quantity: 0\n  - match: {}\n",
        [
            "rules.yaml:1:10: version: '3' is not supported (only 1)",
            "rules.yaml:3:12: defaults.min_itm: 'x' is not a decimal",
            "rules.yaml:4:13: defaults.pin_band: '-1' must not be negative",
            "rules.yaml:6:20: rules[0].match.right: 'Q' is not a right (write C or P)",
            "rules.yaml:7:15: rules[0].quantity: '0' is not a positive whole number",
            "rules.yaml:8:5: rules[1]: the rule does nothing (give it set, action or quantity)",
        ],
        id="every-problem-collected-in-file-order",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_files_report_every_problem_with_its_position(text: str, expected: list[str]) -> None:
    """Each expected line is a prefix of the problem at the same place, in file order."""
    with pytest.raises(RulesError) as caught:
        parse_rules(text, source="rules.yaml")
    problems = caught.value.problems
    assert len(problems) == len(expected), problems
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start), problem
        assert "\n" not in problem


def test_rules_error_is_a_config_error_with_one_line_per_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_rules("version: 1\ndefaults: {min_itm: x, pin_band: y}\n", source="r.yaml")
    assert isinstance(caught.value, RulesError)
    assert str(caught.value) == "; ".join(caught.value.problems)
    assert len(caught.value.problems) == 2


def test_a_long_or_multiline_value_is_shown_on_one_clipped_line() -> None:
    problems = problems_of(f'version: 1\ndefaults:\n  min_itm: "{"x" * 500}\\n{"y" * 5}"\n')
    assert len(problems) == 1
    assert "\n" not in problems[0]
    assert len(problems[0]) < 150


# --- reading files -------------------------------------------------------------------


def test_load_rules_names_sources_by_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text("version: 1\nrules:\n  - {match: {}, action: leave}\n", encoding="utf-8")
    assert load_rules(path).rules[0].source == "desk.yaml:3"


def test_load_rules_reports_problems_by_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "desk.yaml"
    path.write_text("version: 1\ndefaults: {min_itm: x}\n", encoding="utf-8")
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert caught.value.problems == ("desk.yaml:2:21: defaults.min_itm: 'x' is not a decimal",)


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_an_unreadable_file_is_a_rules_error(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "rules.yaml"
    if kind == "directory":
        path.mkdir()
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert caught.value.problems[0].startswith(f"rules.yaml: cannot read {path}: ")


def test_a_file_that_is_not_utf8_is_a_rules_error(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b'version: 1\ndefaults: {min_itm: "\xff"}\n')
    with pytest.raises(RulesError) as caught:
        load_rules(path)
    assert caught.value.problems == ("rules.yaml:2: not UTF-8 text (byte 0xff)",)


def test_an_oversized_text_is_refused_without_parsing() -> None:
    with pytest.raises(RulesError, match="too large"):
        parse_rules("version: 1\n" + "#" * MAX_CHARS, source="rules.yaml")


def test_an_oversized_file_is_refused_without_reading_it_all(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_bytes(b"version: 1\n" + b"#" * (MAX_CHARS * 4))
    with pytest.raises(RulesError, match="too large"):
        load_rules(path)


# --- the shipped examples ------------------------------------------------------------

EXAMPLES = sorted(RULES_DIR.glob("*.yaml"))


def test_there_are_several_examples() -> None:
    assert len(EXAMPLES) >= 3, EXAMPLES


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_example_rules_file_is_valid(path: Path) -> None:
    loaded = load_rules(path)
    assert loaded.rules
    assert all(r.source.startswith(f"{path.name}:") for r in loaded.rules)


# --- hostile input: never crash, hang or expand --------------------------------------


def assert_loads_or_reports(text: str) -> None:
    outcome: RuleSet | RulesError
    try:
        outcome = parse_rules(text, source="fuzz.yaml")
    except RulesError as error:
        outcome = error
    if isinstance(outcome, RulesError):
        assert outcome.problems
        for problem in outcome.problems:
            assert problem.startswith("fuzz.yaml:"), problem
            assert "\n" not in problem, problem
    else:
        assert isinstance(outcome, RuleSet)


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.text())
def test_arbitrary_text_loads_or_raises_rules_error(text: str) -> None:
    assert_loads_or_reports(text)


FRAGMENTS = [
    "version: 1\n", "defaults:\n", "rules:\n", "  - ", "match: ", "set: ", "action: ",
    "quantity: ", "{", "}", "[", "]", ", ", ": ", "\n", "  ", "\t", "&a ", "*a", "!!str ",
    "!!python/object ", '"', "'", "#", "---\n", "...\n", "? ", "|\n", ">-\n", "~", "0.05",
    "-1", "yes", "true", "C", "min_itm", "account", "19816", ".nan", "<<: ", "%YAML 1.1\n",
]  # fmt: skip


@FUZZ
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=40).map("".join))
def test_yaml_ish_fragments_load_or_raise_rules_error(text: str) -> None:
    assert_loads_or_reports(text)


SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=20)
    | st.sampled_from(["0.05", "-1", "C", "put", "leave", "waived", "latest", "AAPL", "1"])
)
KEYS = st.sampled_from(
    [
        *("version", "defaults", "rules", "match", "set", "action", "quantity", "right"),
        *("account", "root", "symbol", "instrument_id", *POLICY_FIELDS),
    ]
) | st.text(max_size=10)
YAMLISH = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(YAMLISH)
def test_arbitrary_yaml_structures_load_or_raise_rules_error(document: object) -> None:
    assert_loads_or_reports(yaml.safe_dump(document))


RULE = st.fixed_dictionaries(
    {},
    optional={
        "match": st.dictionaries(st.sampled_from(["account", "root", "right", "symbol"]), SCALARS),
        "set": st.dictionaries(st.sampled_from(sorted(POLICY_FIELDS)), SCALARS),
        "action": st.sampled_from([m.value for m in Action]) | SCALARS,
        "quantity": SCALARS,
    },
)


@FUZZ
@given(
    st.fixed_dictionaries(
        {"version": st.just(1) | SCALARS},
        optional={
            "defaults": st.dictionaries(st.sampled_from(sorted(POLICY_FIELDS)), SCALARS),
            "rules": st.lists(RULE, max_size=5),
        },
    )
)
def test_nearly_valid_files_load_or_raise_rules_error(document: dict[str, Any]) -> None:
    """Keys from the real vocabulary so the fuzz reaches every value reader."""
    assert_loads_or_reports(yaml.safe_dump(document))


def test_a_billion_laughs_is_refused_at_once() -> None:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    ]
    started = time.monotonic()
    problems = problems_of("\n".join(lines) + "\n")
    assert time.monotonic() - started < 1.0
    assert problems == ("rules.yaml:1:4: anchors and aliases (&name, *name) are not supported",)


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "{a: " * 50_000 + "1" + "}" * 50_000,
        "- " * 5_000 + "x\n",
        "".join(f"{'  ' * i}a:\n" for i in range(500)),
    ],
    ids=["flow-lists", "flow-maps", "block-lists", "block-maps"],
)
def test_deep_nesting_is_refused_without_recursing(text: str) -> None:
    problems = problems_of(text)
    assert len(problems) == 1
    assert f"nested deeper than {MAX_DEPTH} levels" in problems[0]
