"""The client's default httpx transport: our HTTP/1.1 pool (``pool.py``) over the
asyncio-native network backend (``asyncio_backend.py``).

Why: the daemon is CPU-bound on its one thread, and the bare HTTP stack was a third of
that CPU (0.785 ms a request, 7.9 of the 0f159fb reference cycle's 21.9 s). httpx's own
``AsyncHTTPTransport`` runs httpcore's pool over anyio. Measured on the 2-core
development machine (shared, so CPU seconds, least of interleaved rounds of 1,000 bare
``GET balances`` at 32 connections, ``python -m bench.http_backend``): 0.739 ms a request
with httpx's transport, 0.557 ms with httpcore's pool over our backend, and 0.43-0.57 ms
with our pool over it (figures in ``pool.py``; and ``http11.py`` took 7.2 % of the
benchmark cycle's instructions off since).

``engine="httpcore"`` keeps httpcore's ``AsyncConnectionPool`` over the same backend (its
public ``network_backend`` argument), so the two engines can be compared and the tests
show both raise the exception types httpx's own transport raises.

``environment_proxy`` reads the proxy the environment names; the client serves a proxied
broker with httpx's own transport (``proxy=``), which this one does not replace.
"""

from __future__ import annotations

import ssl
import urllib.request
from collections.abc import AsyncIterable, AsyncIterator
from typing import Literal
from urllib.parse import urlsplit

import httpcore
import httpx

from exerciser.adapters.clearstreet.asyncio_backend import AsyncioBackend
from exerciser.adapters.clearstreet.pool import Origin, Pool, Reply, Timeouts, httpx_error

Engine = Literal["pool", "httpcore"]


def environment_proxy(url: str) -> str | None:
    """The proxy the environment names for ``url``, or None: ``HTTPS_PROXY`` or
    ``HTTP_PROXY`` by the URL's scheme, else ``ALL_PROXY``, unless ``NO_PROXY`` exempts the
    host (the standard library's reading of these variables, as httpx's is)."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass(parts.netloc):
        return None
    return proxy if "://" in proxy else f"http://{proxy}"


class AsyncioTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over a pool of at most ``limits.max_connections`` connections.

    ``engine`` picks the pool: ``"pool"`` is ours (``pool.py``), ``"httpcore"``
    httpcore's ``AsyncConnectionPool``; both over the same network backend."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        engine: Engine = "pool",
    ) -> None:
        context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        backend = network_backend or AsyncioBackend()
        self._ours: Pool | None = None
        self._pool: httpcore.AsyncConnectionPool | None = None
        if engine == "pool":
            self._ours = Pool(
                ssl_context=context,
                network_backend=backend,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
            )
        else:
            self._pool = httpcore.AsyncConnectionPool(
                ssl_context=context,
                max_connections=limits.max_connections,
                max_keepalive_connections=limits.max_keepalive_connections,
                keepalive_expiry=limits.keepalive_expiry,
                network_backend=backend,
            )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._ours is not None:
            return await self._ours.handle(request)
        assert self._pool is not None
        assert isinstance(request.stream, httpx.AsyncByteStream)
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            response = await self._pool.handle_async_request(core_request)
        except Exception as exc:
            translated = httpx_error(exc)
            if translated is None:
                raise
            raise translated from exc
        assert isinstance(response.stream, AsyncIterable)
        return httpx.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    @property
    def exchanges(self) -> bool:
        """Whether ``exchange`` is there: our pool, not httpcore's."""
        return self._ours is not None

    async def exchange(
        self,
        origin: Origin,
        method: str,
        target: bytes,
        *,
        headers: list[tuple[bytes, bytes]],
        content: bytes,
        timeouts: Timeouts,
    ) -> Reply:
        """``Pool.exchange``, the body decoded by its Content-Encoding as httpx decodes
        it (``httpx.DecodingError`` when it cannot be). The client's path: a request
        through httpx's models costs 50-70 us more of CPU (building the request, its URL
        and headers, and the response), about a fifth of a bare GET."""
        assert self._ours is not None, "exchange needs engine='pool'"
        reply = await self._ours.exchange(
            origin, method, target, headers=headers, content=content, timeouts=timeouts
        )
        if any(name.lower() == b"content-encoding" for name, _ in reply.headers):
            decoded = httpx.Response(reply.status, headers=reply.headers, content=reply.body)
            return reply._replace(body=decoded.content)
        return reply

    async def aclose(self) -> None:
        if self._ours is not None:
            await self._ours.aclose()
        if self._pool is not None:
            await self._pool.aclose()


class _ResponseStream(httpx.AsyncByteStream):
    """The reply's body as httpcore streams it, its errors translated as above."""

    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for part in self._stream:
                yield part
        except Exception as exc:
            translated = httpx_error(exc)
            if translated is None:
                raise
            raise translated from exc

    async def aclose(self) -> None:
        closing = getattr(self._stream, "aclose", None)
        if closing is not None:
            await closing()
