"""pyinstrument around a measured call, and where the time went, by function.

A profile is a separate run from the measured one (sampling adds overhead). The event
loop's wait for replies shows up as ``select``/``epoll`` self time: that share is the
network, the rest is this process's CPU.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyinstrument import Profiler

TOP = 25
INTERVAL = 0.002  # seconds between samples


@dataclass
class Profile:
    """Filled in when the ``with`` block of :func:`profiled` ends."""

    total_s: float = 0.0
    inclusive: dict[str, float] = field(default_factory=dict)
    own: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        ours = {k: v for k, v in self.inclusive.items() if k.startswith("exerciser/")}
        return {
            "total_s": round(self.total_s, 3),
            "self_by_package": self._top(by_package(self.own)),
            "top_self": self._top(self.own),
            "top_exerciser_inclusive": self._top(ours),
            "top_inclusive": self._top(self.inclusive),
            "files": self.files,
        }

    def _top(self, table: dict[str, float]) -> list[dict[str, Any]]:
        total = self.total_s or 1.0
        ranked = sorted(table.items(), key=lambda kv: -kv[1])[:TOP]
        return [
            {"function": label, "seconds": round(s, 3), "share": round(s / total, 4)}
            for label, s in ranked
        ]


@contextmanager
def profiled(out_dir: Path, name: str) -> Iterator[Profile]:
    """Profile the block; write ``name``.txt and ``name``.html to ``out_dir``."""
    profile = Profile()
    profiler = Profiler(interval=INTERVAL, async_mode="disabled")
    profiler.start()
    try:
        yield profile
    finally:
        profiler.stop()
    out_dir.mkdir(parents=True, exist_ok=True)
    text, html = out_dir / f"{name}.txt", out_dir / f"{name}.html"
    text.write_text(profiler.output_text(show_all=False), encoding="utf-8")
    html.write_text(profiler.output_html(), encoding="utf-8")
    profile.files = {"text": str(text), "html": str(html)}
    root = profiler.last_session.root_frame() if profiler.last_session else None
    if root is not None:
        profile.total_s = root.time
        profile.inclusive, profile.own = _tables(root)


def _label(frame: Any) -> str:
    where = frame.file_path_short or frame.file_path or "?"
    owner = f"{frame.class_name}." if frame.class_name else ""
    return f"{where}:{owner}{frame.function}"


def _tables(root: Any) -> tuple[dict[str, float], dict[str, float]]:
    """Inclusive and self time by function. Recursion counts once per path; the
    synthetic ``[self]`` frames of pyinstrument count as their parent's self time."""
    inclusive: dict[str, float] = {}
    own: dict[str, float] = {}
    stack: list[tuple[Any, frozenset[str]]] = [(root, frozenset())]
    while stack:
        frame, above = stack.pop()
        label = _label(frame)
        if label not in above:
            inclusive[label] = inclusive.get(label, 0.0) + frame.time
        real = [c for c in frame.children if not c.is_synthetic]
        own[label] = own.get(label, 0.0) + frame.time - sum(c.time for c in real)
        stack.extend((child, above | {label}) for child in real)
    return inclusive, own


def by_package(own: dict[str, float]) -> dict[str, float]:
    """Self time by package: ``httpcore``, ``sqlite3``..., and ``exerciser/<layer>``."""
    out: dict[str, float] = {}
    for label, seconds in own.items():
        parts = label.split(":", 1)[0].split("/")
        key = "/".join(parts[:2]) if parts[0] == "exerciser" and len(parts) > 2 else parts[0]
        if key == "<built-in>":
            key = f"<built-in> {label.split(':', 1)[1]}"
        out[key] = out.get(key, 0.0) + seconds
    return out
