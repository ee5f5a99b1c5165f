"""The benchmark's extrapolation of the sequential baseline (``bench/report.py``): the
median account's time, which one stalled account does not move."""

from __future__ import annotations

from typing import Any

import pytest

from bench.report import extrapolate


def _sample(account_s: list[float]) -> dict[str, Any]:
    return {
        "accounts": len(account_s),
        "total_s": sum(account_s),
        "account_s": account_s,
        "requests_per_account": 6.0,
    }


def test_the_baseline_is_the_median_account_times_the_accounts() -> None:
    small = _sample([0.15] * 19 + [0.16])
    large = _sample([0.15] * 39 + [0.14])

    got = extrapolate({"samples": [large, small]}, 2000)

    assert got["per_account_s"] == 0.15
    assert got["full_s"] == 300.0
    assert got["requests_per_account"] == 6.0


def test_a_stall_in_the_small_sample_moves_the_line_not_the_baseline() -> None:
    steady = _sample([0.15] * 20)
    stalled = _sample([0.15] * 19 + [0.85])  # one account waited 0.7 s more
    large = _sample([0.15] * 40)

    clean = extrapolate({"samples": [steady, large]}, 2000)
    hit = extrapolate({"samples": [stalled, large]}, 2000)

    assert hit["full_s"] == clean["full_s"] == 300.0
    # the line through the samples flattens to (6.0 - 3.7) / 20 s an account, not 0.15,
    # and extended to 2,000 accounts loses almost a quarter: 1.4 + 0.115 x 2000 s
    assert hit["line_per_account_s"] == pytest.approx(0.115)
    assert hit["line_full_s"] == pytest.approx(231.4)
    assert hit["linearity_error"] == pytest.approx(7.4 / 6.0 - 1, abs=1e-4)
