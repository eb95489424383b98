"""Fixtures for the async core: a client wired to the ``emulator`` fixture, with no backoff."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bigmind_async import AsyncBigMind


@pytest.fixture
async def client(emulator) -> AsyncIterator[AsyncBigMind]:  # type: ignore[no-untyped-def]
    """A client of the emulator: 3 retries, zero-delay backoff, no client-side rate limit."""
    async with AsyncBigMind(
        emulator.api_key,
        emulator.base_url,
        max_retries=3,
        rate_limit=None,
        backoff_base=0,
        timeout=10,
    ) as c:
        yield c


@pytest.fixture(autouse=True)
def _no_bigmind_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a developer's BIGMIND_* environment."""
    for name in ("BIGMIND_API_KEY", "BIGMIND_BASE_URL", "BIGMIND_LOG"):
        monkeypatch.delenv(name, raising=False)
