"""The per-partner rate limit: one token bucket per partner, shared by all its keys.

The bucket holds ``burst`` tokens (default: the per-minute limit) and refills at
``limit / 60`` tokens per second on the real monotonic clock. A request takes one token; when
none is left the caller is told how long to wait, rounded up to whole seconds, at least 1.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class TokenBucket:
    """A token bucket; ``acquire()`` returns ``None`` when allowed, else seconds to wait."""

    def __init__(
        self,
        per_minute: int,
        burst: int | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("rate limit must be a positive number of requests per minute")
        self.capacity = float(burst if burst is not None else per_minute)
        if self.capacity < 1:
            raise ValueError("rate limit burst must be at least 1")
        self.refill_per_second = per_minute / 60.0
        self._monotonic = monotonic
        self._tokens = self.capacity
        self._updated = monotonic()

    def _refill(self) -> None:
        now = self._monotonic()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.refill_per_second)
        self._updated = now

    def acquire(self) -> float | None:
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return None
        return (1.0 - self._tokens) / self.refill_per_second

    @property
    def tokens(self) -> float:
        self._refill()
        return self._tokens


def retry_after_seconds(wait: float) -> int:
    """Whole seconds for the ``Retry-After`` header: rounded up, never below 1."""
    return max(1, math.ceil(wait - 1e-9))


class RateLimiter:
    """Buckets by partner id; ``per_minute=None`` turns the limit off."""

    def __init__(
        self,
        per_minute: int | None,
        burst: int | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute is not None and per_minute <= 0:
            raise ValueError("rate_limit must be positive, or None to turn it off")
        self.per_minute = per_minute
        self.burst = burst
        self._monotonic = monotonic
        self._buckets: dict[int, TokenBucket] = {}

    def check(self, partner_id: int) -> int | None:
        """``None`` when the request may go on, else the ``Retry-After`` in seconds."""
        if self.per_minute is None:
            return None
        bucket = self._buckets.get(partner_id)
        if bucket is None:
            bucket = TokenBucket(self.per_minute, self.burst, monotonic=self._monotonic)
            self._buckets[partner_id] = bucket
        wait = bucket.acquire()
        return None if wait is None else retry_after_seconds(wait)

    def reset(self) -> None:
        self._buckets.clear()
