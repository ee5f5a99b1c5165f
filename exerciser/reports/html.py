"""The plan — and, once run, its outcome — as one self-contained HTML page.

Inline CSS only: no scripts, no external resources, so the file can be mailed, archived
or opened offline. Every value (symbols, reasons, account names, the title) is data and
goes through ``html.escape``. Rows that need a person carry the ``attention`` class and
a visible "⚠ needs review" marker, and are listed in the summary with a link to them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from html import escape
from typing import TYPE_CHECKING

from exerciser.domain.ledger import LedgerRow, RowState
from exerciser.domain.plan import Plan, PlanAction, PlanRow
from exerciser.reports.outcome import OutcomeRow, joined_rows, ledger_attention

if TYPE_CHECKING:
    from exerciser.services.run import RunOutcome

MARKER = "⚠ needs review"
DASH = "—"
_NOT_SENT = frozenset({RowState.PENDING, RowState.FAILED, RowState.CONFLICT})

_CSS = """
:root { color-scheme: light; }
body { font: 13px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  margin: 1.5rem; color: #1a1a1a; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; border-bottom: 1px solid #ccc; }
dl.meta { display: grid; grid-template-columns: max-content auto; gap: .15rem 1rem; margin: 0; }
dl.meta dt { font-weight: 600; }
dl.meta dd { margin: 0; font-variant-numeric: tabular-nums; }
.banner { margin: 1rem 0; padding: .6rem .9rem; border: 2px solid; font-weight: 600; }
.banner.preview, .banner.dry-run { border-color: #1d4ed8; background: #eff6ff; }
.banner.live { border-color: #15803d; background: #f0fdf4; }
.banner.problems { border-color: #b45309; background: #fffbeb; }
ul.tiles { list-style: none; padding: 0; margin: 0; display: flex; flex-wrap: wrap; gap: .5rem; }
ul.tiles li { border: 1px solid #ccc; padding: .4rem .8rem; min-width: 7rem; }
ul.tiles li b { display: block; font-size: 1.3rem; font-variant-numeric: tabular-nums; }
ul.tiles li.attention { border: 2px solid #b45309; background: #fffbeb; }
table { border-collapse: collapse; width: 100%; }
th, td { border: 1px solid #d4d4d4; padding: .2rem .35rem; vertical-align: top; text-align: left; }
thead th { background: #f3f4f6; position: sticky; top: 0; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
td.sym { font-family: ui-monospace, Menlo, Consolas, monospace; white-space: pre; }
td.id { font-family: ui-monospace, Menlo, Consolas, monospace; font-size: .85em;
  word-break: break-all; min-width: 12ch; max-width: 18ch; }
td.reasons { min-width: 18rem; }
td.status { min-width: 12rem; }
td ul { margin: 0; padding-left: 1rem; }
tr.attention td { background: #fffbeb; }
tr.attention td:first-child { border-left: 4px solid #b45309; }
.mark { display: block; font-weight: 700; color: #92400e; white-space: nowrap; }
.why { display: block; font-weight: 600; }
.muted { color: #6b7280; }
footer { margin-top: 1.5rem; color: #6b7280; }
@media print {
  @page { size: landscape; margin: 1cm; }
  body { margin: 0; font-size: 9pt; }
  thead { display: table-header-group; }
  thead th { position: static; }
  tr { break-inside: avoid; }
  h2 { break-after: avoid; }
  * { print-color-adjust: exact; -webkit-print-color-adjust: exact; }
}
"""

_COLUMNS = (
    "#",
    "Account",
    "Contract",
    "Underlying",
    "Right",
    "Strike",
    "Mult.",
    "Qty (position / available / instructed)",
    "OCC ref. price",
    "Decision price",
    "Price source",
    "ITM amount",
    "OCC would exercise",
    "We want exercise",
    "Action",
    "Expected outcome",
    "Instruction id",
    "Broker status",
    "Reasons",
)


def render_html(
    plan: Plan,
    outcome: RunOutcome | None = None,
    *,
    title: str | None = None,
    generated_at: datetime,
) -> str:
    """The page for ``plan`` (a preview: nothing sent yet) or, given ``outcome``, for
    the run: then ``outcome.plan`` is shown, as journaled (ids may carry revisions)."""
    if outcome is not None:
        plan = outcome.plan
    joined = joined_rows(plan, outcome)
    kind = "Outcome" if outcome is not None else "Plan preview"
    title = title or f"Exercise {kind.lower()} — {plan.business_date.isoformat()}"
    parts = [
        "<!DOCTYPE html>\n",
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n',
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n',
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n",
        f"<header>\n<h1>{escape(title)}</h1>\n",
        _meta(plan, outcome, generated_at),
        "</header>\n",
        _banner(outcome, joined),
        _summary(plan, outcome, joined),
        _people(outcome, joined),
        _warnings(plan),
        _table(joined, outcome),
        _superseded(outcome),
        '<footer><p>rows marked "',
        MARKER,
        '" need a person; "',
        DASH,
        '" means no value.</p></footer>\n</body>\n</html>\n',
    ]
    return "".join(parts)


def _meta(plan: Plan, outcome: RunOutcome | None, generated_at: datetime) -> str:
    if outcome is None:
        mode = "preview — nothing has been sent"
    elif outcome.dry_run:
        mode = "dry run — nothing was sent"
    else:
        mode = "live — instructions were sent to the broker"
    items = [
        ("Business date", plan.business_date.isoformat()),
        ("As of", _moment(plan.as_of)),
        ("Generated at", _moment(generated_at)),
        ("Run id", outcome.run_id if outcome else DASH),
        ("Internal cutoff", _moment(outcome.internal_cutoff) if outcome else DASH),
        ("Mode", mode),
    ]
    body = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>\n" for k, v in items)
    return f'<dl class="meta">\n{body}</dl>\n'


def _banner(outcome: RunOutcome | None, joined: list[OutcomeRow]) -> str:
    if outcome is None:
        css, text = (
            "preview",
            "Preview: this is the plan only. Nothing has been sent to the broker yet.",
        )
    elif outcome.dry_run:
        css, text = "dry-run", "Dry run: nothing was sent to the broker."
    elif outcome.ok and not any(j.attention for j in joined):
        css, text = "live", "Every instruction ended as intended."
    else:
        css, text = "problems", "Some rows need a person: see the list below."
    return f'<p class="banner {css}">{escape(text)}</p>\n'


def _summary(plan: Plan, outcome: RunOutcome | None, joined: list[OutcomeRow]) -> str:
    """Tiles of counts. Optional ones (a zero of an action or a rare state) are left out;
    a tile whose count needs a person is highlighted."""
    actions = Counter(j.row.action for j in joined)
    sent = "instructions to send" if outcome is None else "instructions planned"
    tiles: list[_Tile] = [
        _Tile("positions", len(joined)),
        _Tile(sent, len(plan.instructions)),
        _Tile("exercise", actions[PlanAction.EXERCISE], optional=True),
        _Tile("do not exercise", actions[PlanAction.DO_NOT_EXERCISE], optional=True),
        _Tile("contrary exercise", actions[PlanAction.CONTRARY_EXERCISE], optional=True),
        _Tile("nothing to send", actions[PlanAction.NONE], optional=True),
        _Tile("manual review", actions[PlanAction.MANUAL_REVIEW], optional=True, hot=True),
    ]
    if outcome is not None and not outcome.dry_run:
        states = Counter(r.state for r in outcome.rows)
        partial = sum(
            1 for r in outcome.rows if r.state is RowState.ACCEPTED and not r.ended_as_intended
        )
        tiles += [
            _Tile("sent", sum(1 for r in outcome.rows if r.state not in _NOT_SENT)),
            _Tile("accepted", states[RowState.ACCEPTED] - partial),
            _Tile("partly accepted", partial, optional=True, hot=True),
            _Tile("rejected", states[RowState.REJECTED], hot=True),
            _Tile("failed", states[RowState.FAILED], hot=True),
            _Tile("conflict", states[RowState.CONFLICT], optional=True, hot=True),
            _Tile(
                "still open",
                sum(1 for r in outcome.rows if not r.state.is_terminal),
                optional=True,
                hot=True,
            ),
            _Tile("superseded", len(outcome.superseded), optional=True),
        ]
    tiles.append(_Tile("need a person", len(_flagged(outcome, joined)), hot=True))
    body = "".join(t.html() for t in tiles if t.count or not t.optional)
    return f'<section>\n<h2>Summary</h2>\n<ul class="tiles">{body}</ul>\n</section>\n'


@dataclass(frozen=True, slots=True)
class _Tile:
    label: str
    count: int
    optional: bool = False
    hot: bool = False  # a non-zero count needs a person

    def html(self) -> str:
        css = ' class="attention"' if self.hot and self.count else ""
        return f"<li{css}><b>{self.count}</b>{escape(self.label)}</li>"


def _flagged(outcome: RunOutcome | None, joined: list[OutcomeRow]) -> list[tuple[str, str]]:
    """(anchor-or-empty, text) for every row and superseded instruction needing a person."""
    flagged = [
        (f"row-{n}", f"#{n} account {j.row.account_id} {j.row.symbol}: {j.attention}")
        for n, j in enumerate(joined, 1)
        if j.attention
    ]
    if outcome is not None:
        missing = outcome.reconcile.missing if outcome.reconcile else set()
        for n, r in enumerate(outcome.superseded, 1):
            why = ledger_attention(r, missing=missing)
            if why:
                text = f"superseded {r.instruction_id} account {r.account_id} {r.symbol}: {why}"
                flagged.append((f"superseded-{n}", text))
    return flagged


def _people(outcome: RunOutcome | None, joined: list[OutcomeRow]) -> str:
    flagged = _flagged(outcome, joined)
    if not flagged:
        return ""
    items = "".join(
        f'<li><a href="#{anchor}">{escape(text)}</a></li>\n' for anchor, text in flagged
    )
    return (
        f'<section class="people">\n<h2>Needs a person ({len(flagged)})</h2>\n'
        f"<ul>\n{items}</ul>\n</section>\n"
    )


def _warnings(plan: Plan) -> str:
    if not plan.warnings:
        return ""
    items = "".join(f"<li>{escape(w)}</li>\n" for w in plan.warnings)
    return f"<section>\n<h2>Warnings</h2>\n<ul>\n{items}</ul>\n</section>\n"


def _table(joined: list[OutcomeRow], outcome: RunOutcome | None) -> str:
    head = "".join(f'<th scope="col">{escape(c)}</th>' for c in _COLUMNS)
    body = "".join(_row(n, j, outcome) for n, j in enumerate(joined, 1))
    return (
        f"<section>\n<h2>Positions</h2>\n<table>\n<thead><tr>{head}</tr></thead>\n"
        f"<tbody>\n{body}</tbody>\n</table>\n</section>\n"
    )


def _row(n: int, j: OutcomeRow, outcome: RunOutcome | None) -> str:
    r = j.row
    flag = f'<span class="mark">{MARKER}</span>' if j.attention else ""
    quantity = f"{_num(r.position_quantity)} / {_num(r.available_quantity)} / {_num(r.quantity)}"
    cells = (
        f'<td class="num">{n}{flag}</td>',
        f"<td>{r.account_id}</td>",
        f'<td class="sym">{escape(r.symbol)}</td>',
        _text(r.underlying_symbol),
        _text(r.right.value if r.right else None),
        _number(r.strike),
        _number(r.multiplier),
        f'<td class="num">{quantity}</td>',
        _number(r.occ_reference_price),
        _number(r.decision_price),
        _text(r.price_source),
        _number(r.itm_amount),
        _text(_yes_no(r.occ_would_exercise)),
        _text(_yes_no(r.want_exercise)),
        _text(r.action.value),
        _text(r.expected_outcome.value),
        f'<td class="id">{escape(r.instruction_id or DASH)}</td>',
        f'<td class="status">{_status(j, outcome)}</td>',
        f'<td class="reasons">{_reasons(r)}</td>',
    )
    css = ' class="attention"' if j.attention else ""
    return f'<tr id="row-{n}"{css}>{"".join(cells)}</tr>\n'


def _status(j: OutcomeRow, outcome: RunOutcome | None) -> str:
    if outcome is None:
        text = "not sent yet" if j.row.instruction_id else DASH
    elif j.row.instruction_id is None:
        text = "nothing to send"
    elif outcome.dry_run:
        text = "dry run: not sent"
    else:
        text = _ledger_text(j.ledger, reason=not j.attention) if j.ledger else "not in the ledger"
    why = f'<span class="why">{escape(j.attention)}</span>' if j.attention else ""
    return f"{escape(text)}{why}"


def _ledger_text(row: LedgerRow, *, reason: bool = True) -> str:
    """The state, the accepted quantity when it differs, and (unless the attention
    reason, which repeats it, is shown) the broker's reason."""
    text = row.state.value
    if row.accepted_quantity is not None and row.accepted_quantity != row.quantity:
        text += f" ({_num(row.accepted_quantity)} of {_num(row.quantity)})"
    why = row.reason or row.reason_code if reason else None
    if why and row.reason and row.reason_code:
        why = f"{row.reason} ({row.reason_code})"
    return f"{text}: {why}" if why else text


def _reasons(row: PlanRow) -> str:
    if not row.reasons:
        return DASH
    return "<ul>" + "".join(f"<li>{escape(reason)}</li>" for reason in row.reasons) + "</ul>"


def _superseded(outcome: RunOutcome | None) -> str:
    if outcome is None or not outcome.superseded:
        return ""
    missing = outcome.reconcile.missing if outcome.reconcile else set()
    head = "".join(
        f'<th scope="col">{c}</th>'
        for c in ("Account", "Contract", "Instruction", "Qty", "Instruction id", "Broker status")
    )
    rows = []
    for n, r in enumerate(outcome.superseded, 1):
        why = ledger_attention(r, missing=missing)
        css = ' class="attention"' if why else ""
        flag = f'<span class="mark">{MARKER}</span>' if why else ""
        note = f'<span class="why">{escape(why)}</span>' if why else ""
        rows.append(
            f'<tr id="superseded-{n}"{css}><td>{r.account_id}{flag}</td>'
            f'<td class="sym">{escape(r.symbol)}</td><td>{escape(r.instruction_type.value)}</td>'
            f'<td class="num">{_num(r.quantity)}</td>'
            f'<td class="id">{escape(r.instruction_id)}</td>'
            f'<td class="status">{escape(_ledger_text(r, reason=not why))}{note}</td></tr>\n'
        )
    return (
        "<section>\n<h2>Superseded instructions (replaced by a later plan, to be cancelled)</h2>\n"
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n{''.join(rows)}</tbody>\n"
        "</table>\n</section>\n"
    )


def _text(value: str | None) -> str:
    if value is None:
        return f'<td class="muted">{DASH}</td>'
    return f"<td>{escape(value)}</td>"


def _number(value: Decimal | None) -> str:
    if value is None:
        return f'<td class="num muted">{DASH}</td>'
    return f'<td class="num">{_num(value)}</td>'


def _num(value: Decimal) -> str:
    return escape(format(value, "f"))


def _yes_no(value: bool | None) -> str | None:
    return None if value is None else ("yes" if value else "no")


def _moment(value: datetime) -> str:
    return value.isoformat(sep=" ", timespec="seconds")
