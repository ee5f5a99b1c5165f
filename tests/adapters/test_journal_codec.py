"""The journal's plan records: ``plan_record`` writes each field with a fast encoder for
its type, and must give exactly the text the general ``json_text`` gives — a stored plan
is compared with a recomputed one on every restart, so a byte of difference would refuse
the day's own plan."""

from __future__ import annotations

from dataclasses import fields, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exerciser.adapters.journal._codec import (
    PLAN_FIELD_TYPES,
    UNROLLED_FIELDS,
    json_text,
    plan_record,
    plan_record_by_field,
)
from exerciser.domain.book import Right
from exerciser.domain.plan import Outcome, PlanAction, PlanRow


def general(row: PlanRow) -> str:
    """The record as the general encoder writes the row's fields as a dict."""
    return json_text({f.name: getattr(row, f.name) for f in fields(PlanRow)})


T = TypeVar("T")
texts = st.text()  # any unicode: quotes, backslashes, controls, surrogates
decimals = st.decimals(allow_nan=False, allow_infinity=False)


def maybe(values: st.SearchStrategy[T]) -> st.SearchStrategy[T | None]:
    return st.none() | values


@st.composite
def plan_rows(draw: st.DrawFn) -> PlanRow:
    return PlanRow(
        account_id=draw(st.integers()),
        instrument_id=draw(texts),
        symbol=draw(texts),
        root=draw(maybe(texts)),
        underlying_symbol=draw(maybe(texts)),
        expiry=draw(maybe(st.dates())),
        right=draw(maybe(st.sampled_from(Right))),
        strike=draw(maybe(decimals)),
        multiplier=draw(maybe(decimals)),
        position_quantity=draw(decimals),
        available_quantity=draw(decimals),
        quantity=draw(decimals),
        occ_reference_price=draw(maybe(decimals)),
        decision_price=draw(maybe(decimals)),
        price_source=draw(maybe(texts)),
        itm_amount=draw(maybe(decimals)),
        occ_would_exercise=draw(maybe(st.booleans())),
        want_exercise=draw(maybe(st.booleans())),
        action=draw(st.sampled_from(PlanAction)),
        expected_outcome=draw(st.sampled_from(Outcome)),
        instruction_id=draw(maybe(texts)),
        reasons=tuple(draw(st.lists(texts, max_size=4))),
    )


@settings(max_examples=300, deadline=None)
@given(row=plan_rows())
def test_a_plan_record_is_exactly_what_the_general_encoder_writes(row: PlanRow) -> None:
    assert plan_record(row) == general(row)


@settings(max_examples=300, deadline=None)
@given(row=plan_rows())
def test_the_field_by_field_fallback_writes_the_same_text(row: PlanRow) -> None:
    """What ``plan_record`` becomes should ``PlanRow`` gain or change a field."""
    assert plan_record_by_field(row) == general(row)


@settings(max_examples=200, deadline=None)
@given(rows=st.lists(plan_rows(), min_size=1, max_size=6), picks=st.lists(st.integers(0, 5)))
def test_rows_that_share_their_reasons_are_written_as_each_alone(
    rows: list[PlanRow], picks: list[int]
) -> None:
    """One plan's rows go through ``plan_record`` with one ``known``: a tuple of reasons
    written once is reused by identity, and must come out as the row alone would."""
    n = len(rows)
    shared = [replace(rows[p % n], reasons=rows[i % n].reasons) for i, p in enumerate(picks)]
    plan = [*rows, *shared, *rows]
    known: dict[int, str] = {}
    assert [plan_record(r, known) for r in plan] == [general(r) for r in plan]
    assert [plan_record_by_field(r, known) for r in plan] == [general(r) for r in plan]


def test_a_tuple_of_reasons_is_written_once_a_plan() -> None:
    reasons = ("exercise: in the money by 0.40", 'a "quoted" reason')
    first, second = replace(ROW, reasons=reasons), replace(ROW, account_id=8, reasons=reasons)
    known: dict[int, str] = {}
    assert plan_record(first, known) == general(first)
    assert known == {id(reasons): '["exercise: in the money by 0.40","a \\"quoted\\" reason"]'}
    assert plan_record(second, known) == general(second)
    assert len(known) == 1


