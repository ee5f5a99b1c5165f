"""HTTP/1.1 for the client's pool, sans I/O: a request's head written, a reply read.

Why not h11, which the pool used before (and httpcore uses): the daemon is CPU-bound on
its one thread, and h11's general state machine (both roles, every event validated and
wrapped in an object, headers normalised and checked twice) was the largest part of the
pool's CPU. Counted in instructions, which the machine's noise does not move (``python
-m bench.instructions --tree`` a checkout of the commit before): the benchmark's cycle
went from 34.64 to 32.94 million instructions an account with this module, 4.9 % fewer
(figures in ``bench/README.md``).

What is read, and how strictly (RFC 9112; anything else is ``RemoteProtocolError``):

- a status line ``HTTP/1.0`` or ``HTTP/1.1``, a three-digit status from 100 and an
  optional reason; header lines ``name: value`` with a token for a name, ending in CRLF (no bare
  LF, no line folding, no NUL or control characters); the head at most ``max_head``
  bytes; 1xx replies are skipped, except 101 (no upgrades here);
- the body framed as RFC 9112 section 6.3 says: none after a HEAD request or for 1xx,
  204 and 304; ``Transfer-Encoding: chunked`` (the only coding supported; chunk
  extensions and trailers are read and dropped); else one ``Content-Length`` of digits
  (repeats must agree); else up to the end of the connection. Both a
  ``Transfer-Encoding`` and a ``Content-Length`` is refused (a sign of smuggling);
- the connection may carry another exchange only if the reply was HTTP/1.1, did not say
  ``Connection: close``, was framed by its headers, and nothing came after it.

The differential tests (``tests/adapters/test_http11.py``) hold the reader to h11's: on
any bytes, what this reader accepts h11 accepts, with the same status, headers and body.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import NamedTuple

import httpx

MAX_HEAD = 100 * 1024  # as httpcore sets h11's limit on an incomplete head
MAX_CHUNK_LINE = 4 * 1024  # a chunk-size line or a trailer line
MAX_LENGTH_DIGITS = 20  # as h11: a Content-Length under 10**20

_STATUS = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: ([\t\x20-\x7e\x80-\xff]*))?")
# One character class each, repeated: a regex with a repeated group (as h11's for a
# field value) costs several times more per header, and so does ``bytes.translate``.
_TOKEN = re.compile(rb"[-!#$%&'*+.^_`|~0-9A-Za-z]+")
_VALUE = re.compile(rb"[\t\x20-\x7e\x80-\xff]*")  # HTAB, SP, VCHAR, obs-text
_OWS = b" \t"
_CHUNK_SIZE = re.compile(rb"([0-9A-Fa-f]{1,16})(?:;[^\r\n\x00]*)?[ \t]*")
_NO_BODY_STATUS = frozenset({204, 304})


def request_head(method: str, target: bytes, headers: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The head of a request: request line and header lines. A name that is not a token
    or a value with control characters (a CR or LF would end the line and start another)
    is ``LocalProtocolError``, naming the header but never its value (it may be a
    credential)."""
    if not _is_token(method.encode("ascii", "replace")):
        raise httpx.LocalProtocolError(f"invalid method {method!r}")
    if not target or b" " in target or b"\r" in target or b"\n" in target:
        raise httpx.LocalProtocolError("invalid request target")
    lines = [method.encode("ascii"), b" ", target, b" HTTP/1.1\r\n"]
    for name, value in headers:
        if not _is_token(name) or not _is_value(value) or value.strip(_OWS) != value:
            shown = name.decode("ascii", "replace")
            raise httpx.LocalProtocolError(f"invalid header {shown!r}: a bad name or value")
        lines += (name, b": ", value, b"\r\n")
    lines.append(b"\r\n")
    return b"".join(lines)


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked request body (empty data: the last chunk)."""
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b"0\r\n\r\n"


class Head(NamedTuple):
    """A reply's status line and headers, names as sent."""

    status: int
    reason: bytes
    headers: list[tuple[bytes, bytes]]
    http_version: bytes  # b"HTTP/1.0" or b"HTTP/1.1"


class _Need:
    """More bytes must be fed before the next event."""


