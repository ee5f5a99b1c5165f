"""The HTML report: one self-contained, well-formed page; every value escaped; rows that
need a person highlighted with a class and a visible marker; preview, dry-run and live
wording; counts in the summary."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from html.parser import HTMLParser
from typing import Any

import pytest

from exerciser.domain.book import Right
from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Outcome, Plan, PlanAction, PlanRow
from exerciser.reports.html import MARKER, render_html
from exerciser.services.run import RunOutcome

DAY = date(2026, 11, 20)
AS_OF = datetime(2026, 11, 20, 21, 1, tzinfo=UTC)
CUTOFF = datetime(2026, 11, 20, 22, 0, tzinfo=UTC)
GENERATED = datetime(2026, 11, 20, 21, 5, 30, tzinfo=UTC)
VOID = frozenset({"meta", "br", "hr", "img", "input", "link", "col", "wbr"})
XSS = "<script>alert(1)</script>"


def plan_row(n: int, action: PlanAction = PlanAction.EXERCISE, **changes: Any) -> PlanRow:
    row = PlanRow(
        account_id=100_000 + n,
        instrument_id=f"inst-{n}",
        symbol=f"AAPL  261120C00{100 + n:03d}000",
        root="AAPL",
        underlying_symbol="AAPL",
        expiry=DAY,
        right=Right.CALL,
        strike=Decimal(100 + n),
        multiplier=Decimal(100),
        position_quantity=Decimal(6),
        available_quantity=Decimal(5),
        quantity=Decimal(4),
        occ_reference_price=Decimal("190.005"),
        decision_price=Decimal("190.01"),
        price_source="broker",
        itm_amount=Decimal("0.01"),
        occ_would_exercise=True,
        want_exercise=True,
        action=action,
        expected_outcome=Outcome.EXERCISED,
        instruction_id=f"xr-{n}" if action.instruction_type is not None else None,
        reasons=(f"reason {n}", "second reason"),
    )
    return replace(row, **changes)


def ledger(row: PlanRow, state: RowState = RowState.ACCEPTED, **changes: Any) -> LedgerRow:
    assert row.instruction_id is not None
    assert row.instruction_type is not None
    entry = LedgerRow(
        instruction_id=row.instruction_id,
        business_date=DAY,
        account_id=row.account_id,
        instrument_id=row.instrument_id,
        symbol=row.symbol,
        instruction_type=row.instruction_type,
        quantity=row.quantity,
        state=state,
        accepted_quantity=row.quantity if state is RowState.ACCEPTED else None,
    )
    return replace(entry, **changes)


def make_plan(rows: list[PlanRow], warnings: tuple[str, ...] = ()) -> Plan:
    return Plan(business_date=DAY, as_of=AS_OF, rows=tuple(rows), warnings=warnings)


def run_outcome(
    plan: Plan,
    entries: list[LedgerRow] | None = None,
    *,
    dry_run: bool = False,
    superseded: list[LedgerRow] | None = None,
) -> RunOutcome:
    return RunOutcome(
        run_id="run-7",
        plan=plan,
        internal_cutoff=CUTOFF,
        dry_run=dry_run,
        rows=entries or [],
        superseded=superseded or [],
    )


class Page(HTMLParser):
    """Parses a page strictly: every non-void element closed, in order."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.elements: list[tuple[str, dict[str, str | None]]] = []
        self.declarations: list[str] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.errors.append(f"unclosed: {self.stack}")

    def handle_decl(self, decl: str) -> None:
        self.declarations.append(decl)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str, css: str | None = None) -> list[dict[str, str | None]]:
        return [
            attrs
            for name, attrs in self.elements
            if name == tag and (css is None or css in (attrs.get("class") or "").split())
        ]


def tiles(page: str) -> dict[str, int]:
    found = re.findall(r'<li(?: class="attention")?><b>(\d+)</b>([^<]+)</li>', page)
    return {label: int(n) for n, label in found}


def mixed_outcome() -> RunOutcome:
    a, b = plan_row(1), plan_row(2, PlanAction.DO_NOT_EXERCISE)
    c, d = plan_row(3, PlanAction.CONTRARY_EXERCISE), plan_row(4)
    review, none = plan_row(5, PlanAction.MANUAL_REVIEW), plan_row(6, PlanAction.NONE)
    plan = make_plan([a, b, c, d, review, none], warnings=("pin risk on short AAPL",))
    entries = [
        ledger(a),
        ledger(b, RowState.REJECTED, reason="no such position"),
        ledger(c, RowState.FAILED, reason="out of time"),
        ledger(d, accepted_quantity=Decimal(1)),
    ]
    old = replace(ledger(plan_row(9)), instruction_id="xr-old", superseded=True)
    return run_outcome(plan, entries, superseded=[replace(old, state=RowState.CANCEL_FAILED)])


@pytest.mark.parametrize("kind", ["preview", "dry-run", "live"])
def test_page_is_well_formed_utf8_html5_with_one_row_per_plan_row(kind: str) -> None:
    outcome = mixed_outcome()
    if kind == "dry-run":
        outcome = replace(outcome, dry_run=True, rows=[], superseded=[])
    given = None if kind == "preview" else outcome
    page = Page(render_html(outcome.plan, given, generated_at=GENERATED))

    assert page.errors == []
    assert page.declarations == ["DOCTYPE html"]
    assert page.all("html")[0]["lang"] == "en"
    assert {"charset": "utf-8"} in page.all("meta")
    assert len(page.all("title")) == 1
    assert len([a for a in page.all("tr") if (a.get("id") or "").startswith("row-")]) == 6
    header = "".join(page.text)
    assert "Qty (position / available / instructed)" in header
    assert "6 / 5 / 4" in header


