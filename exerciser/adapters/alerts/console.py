"""The console channel: alerts printed to a stream (the demo, a terminal run)."""

from __future__ import annotations

from typing import TextIO

from exerciser.domain.alerts import Alert, Severity
from exerciser.errors import AlertError


class ConsoleChannel:
    """A ``Notifier`` writing each alert as a block of text to ``out``."""

    def __init__(
        self, *, out: TextIO, name: str = "console", min_severity: Severity = Severity.INFO
    ) -> None:
        self.name = name
        self.min_severity = min_severity
        self._out = out

    async def send(self, alert: Alert) -> None:
        try:
            self._out.write(render(alert))
            self._out.flush()
        except (OSError, ValueError) as exc:  # ValueError: the stream was closed
            raise AlertError(f"cannot write: {exc}", channel=self.name) from exc


def render(alert: Alert) -> str:
    """``== [WARNING] title`` then the text, the attachments and the key."""
    lines = [f"== [{alert.severity.name}] {alert.title}", alert.text.rstrip()]
    lines += [
        f"   attached: {a.filename} ({a.content_type}, {len(a.data)} bytes)"
        for a in alert.attachments
    ]
    lines.append(f"   ({alert.kind}, {alert.key})")
    return "\n".join(lines) + "\n\n"
