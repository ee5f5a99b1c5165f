"""The one exception tree of exerciser.

    ExerciserError
    ├── ConfigError                 settings or a config file is invalid (exit 2)
    │   ├── RulesError              a rules file is invalid
    │   └── PricesError             a --prices file is invalid
    ├── BrokerError                 talking to the Clear Street API went wrong
    │   ├── BrokerTransientError    worth retrying: 5xx, 429, timeouts, connection resets
    │   ├── BrokerPermanentError    retrying the same request cannot help
    │   │   ├── BrokerAuthError         401 / 403
    │   │   ├── BrokerNotFoundError     404
    │   │   ├── BrokerConflictError     409
    │   │   └── BrokerValidationError   400 / 422 and other 4xx
    │   ├── BrokerAmbiguousError    a POST or DELETE whose reply never arrived: it may or
    │   │                           may not have taken effect; look before you resend
    │   └── BrokerProtocolError     the reply is not JSON or not the documented envelope
    ├── JournalError                the journal cannot be opened, read or written
    └── AlertError                  a channel could not deliver an alert

"Do not exercise" is a decision, never an exception. Library errors (httpx, pydantic)
are translated at the edge and chained with ``from``. Messages never carry secrets.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ExerciserError(Exception):
    """Base of every error exerciser raises on purpose."""


class ConfigError(ExerciserError):
    """Settings are invalid; ``problems`` holds one line per problem."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class RulesError(ConfigError):
    """A rules file is invalid; each problem names file, line, column, field and value."""


class PricesError(ConfigError):
    """A prices file is invalid; each problem names file, line, field and value."""


class JournalError(ExerciserError):
    """The journal cannot be opened, read or written, or was asked to do something that
    only a bug would ask (an unknown instruction id, a second plan for a run).

    Every message names the database file. The file is never deleted or recreated.
    """


class BrokerError(ExerciserError):
    """A call to the broker failed.

    ``rows`` holds the instruction rows the reply carried, if any (an all-rejected
    batch may or may not return them, depending on the API revision); ``request_id``
    is the broker's id for the request, when it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        method: str,
        path: str,
        status: int | None = None,
        request_id: str | None = None,
        rows: Sequence[Any] = (),
    ) -> None:
        self.message = message
        self.method = method
        self.path = path
        self.status = status
        self.request_id = request_id
        self.rows = tuple(rows)
        super().__init__(self._describe())

    def _describe(self) -> str:
        status = f" {self.status}" if self.status is not None else ""
        request = f" (request_id {self.request_id})" if self.request_id else ""
        return f"{self.method} {self.path}{status}: {self.message}{request}"


class BrokerTransientError(BrokerError):
    """The request did not take effect and may succeed later.

    ``retry_after`` is the delay in seconds the broker asked for (429/503), if any.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kw)


class BrokerPermanentError(BrokerError):
    """The broker refused the request; sending it again unchanged cannot help."""


class BrokerAuthError(BrokerPermanentError):
    """401 or 403: the credentials are missing, wrong or lack permission."""


class BrokerNotFoundError(BrokerPermanentError):
    """404: the account, instrument or instruction does not exist."""


class BrokerConflictError(BrokerPermanentError):
    """409: duplicate instruction id, or the instruction is already terminal."""


class BrokerValidationError(BrokerPermanentError):
    """400 and other 4xx: the request was invalid."""


class BrokerAmbiguousError(BrokerError):
    """A POST or DELETE was sent but no usable reply came back.

    The broker may or may not have stored it. The caller must look (list the
    instructions) before deciding to resend, and a resend must reuse the same
    idempotency key.
    """


class BrokerProtocolError(BrokerError):
    """The reply could not be read: not JSON, or not the documented envelope."""


class AlertError(ExerciserError):
    """A channel (Slack, email) could not deliver an alert. The message never carries the
    webhook URL or the password."""

    def __init__(self, message: str, *, channel: str) -> None:
        self.message = message
        self.channel = channel
        super().__init__(f"{channel}: {message}")
