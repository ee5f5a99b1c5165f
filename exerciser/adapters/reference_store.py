"""Keeps the OCC reference prices captured right after the close, one JSON file per day
under ``state_dir/references/``, so that a later plan the same evening — after
after-hours trades have replaced the close in the broker's snapshot — still decides on
the close. Writes are atomic (temporary file, fsync, rename)."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from datetime import date
from decimal import Decimal, InvalidOperation
from pathlib import Path

from exerciser.errors import ConfigError


class FileReferenceStore:
    def __init__(self, directory: Path) -> None:
        self._directory = directory

    def _path(self, day: date) -> Path:
        return self._directory / f"{day.isoformat()}.json"

    def get(self, day: date) -> dict[str, Decimal]:
        path = self._path(day)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError([f"{path}: unreadable reference prices: {exc}"]) from None
        try:
            return {str(k): Decimal(str(v)) for k, v in dict(raw).items()}
        except (InvalidOperation, TypeError, ValueError) as exc:
            raise ConfigError([f"{path}: unreadable reference prices: {exc}"]) from None

    def put(self, day: date, captured: Mapping[str, Decimal]) -> None:
        """Add captures for ``day``; a symbol already captured keeps its first value."""
        merged = {
            **{k: str(v) for k, v in captured.items()},
            **{k: str(v) for k, v in self.get(day).items()},
        }
        self._directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self._directory, prefix=".references-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(dict(sorted(merged.items())), handle, indent=1)
                handle.flush()
                os.fsync(handle.fileno())
            Path(tmp).replace(self._path(day))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
