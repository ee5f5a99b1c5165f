"""Slack incoming webhooks: one POST of ``{"text": ..., "blocks": [...]}`` per alert.

The webhook URL is the secret (whoever has it can post to the channel), so no error
message, log line or exception chain of this module carries it: httpx errors are
described by their type and scrubbed message, and raised ``from None`` because their
request holds the URL. Incoming webhooks cannot carry files, so attachments are named,
not sent (the email channel carries them).
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from exerciser.domain.alerts import Alert, Severity
from exerciser.errors import AlertError

MAX_SECTION = 2900  # Slack refuses a section text over 3000 characters
_HIDDEN = "***"
_ICONS = {
    Severity.INFO: ":information_source:",
    Severity.WARNING: ":warning:",
    Severity.ERROR: ":x:",
    Severity.CRITICAL: ":rotating_light:",
}
_RULE = re.compile(r"^[\s\-=+|:]*-{3,}[\s\-=+|:]*$", re.MULTILINE)
_COLUMNS = re.compile(r"\S {2,}\S")


class SlackWebhook:
    """A ``Notifier`` posting to one Slack incoming webhook."""

    def __init__(
        self,
        *,
        name: str,
        url: SecretStr,
        min_severity: Severity = Severity.WARNING,
        client: httpx.AsyncClient | None = None,
        timeout: float = 10.0,
    ) -> None:
        self.name = name
        self.min_severity = min_severity
        self._url = url
        self._client = client
        self._timeout = timeout

    def __repr__(self) -> str:
        return f"SlackWebhook(name={self.name!r}, min_severity={self.min_severity.label})"

    async def send(self, alert: Alert) -> None:
        payload = slack_payload(alert)
        url = self._url.get_secret_value()
        try:
            if self._client is None:
                async with httpx.AsyncClient(timeout=self._timeout) as client:
                    response = await client.post(url, json=payload)
            else:
                response = await self._client.post(url, json=payload, timeout=self._timeout)
        except httpx.HTTPError as exc:
            # from None: the cause's request carries the URL
            raise AlertError(self._scrub(_describe(exc)), channel=self.name) from None
        if not response.is_success:
            reply = " ".join(response.text.split())[:200] or response.reason_phrase
            message = f"the webhook answered {response.status_code}: {reply}"
            raise AlertError(self._scrub(message), channel=self.name)

    def _scrub(self, text: str) -> str:
        """``text`` without the URL or any long part of its path (the token)."""
        url = self._url.get_secret_value()
        path = urlsplit(url).path
        secrets = [url, url.rstrip("/"), path, *(p for p in path.split("/") if len(p) >= 8)]
        for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
            text = text.replace(secret, _HIDDEN)
        return text


def _describe(exc: httpx.HTTPError) -> str:
    detail = " ".join(str(exc).split())
    return f"cannot post to the webhook: {type(exc).__name__}" + (f": {detail}" if detail else "")


def slack_payload(alert: Alert) -> dict[str, Any]:
    """The message: a bold title, the text (in a code block when it is a table), the
    attachments by name, and the severity, kind and key in small print."""
    heading = f"{_ICONS[alert.severity]} *{_escape(alert.title)}*"
    blocks: list[dict[str, Any]] = [_section(heading)]
    if alert.text.strip():
        body = _fit(_escape(alert.text.rstrip().replace("```", "'''")))
        blocks.append(_section(f"```\n{body}\n```" if looks_like_table(alert.text) else body))
    if alert.attachments:
        names = ", ".join(f"`{_escape(a.filename)}`" for a in alert.attachments)
        blocks.append(_context(f"Attachments (sent by email, not to Slack): {names}"))
    blocks.append(_context(f"{alert.severity.name} · {alert.kind} · {_escape(alert.key)}"))
    return {"text": f"[{alert.severity.name}] {alert.title}", "blocks": blocks}


def looks_like_table(text: str) -> bool:
    """A rule of dashes, or several lines with aligned columns: keep it monospaced."""
    if _RULE.search(text):
        return True
    return sum(1 for line in text.splitlines() if _COLUMNS.search(line.strip())) >= 2


def _fit(text: str) -> str:
    if len(text) <= MAX_SECTION:
        return text
    note = "\n… (cut short; the full text is in the email and the journal)"
    return text[: MAX_SECTION - len(note)] + note


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
