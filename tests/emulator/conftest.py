"""Fixtures of the emulator tests: an aiohttp session that sends the emulator's key."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from .helpers import Env, auth


@pytest.fixture
async def client(emulator: Env) -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session carrying ``Authorization: Bearer <emulator key>``."""
    async with aiohttp.ClientSession(headers=auth(emulator.api_key)) as session:
        yield session


@pytest.fixture
async def anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    """A plain aiohttp session with no credentials."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def fresh(emulator: Env) -> AsyncIterator[aiohttp.ClientSession]:
    """Like ``client``, but every dropped connection reaches the test.

    aiohttp silently re-sends an idempotent request (GET, DELETE...) once when the connection
    drops; this session turns that off (a private switch, fine for a test) and never reuses
    connections, so a test sees every reset.
    """
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(headers=auth(emulator.api_key), connector=connector) as s:
        if hasattr(s, "_retry_connection"):
            s._retry_connection = False
        yield s
