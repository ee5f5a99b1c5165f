"""The guard of classes built positionally.

A few hot paths build dataclasses by position instead of by keyword: a keyword call
builds a dict of the arguments and matches every name, several times the cost. Each
such place names the field order it relies on and checks it at import, so that a field
added, renamed or moved fails at start-up instead of filling the wrong fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from typing import Any


def require_fields(kind: Any, names: Sequence[str], *, update: str) -> None:
    """Raise ``ImportError`` unless the dataclass ``kind``'s fields are ``names``, in
    order; the message says what to ``update``."""
    if tuple(f.name for f in fields(kind)) != tuple(names):
        raise ImportError(f"{kind.__name__}'s fields changed: update {update}")
