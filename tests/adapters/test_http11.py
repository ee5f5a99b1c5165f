"""http11.py, the client's HTTP/1.1 reader and writer, held to h11's behaviour.

h11 (which the pool used before, and the simulator serves with) is the oracle: on any
bytes, what our reader accepts h11 accepts with the same status, headers, body and
keep-alive; whatever h11 refuses ours refuses. Ours may refuse more (it is stricter on
purpose: no bare LF, no line folding, no control characters, no Transfer-Encoding with a
Content-Length, HTTP/1.x only); well-formed replies it must read exactly as h11 does.
The pool's behaviour over real sockets is in test_asyncio_backend.py.
"""

from __future__ import annotations

import string

import h11
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exerciser.adapters.clearstreet.http11 import (
    END,
    MAX_HEAD,
    NEED_DATA,
    Head,
    ReplyReader,
    chunk,
    request_head,
)

Outcome = tuple[int, bytes, list[tuple[bytes, bytes]], bytes, bool] | str

TOKEN = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
VCHAR = "".join(chr(c) for c in range(0x21, 0x7F))
FRAMING = (b"content-length", b"transfer-encoding")


def ours(method: str, pieces: list[bytes]) -> Outcome:
    """Status, reason, headers, body and reusability as our reader reads the pieces
    (fed one at a time, only when it asks; then the end of the connection); or 'error'."""
    reader = ReplyReader(method)
    feed = iter([*pieces, b""])
    head: Head | None = None
    body = bytearray()
    try:
        while (event := reader.next_event()) is not END:
            if event is NEED_DATA:
                reader.feed(next(feed))  # StopIteration: it asked for more after the end
            elif isinstance(event, Head):
                head = event
            else:
                assert isinstance(event, bytes)
                assert event, "an empty piece of body"
                body += event
    except httpx.RemoteProtocolError:
        return "error"
    assert head is not None
    return head.status, head.reason, _unframed(head.headers), bytes(body), reader.reusable


def theirs(method: str, pieces: list[bytes]) -> Outcome:
    """The same, read by h11 as a client that sent a ``method`` request."""
    connection = h11.Connection(h11.CLIENT, max_incomplete_event_size=MAX_HEAD)
    connection.send(h11.Request(method=method, target="/", headers=[("Host", "broker")]))
    connection.send(h11.EndOfMessage())
    feed = iter([*pieces, b""])
    head: h11.Response | None = None
    body = bytearray()
    closed = False  # h11 ends a reply framed by the close as DONE: not reusable all the same
    try:
        while True:
            event = connection.next_event()
            if event is h11.NEED_DATA:
                data = next(feed)
                closed = not data
                connection.receive_data(data)
            elif isinstance(event, h11.Response):
                head = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                break
            elif not isinstance(event, h11.InformationalResponse):
                return "error"  # ConnectionClosed before the reply ended
    except h11.RemoteProtocolError:
        return "error"
    assert head is not None
    reusable = (
        not closed
        and connection.our_state is h11.DONE
        and connection.their_state is h11.DONE
        and not connection.trailing_data[0]
    )
    headers = _unframed(list(head.headers.raw_items()))
    return head.status_code, head.reason, headers, bytes(body), reusable


