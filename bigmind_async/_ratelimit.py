"""The client-side rate limiter: one budget for every request a client sends, retries included.

A token bucket holding ``burst`` tokens (default: the per-minute rate, the way the API
counts), refilled at ``rate / 60`` tokens a second. Every attempt of every call, and every
reconcile listing, takes one token first; so do the re-sends the HTTP library makes on its own
(counted after the fact with :meth:`RateLimiter.charge`).

Waiters are served first come, first served: a caller reserves its slot at once (the bucket
may go negative) and then sleeps until that slot, so no lock is held while sleeping and the
wait is known up front (a call whose deadline cannot cover it fails at once).

When the server still answers 429, :meth:`RateLimiter.pause` stops everyone until its
``Retry-After`` has passed and halves the burst (never below 1): the server's count evidently
includes traffic this client cannot see (another process of the same partner).
``rate=None`` turns the bucket off; pauses after a 429 still apply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["DeadlineTooShort", "RateLimiter"]


class DeadlineTooShort(Exception):
    """The wait for a token would outlast the caller's deadline."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the rate limiter needs {wait:.2f}s")
        self.wait = wait


class RateLimiter:
    """A first-come-first-served token bucket with server-driven pauses.

    Attributes:
        rate: Requests per minute, or ``None`` when the bucket is off.
        burst: Tokens the bucket holds when full.
        acquired: Tokens handed out so far (including :meth:`charge`).
        pauses: How many 429 answers paused the client.
    """

    def __init__(
        self,
        rate: float | None = 120,
        burst: float | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate is not None and (isinstance(rate, bool) or not rate > 0):
            raise ValueError("rate_limit must be a positive number of requests per minute, or None")
        if burst is not None and burst < 1:
            raise ValueError("rate_limit_burst must be at least 1")
        self.rate = rate
        self.burst = float(burst if burst is not None else (rate if rate is not None else 1))
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.burst
        self._updated = clock()
        self._paused_until = float("-inf")
        self.acquired = 0
        self.pauses = 0

    @property
    def paused_until(self) -> float:
        """Clock time before which nothing is sent (``-inf`` when not paused)."""
        return self._paused_until

    def _refill(self, now: float) -> None:
        assert self.rate is not None
        start = max(self._updated, self._paused_until)
        if now > start:
            self._tokens = min(self.burst, self._tokens + (now - start) * self.rate / 60.0)
        self._updated = max(self._updated, now)

    def reserve(self, *, max_wait: float | None = None) -> float:
        """Take a token now and return the clock time the caller may send at.

        Raises :class:`DeadlineTooShort` (taking nothing) when that is more than ``max_wait``
        seconds away.
        """
        now = self._clock()
        slot = max(now, self._paused_until)
        if self.rate is not None:
            self._refill(now)
            self._tokens -= 1.0
            if self._tokens < 0:
                slot = max(slot, now + (-self._tokens) * 60.0 / self.rate)
        wait = slot - now
        if max_wait is not None and wait > max_wait:
            if self.rate is not None:
                self._tokens += 1.0
            raise DeadlineTooShort(wait)
        self.acquired += 1
        return slot

    async def acquire(self, *, max_wait: float | None = None) -> float:
        """Wait for a token; return the seconds waited. See :meth:`reserve` for ``max_wait``."""
        start = self._clock()
        slot = self.reserve(max_wait=max_wait)
        while True:
            # A pause that arrives while we sleep pushes our slot back.
            target = max(slot, self._paused_until)
            wait = target - self._clock()
            if wait <= 0:
                break
            if max_wait is not None and target - start > max_wait:
                raise DeadlineTooShort(target - start)
            await self._sleep(wait)
        return self._clock() - start

    def charge(self, count: int = 1) -> None:
        """Count ``count`` requests that already went out without asking (hidden re-sends)."""
        if count <= 0:
            return
        now = self._clock()
        if self.rate is not None:
            self._refill(now)
            self._tokens -= count
        self.acquired += count

    def pause(self, retry_after: float) -> None:
        """The server answered 429: stop everyone for ``retry_after`` seconds and slow down."""
        now = self._clock()
        self.pauses += 1
        self._paused_until = max(self._paused_until, now + max(0.0, retry_after))
        if self.rate is not None:
            self._refill(now)
            self.burst = max(1.0, self.burst / 2)
            self._tokens = min(self._tokens, 0.0)

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r}, burst={self.burst!r})"
