"""The client's default httpx transport: our h11 pool (``h11_pool.py``) over ``AsyncioBackend``.

(``engine="httpcore"`` keeps httpcore's connection pool over the same backend, the
transport as it was before the h11 pool, for comparison: ``python -m bench.http_backend``.)

Why: the daemon is CPU-bound on its one thread, and the bare HTTP stack was a third of
that CPU (0.785 ms a request, 7.9 of the reference cycle's 21.9 s). httpx's own
``AsyncHTTPTransport`` runs httpcore over anyio; this one gives httpcore's pool the
asyncio-native network backend of ``asyncio_backend.py`` through httpcore's public
``network_backend`` argument. Everything else is httpx's ``AsyncHTTPTransport`` as the
client used it (TLS verified against certifi's CAs, the same limits and keep-alive),
with its request/response mapping and its translation of httpcore's exceptions into
httpx's, so the client's error handling sees the same types.

Measured on the 2-core development machine (shared, so CPU seconds, least of interleaved
rounds): ``python -m bench.http_backend --rounds 15``, bare ``GET balances`` through
``ClearStreetClient`` at 32 connections (four pools of 8) against the simulator, 1,000
requests a round: 0.739 ms CPU a request with httpx's transport (rounds 0.739-1.108),
0.557 ms with this one (0.557-0.763), a quarter less, lower in every pair of rounds. The
whole cycle (``python -m bench``, 2,000 accounts, 10,027 requests), runs alternating
with the code before: 24.5 and 26.0 s of CPU before, 19.8 and 22.2 s after. Under
cProfile the backend's own calls are about 2 % of the request's time; the rest is
httpcore's pool (which still takes anyio locks), h11 and httpx, which this does not
change. The h11 pool then took httpcore's pool and its anyio locks out of the way:
figures in ``h11_pool.py``.
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
from exerciser.adapters.clearstreet.h11_pool import H11Pool, httpx_error

Engine = Literal["h11", "httpcore"]


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

    ``engine`` picks the pool: ``"h11"`` is ours (``h11_pool.py``), ``"httpcore"``
    httpcore's ``AsyncConnectionPool``; both over the same network backend."""

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        ssl_context: ssl.SSLContext | None = None,
        network_backend: httpcore.AsyncNetworkBackend | None = None,
        engine: Engine = "h11",
    ) -> None:
        context = ssl_context if ssl_context is not None else httpx.create_ssl_context()
        backend = network_backend or AsyncioBackend()
        self._h11: H11Pool | None = None
        self._pool: httpcore.AsyncConnectionPool | None = None
        if engine == "h11":
            self._h11 = H11Pool(
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
        if self._h11 is not None:
            return await self._h11.handle(request)
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

    async def aclose(self) -> None:
        if self._h11 is not None:
            await self._h11.aclose()
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
