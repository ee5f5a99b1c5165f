"""Typed, path-aware reading of a parsed YAML tree; every failure is one ScenarioError line.

``Field`` is a value with the place it came from (``accounts[0].positions[2].symbol``), so
an error can always name the file, the field path and the offending value.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from exerciser.sim.scenario import ScenarioError


@dataclass(frozen=True)
class Field:
    """One value of the tree and its path from the root."""

    value: object
    path: str
    source: str

    def error(self, problem: str) -> ScenarioError:
        return ScenarioError(f"{self.source}: {self.path or '<top>'}: {problem}")

    def fail(self, problem: str) -> NoReturn:
        raise self.error(problem)

    def child(self, key: str, value: object) -> Field:
        return Field(value, f"{self.path}.{key}" if self.path else key, self.source)

    @property
    def is_null(self) -> bool:
        return self.value is None

    def mapping(self, *, allowed: tuple[str, ...], required: tuple[str, ...] = ()) -> Fields:
        """Read a mapping whose keys must all be in ``allowed``."""
        if not isinstance(self.value, dict):
            self.fail(f"expected a mapping, got {self.value!r}")
        for key in self.value:
            if not isinstance(key, str) or key not in allowed:
                self.child(str(key), None).fail(
                    f"unknown key {key!r} (allowed: {', '.join(allowed)})"
                )
        for key in required:
            if key not in self.value:
                self.child(key, None).fail("is required")
        return Fields(self, self.value)

    def items(self) -> Iterator[Field]:
        """Read a list (null reads as empty)."""
        if self.value is None:
            return
        if not isinstance(self.value, list):
            self.fail(f"expected a list, got {self.value!r}")
        for index, item in enumerate(self.value):
            yield Field(item, f"{self.path}[{index}]", self.source)

    def text(self) -> str:
        if not isinstance(self.value, str) or not self.value.strip():
            self.fail(f"expected a non-empty string, got {self.value!r} (quote it)")
        return self.value.strip()

    def boolean(self) -> bool:
        if not isinstance(self.value, bool):
            self.fail(f"expected true or false, got {self.value!r}")
        return self.value

    def integer(self, *, minimum: int | None = None) -> int:
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            self.fail(f"expected an integer, got {self.value!r}")
        if minimum is not None and self.value < minimum:
            self.fail(f"{self.value!r} is below the minimum {minimum}")
        return self.value

    def decimal(self) -> Decimal:
        """A decimal from a string or an integer (floats are never read)."""
        if isinstance(self.value, bool) or not isinstance(self.value, str | int):
            self.fail(f'expected a decimal string such as "190.40", got {self.value!r}')
        try:
            number = Decimal(str(self.value).strip())
        except InvalidOperation:
            self.fail(f"{self.value!r} is not a decimal number")
        if not number.is_finite():
            self.fail(f"{self.value!r} is not a finite decimal number")
        return number

    def day(self) -> date:
        raw = self.value
        if not isinstance(raw, str):
            self.fail(f"expected a date YYYY-MM-DD, got {raw!r}")
        try:
            return date.fromisoformat(raw.strip())
        except ValueError:
            self.fail(f"{raw!r} is not a date (YYYY-MM-DD)")

    def moment(self) -> datetime:
        raw = self.value
        if not isinstance(raw, str):
            self.fail(f"expected a date-time with an offset, got {raw!r}")
        try:
            parsed = datetime.fromisoformat(raw.strip())
        except ValueError:
            self.fail(f"{raw!r} is not an ISO 8601 date-time")
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            self.fail(f"{raw!r} has no UTC offset (write e.g. 2026-11-20T16:00:00-05:00)")
        return parsed

    def uuid(self) -> str:
        text = self.value if isinstance(self.value, str) else None
        try:
            return str(uuid.UUID(text or ""))
        except ValueError:
            self.fail(f"{self.value!r} is not a UUID")

    def choice(self, options: tuple[str, ...]) -> str:
        if self.value not in options:
            self.fail(f"{self.value!r} is not one of {', '.join(options)}")
        return str(self.value)


class Fields:
    """The keys of one mapping, each read on demand as a :class:`Field`."""

    def __init__(self, where: Field, raw: dict[object, object]) -> None:
        self._where = where
        self._raw = raw

    @property
    def where(self) -> Field:
        return self._where

    def __contains__(self, key: str) -> bool:
        return key in self._raw

    def get(self, key: str) -> Field | None:
        """The field at ``key``, or None when it is absent or null."""
        if self._raw.get(key) is None:
            return None
        return self._where.child(key, self._raw[key])

    def field(self, key: str) -> Field:
        """The field at ``key`` (null when absent)."""
        return self._where.child(key, self._raw.get(key))