@pytest.mark.parametrize("reasons", [("a string", 7), ("a", PlanAction.EXERCISE), ()])
def test_reasons_of_an_unexpected_type_are_written_exactly_with_known(
    reasons: tuple[object, ...],
) -> None:
    row = replace(ROW, reasons=reasons)  # type: ignore[arg-type]
    known: dict[int, str] = {}
    assert plan_record(row, known) == plan_record(row, known) == general(row)


def test_the_unrolled_encoder_is_written_for_the_fields_plan_rows_have() -> None:
    """A changed ``PlanRow`` still journals exactly (the fallback), but slower: update
    ``_plan_record_unrolled`` and ``UNROLLED_FIELDS`` with it."""
    assert PLAN_FIELD_TYPES == UNROLLED_FIELDS


ROW = PlanRow(
    account_id=7,
    instrument_id="aapl-261120c190",
    symbol='AAPL "261120" C190 é',
    root="AAPL",
    underlying_symbol=None,
    expiry=date(2026, 11, 20),
    right=Right.CALL,
    strike=Decimal("190.00"),
    multiplier=Decimal("1E+2"),
    position_quantity=Decimal("-0"),
    available_quantity=Decimal("0.00000001"),
    quantity=Decimal(5),
    occ_reference_price=None,
    decision_price=Decimal("190.40"),
    price_source="close",
    itm_amount=Decimal("-0.40"),
    occ_would_exercise=True,
    want_exercise=None,
    action=PlanAction.EXERCISE,
    expected_outcome=Outcome.EXERCISED,
    instruction_id=None,
    reasons=(),
)


def test_a_known_row_is_written_as_it_always_was() -> None:
    assert plan_record(ROW) == (
        '{"account_id":7,"action":"EXERCISE","available_quantity":"1E-8",'
        '"decision_price":"190.40","expected_outcome":"EXERCISED","expiry":"2026-11-20",'
        '"instruction_id":null,"instrument_id":"aapl-261120c190","itm_amount":"-0.40",'
        '"multiplier":"1E+2","occ_reference_price":null,"occ_would_exercise":true,'
        '"position_quantity":"-0","price_source":"close","quantity":"5","reasons":[],'
        '"right":"CALL","root":"AAPL","strike":"190.00",'
        '"symbol":"AAPL \\"261120\\" C190 \\u00e9","underlying_symbol":null,'
        '"want_exercise":null}'
    )


class Amount(Decimal):
    """A Decimal subclass: not the type the fast path expects."""


@pytest.mark.parametrize(
    "changes",
    [
        {"expiry": datetime(2026, 11, 20, 21, 30, tzinfo=UTC)},  # a datetime, not a date
        {"quantity": Amount("5.0")},
        {"account_id": True},
        {"reasons": ["a list", "not a tuple"]},
        {"reasons": ("a string", 7)},
        {"reasons": ("a string", PlanAction.EXERCISE)},  # a StrEnum: written as a string
        {"occ_would_exercise": 1},
        {"root": frozenset({"b", "a"})},
    ],
)
def test_values_of_an_unexpected_type_take_the_general_path(changes: dict[str, object]) -> None:
    row = replace(ROW, **changes)  # type: ignore[arg-type]
    assert plan_record(row) == general(row)
    assert plan_record_by_field(row) == general(row)


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("sNaN"), Decimal("-Infinity")])
def test_a_non_finite_decimal_is_refused(bad: Decimal) -> None:
    with pytest.raises(ValueError, match="not a finite decimal"):
        plan_record(replace(ROW, strike=bad))


def test_an_unknown_type_is_refused() -> None:
    with pytest.raises(TypeError, match="cannot journal a object"):
        plan_record(replace(ROW, root=object()))  # type: ignore[arg-type]
