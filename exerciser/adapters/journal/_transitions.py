"""Which ledger states may follow which: the guard against stale observations.

A listing taken before a reply arrived can report an older state than the one already
journaled (``SENT`` after ``ACCEPTED``). Such an observation is kept for audit but does
not move the row. The rules, as one explicit table:

* a row that is not terminal may move to any state except back to ``PENDING`` (once
  anything is known about an instruction, it is never "not yet confirmed" again);
* a terminal state the broker reported is final, except that an ``ACCEPTED``
  instruction can still be cancelled: ``CANCEL_REQUESTED`` and what ends a cancel
  (``CANCELLED``, ``CANCEL_FAILED``) may follow it. These lie later in the broker's
  lifecycle, so no stale listing can produce them; ``CANCEL_FAILED`` normally follows
  ``CANCEL_REQUESTED`` (not terminal), but a poll may miss that step;
* ``FAILED`` and ``CONFLICT`` are our own conclusions, not the broker's word: if the
  broker later reports the instruction after all, what it reports wins.

A state may always follow itself (the row's other fields are refreshed).
"""

from __future__ import annotations

from collections.abc import Mapping

from exerciser.domain.ledger import RowState

_CONFIRMED = frozenset(RowState) - {RowState.PENDING}
_BROKER_REPORTS = frozenset(
    {
        RowState.SENT,
        RowState.ACCEPTED,
        RowState.REJECTED,
        RowState.CANCEL_REQUESTED,
        RowState.CANCELLED,
        RowState.CANCEL_FAILED,
        RowState.UNKNOWN,
    }
)

FOLLOWERS: Mapping[RowState, frozenset[RowState]] = {
    RowState.PENDING: frozenset(RowState),
    RowState.SENT: _CONFIRMED,
    RowState.UNKNOWN: _CONFIRMED,
    RowState.CANCEL_REQUESTED: _CONFIRMED,
    RowState.ACCEPTED: frozenset(
        {
            RowState.ACCEPTED,
            RowState.CANCEL_REQUESTED,
            RowState.CANCELLED,
            RowState.CANCEL_FAILED,
        }
    ),
    RowState.REJECTED: frozenset({RowState.REJECTED}),
    RowState.CANCELLED: frozenset({RowState.CANCELLED}),
    RowState.CANCEL_FAILED: frozenset({RowState.CANCEL_FAILED}),
    RowState.FAILED: _BROKER_REPORTS | {RowState.FAILED},
    RowState.CONFLICT: _BROKER_REPORTS | {RowState.CONFLICT},
}
"""For each state, the states a row in it may move to."""


def may_follow(current: RowState, observed: RowState) -> bool:
    """True when a row in ``current`` may move to ``observed``."""
    return observed in FOLLOWERS[current]