def _unframed(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """Headers but the framing ones, whose values h11 rewrites (``5, 5`` -> ``5``)."""
    return [(n, v) for n, v in headers if n.lower() not in FRAMING]


# ------------------------------------------------------------------ replies


tokens = st.text(TOKEN, min_size=1, max_size=10).map(str.encode)
values = st.lists(st.text(VCHAR, min_size=1, max_size=8), max_size=3).map(
    lambda words: " ".join(words).encode()
)
plain_headers = st.lists(
    st.tuples(tokens, values).filter(lambda h: h[0].lower() not in (*FRAMING, b"connection")),
    max_size=5,
)
bodies = st.binary(max_size=300)


@st.composite
def replies(draw: st.DrawFn) -> tuple[str, bytes, int, bytes]:
    """A well-formed reply: (method, bytes, status, body as the client should see it)."""
    method = draw(st.sampled_from(["GET", "POST", "HEAD"]))
    informational = b"".join(
        b"HTTP/1.1 %d Info\r\n\r\n" % code
        for code in draw(st.lists(st.sampled_from([100, 102, 103]), max_size=2))
    )
    version = draw(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]))
    status = draw(st.sampled_from([200, 201, 204, 207, 304, 400, 404, 409, 429, 503]))
    reason = draw(st.sampled_from([b" OK", b" Multi Status", b" ", b""]))
    headers = draw(plain_headers)
    if draw(st.booleans()):
        headers.append((b"Connection", draw(st.sampled_from([b"close", b"keep-alive"]))))
    body = draw(bodies)
    bodiless = method == "HEAD" or status in (204, 304)
    framing = draw(st.sampled_from(["length", "chunked", "close"]))
    if framing == "length":
        headers.append((b"Content-Length", b"%d" % len(body)))
        wire = body
    elif framing == "chunked":
        headers.append((b"Transfer-Encoding", draw(st.sampled_from([b"chunked", b"Chunked"]))))
        cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
        parts = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
        extension = draw(st.sampled_from([b"", b";name=value", b";x"]))
        wire = b"".join(b"%x%s\r\n%s\r\n" % (len(p), extension, p) for p in parts if p)
        trailers = draw(plain_headers)
        wire += b"0\r\n" + b"".join(n + b": " + v + b"\r\n" for n, v in trailers) + b"\r\n"
    else:
        wire = body
    if bodiless:
        wire, body = b"", b""
    lines = b"".join(n + b": " + v + b"\r\n" for n, v in headers)
    reply = informational + version + b" %d" % status + reason + b"\r\n" + lines + b"\r\n" + wire
    if framing != "close" or bodiless:  # bytes after a reply framed by its headers
        reply += draw(st.sampled_from([b"", b"HTTP/1.1 200 OK\r\n", b"\r\n"]))
    return method, reply, status, body


def pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({min(c, len(data)) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True) if b > a]


@settings(max_examples=400)
@given(replies(), st.lists(st.integers(0, 2000), max_size=6))
def test_well_formed_replies_read_as_h11_reads_them(
    reply: tuple[str, bytes, int, bytes], cuts: list[int]
) -> None:
    method, data, status, body = reply
    split = pieces(data, cuts)
    read = ours(method, split)
    assert read == theirs(method, split)
    assert not isinstance(read, str)
    assert read[0] == status
    assert read[3] == body


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    method, data, _, _ = draw(replies())
    damaged = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(damaged)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        junk = draw(st.sampled_from([b"\r", b"\n", b"\r\n", b" ", b"\t", b":", b"\x00", b"0"]))
        junk = draw(st.one_of(st.just(junk), st.binary(min_size=1, max_size=3)))
        if kind == "insert":
            damaged[at:at] = junk
        elif kind == "delete":
            del damaged[at : at + len(junk)]
        else:
            damaged[at : at + len(junk)] = junk
    return method, bytes(damaged)


@settings(max_examples=1500)
@given(mutated(), st.lists(st.integers(0, 2000), max_size=4))
def test_on_any_bytes_ours_accepts_only_what_h11_accepts_and_reads_it_the_same(
    reply: tuple[str, bytes], cuts: list[int]
) -> None:
    method, data = reply
    split = pieces(data, cuts)
    read = ours(method, split)  # raises nothing but RemoteProtocolError, never hangs
    if read != "error":
        assert read == theirs(method, split)


# -------------------------------------------------- what ours refuses on purpose

OK = b"HTTP/1.1 200 OK\r\n"
CHUNKED = OK + b"Transfer-Encoding: chunked\r\n\r\n"

ACCEPTED_BY_H11_REFUSED_BY_US = {
    "both Transfer-Encoding and Content-Length": (
        OK + b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    ),
    "a bare LF ending the head": b"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
    "a folded header line": OK + b"X-A: one\r\n two\r\nContent-Length: 0\r\n\r\n",
    "a control character in a value": OK + b"X-A: a\x01b\r\nContent-Length: 0\r\n\r\n",
    "HTTP/2.0 on an HTTP/1 connection": b"HTTP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n",
    "101 with no upgrade asked for": (
        b"HTTP/1.1 101 Switching Protocols\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
    ),
}


@pytest.mark.parametrize(
    "data", ACCEPTED_BY_H11_REFUSED_BY_US.values(), ids=list(ACCEPTED_BY_H11_REFUSED_BY_US)
)
def test_stricter_than_h11_where_it_is_on_purpose(data: bytes) -> None:
    assert ours("GET", [data]) == "error"


