"""Scenario files: the sample book loads, defaults apply, and every mistake is one clear line."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from exerciser.sim import ScenarioError, load_scenario, parse_scenario, sample_scenario_path

from .helpers import BOOK

MINIMAL = """
business_date: 2026-11-20
underlyings:
  - {symbol: AAPL, close: "190.40"}
contracts:
  - {symbol: "AAPL  261120C00190000", underlying: AAPL}
accounts:
  - id: 1
    positions:
      - {symbol: "AAPL  261120C00190000", quantity: "2"}
"""


def test_the_packaged_sample_book_loads_with_three_accounts_and_the_demo_contracts() -> None:
    path = sample_scenario_path()
    scenario = load_scenario(path)

    assert path.name == "sample_book.yaml"
    assert path.is_file()
    assert scenario.business_date == date(2026, 11, 20)
    assert [a.subtype for a in scenario.accounts] == ["MARGIN", "CASH", "MARGIN"]
    symbols = {c.symbol for c in scenario.contracts}
    assert {"AAPL1 261120C00185000", "SPX   261120C05900000", "SPXW  261120C06000000"} <= symbols
    assert any(c.settle_on_open for c in scenario.contracts)
    assert {c.outcome for c in scenario.contracts} == {"accept", "reject", "partial"}
    assert any(c.multiplier == Decimal(10) for c in scenario.contracts)
    assert any(c.expiry == date(2026, 12, 18) for c in scenario.contracts)
    options = [h for a in scenario.accounts for h in a.positions if h.symbol in symbols]
    assert 10 <= len(options) <= 20
    assert any(h.quantity < 0 for h in options)


def test_defaults_fill_in_ids_prices_close_time_and_account_fields() -> None:
    scenario = parse_scenario(MINIMAL, source="minimal.yaml")

    aapl = scenario.underlyings[0]
    assert aapl.id == str(uuid.uuid5(uuid.NAMESPACE_URL, "sim:instrument:AAPL"))
    assert aapl.last == aapl.close == Decimal("190.40")
    assert aapl.type == "COMMON_STOCK"
    contract = scenario.contracts[0]
    assert contract.id == str(
        uuid.uuid5(uuid.NAMESPACE_URL, "sim:instrument:AAPL  261120C00190000")
    )
    assert (contract.strike, contract.expiry, contract.contract_type) == (
        Decimal(190),
        date(2026, 11, 20),
        "CALL",
    )
    assert (contract.multiplier, contract.exercise_style, contract.settle_on_open) == (
        Decimal(100),
        "AMERICAN",
        False,
    )
    assert scenario.close_at.astimezone(UTC) == datetime(2026, 11, 20, 21, 0, tzinfo=UTC)
    assert scenario.cutoff_at is None
    assert (scenario.token, scenario.revision, scenario.page_size) == (
        "sim-token",
        "2025-10-31",
        1000,
    )
    assert scenario.lifecycle.settle_after_polls == 1
    assert scenario.lifecycle.settle_after_seconds is None
    account = scenario.accounts[0]
    assert (account.subtype, account.status, account.options_level) == ("MARGIN", "ACTIVE", 3)
    assert account.balances["buying_power"] == Decimal("0.00")
    assert account.positions[0].available_quantity == Decimal(2)


def test_unpadded_osi_symbols_are_stored_padded() -> None:
    text = MINIMAL.replace('"AAPL  261120C00190000"', '"AAPL261120C00190000"')
    scenario = parse_scenario(text)

    assert scenario.contracts[0].symbol == "AAPL  261120C00190000"
    assert scenario.accounts[0].positions[0].symbol == "AAPL  261120C00190000"


def test_an_early_close_is_taken_from_close_at() -> None:
    scenario = parse_scenario(MINIMAL + "close_at: 2026-11-27T13:00:00-05:00\n")

    assert scenario.close_at.astimezone(UTC) == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)


def test_giving_only_settle_after_seconds_makes_settlement_time_driven() -> None:
    scenario = parse_scenario(MINIMAL + "lifecycle: {settle_after_seconds: 30}\n")

    assert scenario.lifecycle.settle_after_polls is None
    assert scenario.lifecycle.settle_after_seconds == Decimal(30)


def test_scenario_faults_are_read() -> None:
    scenario = parse_scenario(MINIMAL + "faults: {submit_503: 2, retry_after_seconds: 7}\n")

    assert scenario.faults.submit_503 == 2
    assert scenario.faults.retry_after_seconds == 7
    assert scenario.faults.lost_ack == 0


BAD_SCENARIOS = [
    pytest.param("", "<top>: expected a mapping", id="empty-file"),
    pytest.param("underlyings: []\n", "business_date: is required", id="missing-business-date"),
    pytest.param(
        "business_date: 2026-13-01\n", "business_date: '2026-13-01' is not a date", id="bad-date"
    ),
    pytest.param(
        "business_date: 2026-11-20\nbusines_date: 2026-11-20\n",
        "busines_date: unknown key 'busines_date'",
        id="top-level-typo",
    ),
    pytest.param(
        MINIMAL.replace("{symbol: AAPL,", "{symbl: AAPL,"),
        "underlyings[0].symbl: unknown key 'symbl'",
        id="nested-typo",
    ),
    pytest.param(
        MINIMAL.replace('"2"}', '"2", side: long}'),
        "accounts[0].positions[0].side: unknown key 'side'",
        id="position-typo",
    ),
    pytest.param(
        MINIMAL.replace('close: "190.40"', 'close: "19O.40"'),
        "underlyings[0].close: '19O.40' is not a decimal number",
        id="bad-decimal",
    ),
    pytest.param(
        MINIMAL.replace('close: "190.40"', 'close: "-1"'),
        "underlyings[0].close: '-1' must be greater than zero",
        id="negative-price",
    ),
    pytest.param(
        MINIMAL.replace('{symbol: "AAPL  261120C00190000", quantity', '{symbol: "XYZ", quantity'),
        "accounts[0].positions[0].symbol: 'XYZ' is neither a contract nor an underlying",
        id="unknown-position-symbol",
    ),
    pytest.param(
        MINIMAL.replace("underlying: AAPL}", "underlying: MSFT}"),
        "contracts[0].underlying: 'MSFT' is not one of the scenario's underlyings",
        id="unknown-underlying",
    ),
    pytest.param(
        MINIMAL.replace(
            '{symbol: "AAPL  261120C00190000", underlying', '{symbol: "AAPL 2611", underlying'
        ),
        "contracts[0].symbol: 'AAPL 2611' is too short to be an OSI symbol",
        id="bad-osi",
    ),
    pytest.param(
        MINIMAL.replace("  - {symbol: AAPL,", "  - {symbol: AAPL, id: nope,"),
        "underlyings[0].id: 'nope' is not a UUID",
        id="bad-uuid",
    ),
    pytest.param(
        MINIMAL + "  - id: 1\n",
        "accounts[1].id: 1 is a duplicate account id",
        id="duplicate-account",
    ),
    pytest.param(
        MINIMAL.replace(
            "contracts:\n",
            'contracts:\n  - {symbol: "AAPL261120C00190000", underlying: AAPL}\n',
        ),
        "contracts[1].symbol: 'AAPL  261120C00190000' is a duplicate (also contracts[0].symbol)",
        id="duplicate-contract",
    ),
    pytest.param(
        MINIMAL.replace('quantity: "2"}', 'quantity: "2.5"}'),
        "accounts[0].positions[0].quantity: '2.5' is not a whole number of contracts",
        id="fractional-contracts",
    ),
    pytest.param(
        MINIMAL.replace('quantity: "2"}', 'quantity: "2", available_quantity: "3"}'),
        "accounts[0].positions[0].available_quantity: '3' is not between 0 and the position size 2",
        id="available-above-quantity",
    ),
    pytest.param(
        MINIMAL + "revision: '2030-01-01'\n",
        "revision: '2030-01-01' is not one of 2025-10-31, sdk-docs, 2026-preview",
        id="unknown-revision",
    ),
    pytest.param(
        MINIMAL + "page_size: 0\n", "page_size: 0 is below the minimum 1", id="page-size-zero"
    ),
    pytest.param(
        MINIMAL + "close_at: 2026-11-20T16:00:00\n",
        "close_at: '2026-11-20T16:00:00' has no UTC offset",
        id="naive-close-at",
    ),
    pytest.param(
        MINIMAL + "faults: {lost_acks: 1}\n", "faults.lost_acks: unknown key", id="fault-typo"
    ),
    pytest.param(
        MINIMAL + "faults: {submit_503: -1}\n",
        "faults.submit_503: -1 is below the minimum 0",
        id="negative-fault",
    ),
    pytest.param(
        MINIMAL.replace("underlying: AAPL}", "underlying: AAPL, outcome: maybe}"),
        "contracts[0].outcome: 'maybe' is not one of accept, reject, partial",
        id="unknown-outcome",
    ),
    pytest.param(
        MINIMAL.replace("underlying: AAPL}", 'underlying: AAPL, accepted_fraction: "1.5"}'),
        "contracts[0].accepted_fraction: '1.5' is not between 0 and 1",
        id="fraction-above-one",
    ),
    pytest.param(
        MINIMAL.replace("underlying: AAPL}", "underlying: AAPL, settle_on_open: maybe}"),
        "contracts[0].settle_on_open: expected true or false, got 'maybe'",
        id="not-a-boolean",
    ),
    pytest.param(
        MINIMAL.replace("  - id: 1\n", "  - id: 1\n    balances: {buyingpower: '1'}\n"),
        "accounts[0].balances.buyingpower: unknown key",
        id="balance-typo",
    ),
    pytest.param(
        MINIMAL.replace('{symbol: "AAPL  261120C00190000", quantity', "{symbol: SPX, quantity"),
        "'SPX' is neither a contract nor an underlying",
        id="unlisted-index",
    ),
    pytest.param(
        "business_date: 2026-11-20\nbusiness_date: 2026-11-21\n",
        "duplicate key 'business_date'",
        id="duplicate-yaml-key",
    ),
    pytest.param("business_date: [2026-11-20\n", "line 2, column 1", id="yaml-syntax-error"),
]


@pytest.mark.parametrize(("text", "expected"), BAD_SCENARIOS)
def test_a_bad_scenario_is_refused_with_one_line_naming_file_field_and_value(
    text: str, expected: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        parse_scenario(text, source="scenario.yaml")

    message = str(caught.value)
    assert message.startswith("scenario.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_holding_an_index_itself_is_refused() -> None:
    text = BOOK.replace('- {symbol: AAPL, quantity: "400"}', '- {symbol: SPX, quantity: "1"}')

    with pytest.raises(
        ScenarioError, match=r"accounts\[0\]\.positions\[8\]\.symbol: 'SPX' is an index"
    ):
        parse_scenario(text, source="scenario.yaml")


def test_load_scenario_names_the_file_it_read(tmp_path: Path) -> None:
    path = tmp_path / "book.yaml"
    path.write_text("business_date: 2026-11-20\nunderlyings: 3\n", encoding="utf-8")

    with pytest.raises(ScenarioError, match=r"book\.yaml: underlyings: expected a list, got 3$"):
        load_scenario(path)


def test_load_scenario_reports_a_missing_file_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"missing\.yaml: cannot read: "):
        load_scenario(tmp_path / "missing.yaml")


def test_unquoted_decimals_keep_their_exact_digits() -> None:
    scenario = parse_scenario(MINIMAL.replace('close: "190.40"', "close: 190.10"))

    assert str(scenario.underlyings[0].close) == "190.10"
