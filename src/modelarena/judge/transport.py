"""An httpx transport that sends requests through one pooled aiohttp session.

The `openai` client speaks httpx; httpx's own connection pool costs about 4 ms of CPU per
request at 64 connections on a 2-core machine (bench/judge.py), aiohttp's a tenth of that.
Responses are read whole (the judge never streams) and handed to httpx still encoded, so
httpx decodes them as usual.
"""

from __future__ import annotations

import aiohttp
import httpx

# Set by aiohttp itself, or meaningless once the body is read whole.
_SKIPPED_HEADERS = frozenset({b"host", b"content-length", b"connection", b"transfer-encoding"})


class AiohttpTransport(httpx.AsyncBaseTransport):
    """At most `limit` connections; create and close it in the event loop that uses it."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                auto_decompress=False,
                skip_auto_headers=("Accept-Encoding", "User-Agent"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeout = request.extensions.get("timeout", {})
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in request.headers.raw
            if k.lower() not in _SKIPPED_HEADERS
        ]
        try:
            async with self._open().request(
                request.method,
                str(request.url),
                headers=headers,
                data=await request.aread(),
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(
                    sock_connect=timeout.get("connect"), sock_read=timeout.get("read")
                ),
            ) as response:
                content = await response.read()
        except TimeoutError as exc:  # asyncio.TimeoutError is this since 3.11
            raise httpx.ReadTimeout(str(exc) or "timed out", request=request) from exc
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from exc
        except aiohttp.ClientError as exc:
            raise httpx.NetworkError(str(exc) or type(exc).__name__, request=request) from exc
        return httpx.Response(
            response.status, headers=list(response.raw_headers), content=content, request=request
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