class _End:
    """The reply's body is complete."""


NEED_DATA = _Need()
END = _End()

Event = Head | bytes | _Need | _End

_HEAD, _FIXED, _CHUNK_LINE, _CHUNK_DATA, _CHUNK_END, _TRAILER, _UNTIL_CLOSE, _DONE = range(8)


class ReplyReader:
    """Reads one reply to a request of ``method`` from the bytes fed to it: its head
    (1xx replies skipped), then its body in pieces, then ``END``.

    ``feed(b"")`` says the peer closed. ``next_event()`` returns a ``Head``, a piece of
    the body (``bytes``, never empty), ``END``, or ``NEED_DATA``; a malformed reply, or
    one cut short by the peer closing, raises ``httpx.RemoteProtocolError``.
    """

    __slots__ = (
        "_buffer",
        "_closed",
        "_head_only",
        "_keep_alive",
        "_left",
        "_max_head",
        "_state",
    )

    def __init__(self, method: str, *, max_head: int = MAX_HEAD) -> None:
        self._buffer = bytearray()
        self._closed = False  # the peer closed
        self._head_only = method == "HEAD"
        self._keep_alive = False
        self._left = 0  # bytes left of the body (fixed) or of the chunk
        self._max_head = max_head
        self._state = _HEAD

    def feed(self, data: bytes) -> None:
        if data:
            self._buffer += data
        else:
            self._closed = True

    @property
    def reusable(self) -> bool:
        """The reply is complete, framed by its headers, and kept alive; nothing followed."""
        return self._state == _DONE and self._keep_alive and not self._buffer

    def next_event(self) -> Event:
        state = self._state
        if state == _FIXED:
            return self._fixed()
        if state == _HEAD:
            return self._head()
        if state == _UNTIL_CLOSE:
            return self._until_close()
        if state == _DONE:
            return END
        return self._chunked()

    # ------------------------------------------------------------------ the head

    def _head(self) -> Event:
        while True:
            buffer = self._buffer
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > self._max_head:
                    raise httpx.RemoteProtocolError("reply head too long")
                if self._closed:
                    raise httpx.RemoteProtocolError(
                        "peer closed in the middle of a reply head"
                        if buffer
                        else "Server disconnected without sending a response."
                    )
                return NEED_DATA
            if end > self._max_head:
                raise httpx.RemoteProtocolError("reply head too long")
            lines = bytes(buffer[:end]).split(b"\r\n")
            del buffer[: end + 4]
            head = _parse_head(lines)
            if head.status >= 200:
                return self._framed(head)
            if head.status == 101:
                raise httpx.RemoteProtocolError("unexpected 101 Switching Protocols")
            # 1xx: skipped; the real reply follows

    def _framed(self, head: Head) -> Head:
        """Decide how the body is framed, and whether the connection can be kept."""
        codings, lengths, close = _framing(head.headers)
        length = _length(codings, lengths)
        self._keep_alive = head.http_version == b"HTTP/1.1" and not close
        if self._head_only or head.status in _NO_BODY_STATUS:
            self._state = _DONE
        elif codings:
            self._state = _CHUNK_LINE
        elif length is not None:
            self._left = length
            self._state = _FIXED if length else _DONE
        else:
            self._keep_alive = False
            self._state = _UNTIL_CLOSE
        return head

    # ------------------------------------------------------------------ the body

    def _fixed(self) -> Event:
        buffer = self._buffer
        if not buffer:
            if self._closed:
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body "
                    f"({self._left} bytes short)"
                )
            return NEED_DATA
        if len(buffer) <= self._left:
            data = bytes(buffer)
            buffer.clear()
        else:
            data = bytes(buffer[: self._left])
            del buffer[: self._left]
        self._left -= len(data)
        if not self._left:
            self._state = _DONE
        return data

    def _until_close(self) -> Event:
        buffer = self._buffer
        if buffer:
            data = bytes(buffer)
            buffer.clear()
            return data
        if self._closed:
            self._state = _DONE
            return END
        return NEED_DATA

    def _chunked(self) -> Event:
        buffer = self._buffer
        while True:
            state = self._state
            if state == _CHUNK_DATA:
                if not buffer:
                    return self._more()
                take = min(self._left, len(buffer))
                data = bytes(buffer[:take])
                del buffer[:take]
                self._left -= take
                if not self._left:
                    self._state = _CHUNK_END
                return data
            line = self._line()
            if line is None:
                return self._more()
            if state == _CHUNK_LINE:
                match = _CHUNK_SIZE.fullmatch(line)
                if match is None:
                    raise httpx.RemoteProtocolError("bad chunk size line")
                self._left = int(match.group(1), 16)
                self._state = _CHUNK_DATA if self._left else _TRAILER
            elif state == _CHUNK_END:
                if line:
                    raise httpx.RemoteProtocolError("chunk data longer than its size")
                self._state = _CHUNK_LINE
            elif not line:  # _TRAILER: a blank line ends the reply
                self._state = _DONE
                return END
            else:
                _field(line)  # a trailer: checked, and dropped

    def _line(self) -> bytes | None:
        """The next CRLF-ended line of the buffer, without its CRLF; None if incomplete."""
        buffer = self._buffer
        end = buffer.find(b"\r\n", 0, MAX_CHUNK_LINE + 2)
        if end < 0:
            if len(buffer) > MAX_CHUNK_LINE:
                raise httpx.RemoteProtocolError("chunk line too long")
            return None
        line = bytes(buffer[:end])
        del buffer[: end + 2]
        if b"\r" in line or b"\n" in line:
            raise httpx.RemoteProtocolError("bad line ending in a chunked body")
        return line

    def _more(self) -> _Need:
        if self._closed:
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body "
                "(incomplete chunked read)"
            )
        return NEED_DATA


