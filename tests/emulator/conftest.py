"""Fixtures of the emulator tests: an aiohttp session that sends the emulator's key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

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


@asynccontextmanager
async def _unretried(headers: dict[str, str]) -> AsyncIterator[aiohttp.ClientSession]:
    """A session that never reuses a connection and never re-sends a request by itself:
    aiohttp silently re-sends an idempotent request (GET, DELETE...) once when the connection
    drops; this turns that off (a private switch, fine for a test), so a test sees every reset.
    """
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as s:
        if hasattr(s, "_retry_connection"):
            s._retry_connection = False
        yield s


@pytest.fixture
async def fresh(emulator: Env) -> AsyncIterator[aiohttp.ClientSession]:
    """Like ``client``, but every dropped connection reaches the test."""
    async with _unretried(auth(emulator.api_key)) as session:
        yield session


@pytest.fixture
async def fresh_anonymous() -> AsyncIterator[aiohttp.ClientSession]:
    """Like ``anonymous`` (for presigned URLs), but every dropped connection reaches the test."""
    async with _unretried({}) as session:
        yield session