REFUSED_BY_BOTH = {
    "not HTTP": b"SSH-2.0-OpenSSH_9.6\r\n\r\n",
    "a three-digit status is required": b"HTTP/1.1 20 OK\r\n\r\n",
    "a status below 100": b"HTTP/1.1 099 Info\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    "a space before the colon": OK + b"X-A : b\r\nContent-Length: 0\r\n\r\n",
    "conflicting Content-Lengths": OK + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "a Content-Length that is not digits": OK + b"Content-Length: -1\r\n\r\n",
    "a Content-Length of 21 digits": OK + b"Content-Length: 1" + b"0" * 20 + b"\r\n\r\n",
    "a coding other than chunked": OK + b"Transfer-Encoding: gzip\r\n\r\nxx",
    "a chunk longer than its size": CHUNKED + b"2\r\nabc\r\n0\r\n\r\n",
    "a chunk size that is not hex": CHUNKED + b"zz\r\n",
    "a body cut short": OK + b"Content-Length: 10\r\n\r\nabc",
    "a chunked body cut short": CHUNKED + b"5\r\nab",
    "a head cut short": OK + b"Content-Len",
    "nothing at all": b"",
    "a head longer than the limit": OK + b"X-A: b\r\n" * (MAX_HEAD // 8 + 1),
}


@pytest.mark.parametrize("data", REFUSED_BY_BOTH.values(), ids=list(REFUSED_BY_BOTH))
def test_malformed_replies_are_refused_as_h11_refuses_them(data: bytes) -> None:
    assert theirs("GET", [data]) == "error"
    assert ours("GET", [data]) == "error"


def test_a_peer_that_closes_before_a_byte_is_the_message_the_pool_always_gave() -> None:
    reader = ReplyReader("GET")
    reader.feed(b"")
    with pytest.raises(
        httpx.RemoteProtocolError, match=r"^Server disconnected without sending a response\.$"
    ):
        reader.next_event()


def test_a_reply_read_to_the_end_of_the_connection_is_whole_but_not_reusable() -> None:
    data = OK + b"\r\n" + b"x" * 70_000
    assert ours("GET", [data[:100], data[100:]]) == (200, b"OK", [], b"x" * 70_000, False)


# ------------------------------------------------------------------ requests


@given(
    st.sampled_from(["GET", "POST", "DELETE"]),
    st.text(TOKEN + "/?=&%", min_size=0, max_size=30),
    plain_headers,
)
def test_a_request_head_reads_back_the_same_through_h11(
    method: str, path: str, headers: list[tuple[bytes, bytes]]
) -> None:
    target = b"/" + path.encode()
    head = request_head(method, target, [(b"Host", b"broker"), *headers])
    server = h11.Connection(h11.SERVER)
    server.receive_data(head)
    event = server.next_event()
    assert isinstance(event, h11.Request)
    assert (event.method, event.target) == (method.encode(), target)
    assert list(event.headers.raw_items()) == [(b"Host", b"broker"), *headers]


@pytest.mark.parametrize(
    "value",
    [b"Bearer s3cret\r\nX-Evil: 1", b"s3cret\n", b"s3\x00cret", b" s3cret", b"s3cret "],
    ids=["CRLF", "LF", "NUL", "leading space", "trailing space"],
)
def test_a_bad_header_value_is_refused_without_showing_it(value: bytes) -> None:
    with pytest.raises(httpx.LocalProtocolError) as refused:
        request_head("GET", b"/", [(b"Authorization", value)])
    assert "Authorization" in str(refused.value)
    assert "s3" not in str(refused.value)


@pytest.mark.parametrize(
    ("method", "target"), [("GE T", b"/"), ("GET", b"/a b"), ("GET", b"/a\r\n"), ("GET", b"")]
)
def test_a_bad_method_or_target_is_refused(method: str, target: bytes) -> None:
    with pytest.raises(httpx.LocalProtocolError):
        request_head(method, target, [])


def test_chunks_frame_a_body_as_h11_reads_it() -> None:
    server = h11.Connection(h11.SERVER)
    head = request_head("POST", b"/", [(b"Host", b"b"), (b"Transfer-Encoding", b"chunked")])
    server.receive_data(head + chunk(b"hello ") + chunk(b"world") + chunk(b""))
    events = []
    while (event := server.next_event()) is not h11.NEED_DATA:
        events.append(event)
        if isinstance(event, h11.EndOfMessage):
            break
    assert b"".join(e.data for e in events if isinstance(e, h11.Data)) == b"hello world"
    assert isinstance(events[-1], h11.EndOfMessage)
