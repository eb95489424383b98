"""The DEBUG line of a retry after a 429 shows the pause the client really takes."""

from __future__ import annotations

import json
import logging
import re

import pytest
from aiohttp import web

from bigmind_async import AsyncBigMind

from .servers import TinyServer

RATE_LIMITED = {"success": False, "error": {"code": "RATE_LIMITED", "message": "slow down"}}
NO_REPORTS = {"success": True, "data": {"reports": []}}


async def test_429_without_retry_after_logs_the_backoff_pause(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No Retry-After: the client pauses for its own backoff, and the line says how long
    (it said 0 ms)."""
    answers = [(429, RATE_LIMITED), (200, NO_REPORTS)]

    async def handler(request: web.Request) -> web.StreamResponse:
        status, body = answers.pop(0)
        return web.Response(status=status, body=json.dumps(body).encode())  # no Retry-After

    caplog.set_level(logging.DEBUG, logger="bigmind")
    async with (
        TinyServer(handler) as server,
        AsyncBigMind(
            "sk_test_x", server.url, rate_limit=None, backoff_base=0.01, backoff_cap=0.01
        ) as client,
    ):
        await client.reports.list("cus_1", "1.2.3")
    retries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("retry ")]
    assert 1 == len(retries)
    found = re.search(r"delay_ms=([0-9.]+)", retries[0])
    assert found is not None
    assert 0.0 < float(found.group(1)) <= 10.0