def test_page_has_no_script_and_no_external_resources() -> None:
    outcome = mixed_outcome()
    text = render_html(outcome.plan, outcome, generated_at=GENERATED)
    page = Page(text)

    assert "<script" not in text.lower()
    assert "http://" not in text
    assert "https://" not in text
    assert "src=" not in text
    assert page.all("link") == []
    ids = {attrs.get("id") for _, attrs in page.elements}
    hrefs = [a["href"] for a in page.all("a")]
    assert hrefs  # the people list links to the flagged rows
    for href in hrefs:
        assert href is not None
        assert href.startswith("#")
        assert href[1:] in ids


def test_data_is_escaped_never_markup() -> None:
    row = plan_row(
        1,
        symbol="A&B <i>  261120C00100000",
        reasons=(XSS, "quote \" and ' apostrophe"),
        price_source="<b>feed</b>",
    )
    plan = make_plan([row], warnings=("<img src=x onerror=alert(2)>",))
    entry = ledger(row, RowState.REJECTED, reason="<iframe>")
    text = render_html(
        plan, run_outcome(plan, [entry]), title="Desk </title> A&B", generated_at=GENERATED
    )

    assert XSS not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "A&amp;B &lt;i&gt;" in text
    assert "&lt;b&gt;feed&lt;/b&gt;" in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    assert "<iframe>" not in text
    assert "&lt;iframe&gt;" in text
    assert "<title>Desk &lt;/title&gt; A&amp;B</title>" in text
    page = Page(text)
    assert page.errors == []
    assert {tag for tag, _ in page.elements}.isdisjoint({"script", "img", "iframe", "i"})


def test_rows_that_need_a_person_carry_the_class_and_the_marker() -> None:
    outcome = mixed_outcome()
    text = render_html(outcome.plan, outcome, generated_at=GENERATED)
    page = Page(text)

    flagged = [a["id"] for a in page.all("tr", "attention")]
    # rejected (2), failed (3), partly accepted (4), manual review (5), superseded standing
    assert flagged == ["row-2", "row-3", "row-4", "row-5", "superseded-1"]
    rows = re.findall(r"<tr id=\"(row-\d+|superseded-\d+)\"[^>]*>(.*?)</tr>", text)
    for row_id, body in rows:
        assert (f'<span class="mark">{MARKER}</span>' in body) is (row_id in flagged), row_id
    assert "rejected by the broker: no such position" in text
    assert "partly accepted: 1 of 4" in text
    assert "Needs a person (5)" in text


def test_a_preview_says_nothing_has_been_sent() -> None:
    plan = make_plan([plan_row(1), plan_row(2, PlanAction.MANUAL_REVIEW)])
    text = render_html(plan, generated_at=GENERATED)

    assert "Exercise plan preview — 2026-11-20" in text
    assert "Nothing has been sent to the broker yet." in text
    assert "preview — nothing has been sent" in text
    assert "not sent yet" in text
    assert "<dt>Run id</dt><dd>—</dd>" in text
    assert "<dt>Generated at</dt><dd>2026-11-20 21:05:30+00:00</dd>" in text
    assert "sent</li>" not in text  # no sent/accepted tiles before anything is sent
    assert tiles(text) == {
        "positions": 2,
        "instructions to send": 1,
        "exercise": 1,
        "manual review": 1,
        "need a person": 1,
    }


def test_a_dry_run_says_nothing_was_sent() -> None:
    plan = make_plan([plan_row(1)])
    text = render_html(plan, run_outcome(plan, dry_run=True), generated_at=GENERATED)

    assert "Dry run: nothing was sent to the broker." in text
    assert "dry run: not sent" in text
    assert "<dt>Run id</dt><dd>run-7</dd>" in text
    assert "Nothing has been sent" not in text


def test_a_live_outcome_shows_broker_status_and_counts() -> None:
    outcome = mixed_outcome()
    text = render_html(outcome.plan, outcome, title=None, generated_at=GENERATED)

    assert "Exercise outcome — 2026-11-20" in text
    assert "live — instructions were sent to the broker" in text
    assert "<dt>Internal cutoff</dt><dd>2026-11-20 22:00:00+00:00</dd>" in text
    assert "Some rows need a person" in text
    assert "pin risk on short AAPL" in text
    assert tiles(text) == {
        "positions": 6,
        "instructions planned": 4,
        "exercise": 2,
        "do not exercise": 1,
        "contrary exercise": 1,
        "nothing to send": 1,
        "manual review": 1,
        "sent": 3,  # accepted, partly accepted and rejected reached the broker
        "accepted": 1,
        "partly accepted": 1,
        "rejected": 1,
        "failed": 1,
        "superseded": 1,
        "need a person": 5,
    }


def test_an_outcome_where_everything_went_well_says_so() -> None:
    plan = make_plan([plan_row(1)])
    text = render_html(plan, run_outcome(plan, [ledger(plan.rows[0])]), generated_at=GENERATED)

    assert "Every instruction ended as intended." in text
    assert 'class="attention"' not in text
    assert tiles(text)["need a person"] == 0


def test_with_an_outcome_its_journaled_plan_is_shown() -> None:
    planned = make_plan([plan_row(1)])
    revised = make_plan([replace(plan_row(1), instruction_id="xr-1-r1")])
    outcome = run_outcome(revised, [ledger(revised.rows[0])])
    text = render_html(planned, outcome, generated_at=GENERATED)

    assert "xr-1-r1" in text
    assert "not in the ledger" not in text