def _parse_head(lines: list[bytes]) -> Head:
    status = _STATUS.fullmatch(lines[0])
    if status is None:
        raise httpx.RemoteProtocolError("reply does not start with an HTTP/1.x status line")
    minor, code, reason = status.groups()
    if code < b"100":
        raise httpx.RemoteProtocolError("reply status below 100")
    headers = [_field(line) for line in lines[1:]]
    return Head(int(code), reason or b"", headers, b"HTTP/1.1" if minor == b"1" else b"HTTP/1.0")


def _framing(headers: list[tuple[bytes, bytes]]) -> tuple[list[bytes], set[bytes], bool]:
    """A reply's transfer codings, its Content-Length values, and whether it says
    ``Connection: close``."""
    codings: list[bytes] = []
    lengths: set[bytes] = set()
    close = False
    for name, value in headers:
        lowered = name.lower()
        if lowered == b"content-length":
            lengths.update(v.strip(_OWS) for v in value.split(b","))
        elif lowered == b"transfer-encoding":
            codings += (c.strip(_OWS).lower() for c in value.split(b","))
        elif lowered == b"connection":
            close = close or any(t.strip(_OWS).lower() == b"close" for t in value.split(b","))
    return codings, lengths, close


def _length(codings: list[bytes], lengths: set[bytes]) -> int | None:
    """The body's length by its Content-Length; None if chunked or not given. Checked on
    every reply, with a body or not, as h11 checks them."""
    if codings:
        if lengths:
            raise httpx.RemoteProtocolError("reply has both Transfer-Encoding and Content-Length")
        if codings != [b"chunked"]:
            raise httpx.RemoteProtocolError("unsupported Transfer-Encoding")
        return None
    if not lengths:
        return None
    if len(lengths) != 1:
        raise httpx.RemoteProtocolError("conflicting Content-Length")
    (length,) = lengths
    if not length.isdigit() or len(length) > MAX_LENGTH_DIGITS:
        raise httpx.RemoteProtocolError("bad Content-Length")
    return int(length)


def _field(line: bytes) -> tuple[bytes, bytes]:
    """A header line's name and value (OWS around it dropped)."""
    name, colon, value = line.partition(b":")
    if not colon or not _is_token(name) or not _is_value(value):
        raise httpx.RemoteProtocolError("malformed header line in reply")
    return name, value.strip(_OWS)


def _is_token(data: bytes) -> bool:
    return _TOKEN.fullmatch(data) is not None


def _is_value(data: bytes) -> bool:
    return _VALUE.fullmatch(data) is not None
