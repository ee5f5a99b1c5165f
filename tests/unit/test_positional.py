"""The import-time guard of dataclasses built positionally (``domain.positional``)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from exerciser.domain.positional import require_fields


@dataclass
class Pair:
    first: int
    second: str


def test_the_fields_in_their_order_pass() -> None:
    require_fields(Pair, ("first", "second"), update="nothing")


@pytest.mark.parametrize(
    "names",
    [("second", "first"), ("first",), ("first", "second", "third"), ("first", "other")],
)
def test_any_other_order_or_set_refuses_to_import(names: tuple[str, ...]) -> None:
    with pytest.raises(ImportError, match=r"^Pair's fields changed: update make_pair$"):
        require_fields(Pair, names, update="make_pair")
