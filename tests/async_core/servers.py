"""Tiny loopback servers for behaviours the emulator does not have (redirects, junk bodies).

Not tests: ``__test__ = False``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

__test__ = False

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class TinyServer:
    """An aiohttp app on 127.0.0.1:0 answering every path with ``handler``; records requests."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.port = 0

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        self.requests.append(
            {
                "method": request.method,
                "raw_path": request.raw_path,
                "headers": dict(request.headers),
            }
        )
        return await self.handler(request)

    async def __aenter__(self) -> TinyServer:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/partner/v1"


class StaleKeepAliveServer:
    """Raw HTTP/1.1 over asyncio: answers the first request of each connection with a
    keep-alive 200 envelope, then closes the connection when a second request arrives on it
    (what a server that timed out an idle keep-alive connection does)."""

    BODY = b'{"success":true,"data":{"reports":[]}}'

    def __init__(self) -> None:
        self.connections = 0
        self.requests = 0
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.requests += 1
                if served >= 1:
                    break  # drop it without an answer
                served += 1
                del head
                writer.write(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Connection: keep-alive\r\nX-Request-Id: req_stale\r\n"
                    b"Content-Length: " + str(len(self.BODY)).encode() + b"\r\n\r\n" + self.BODY
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def __aenter__(self) -> StaleKeepAliveServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/partner/v1"
