"""The client-side rate limiter: one budget for every request a client sends, retries included.

An evenly paced token bucket: it holds ``burst`` tokens and refills at a pace chosen so that
NO 60-second window ever sees more than ``rate`` requests, whatever way the server counts
(fixed window, sliding window, or a token bucket with a small burst):

- ``burst`` defaults to one second's worth of the rate, at least 1 and at most 4 (2 at the
  API's 120/min): enough for a short interactive sequence, never a minute's budget at once
  (a fresh client that sent 120 requests in its first second would trip any server whose
  bucket is smaller than a whole minute, and a sliding window would see up to 240 in 60 s).
- the refill is ``(rate - burst) / 60`` tokens a second, less a 1% margin, so a window that
  starts with a full burst still ends under ``rate``. At 120/min with the default burst that is
  97% of the nominal rate in the long run; at 600/min, 98%.

Every attempt of every call, and every reconcile listing, takes one token first; so do the
re-sends the HTTP library makes on its own (counted after the fact with
:meth:`RateLimiter.charge`).

Waiters are served first come, first served: a caller reserves its slot at once (the bucket
may go negative) and then sleeps until that slot, so no lock is held while sleeping and the
wait is known up front (a call whose deadline cannot cover it fails at once).

The server's own bucket starts counting when our first request ARRIVES, which is later than
when we sent it; so the client's bucket does not refill until the first answer is back
(:meth:`RateLimiter.note_answer`). Its timeline then always trails the server's, whatever the
network latency.

When the server still answers 429, :meth:`RateLimiter.pause` stops everyone until its
``Retry-After`` has passed and halves the burst (never below 1): the server's count evidently
includes traffic this client cannot see (another process of the same partner). Each quiet
minute after that (no further 429) doubles it back, up to its configured size.
``rate=None`` turns the bucket off; pauses after a 429 still apply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["DeadlineTooShort", "RateLimiter"]

_SAFETY = 0.99  # refill 1% slower than the server, so network jitter never puts us ahead
_MAX_DEFAULT_BURST = 4.0
_EPSILON = 1e-9
#: Seconds without a 429 after which the burst halved by one is doubled back.
BURST_RECOVERY = 60.0


def default_burst(rate: float | None) -> float:
    """One second's worth of ``rate`` (requests/minute), at least 1 and at most 4."""
    if rate is None:
        return 1.0
    return max(1.0, min(_MAX_DEFAULT_BURST, float(int(rate / 60))))


def refill_per_second(rate: float, burst: float) -> float:
    """Tokens a second such that ``burst`` plus a minute's refill stays under ``rate``."""
    return max(rate - burst, rate / 2) / 60.0 * _SAFETY


class DeadlineTooShort(Exception):
    """The wait for a token would outlast the caller's deadline."""

    def __init__(self, wait: float) -> None:
        super().__init__(f"the rate limiter needs {wait:.2f}s")
        self.wait = wait


class RateLimiter:
    """A first-come-first-served token bucket with server-driven pauses.

    Kept as two counters: ``credit`` (tokens granted so far: the initial burst plus the
    refill) and ``taken`` (tokens handed out). Ticket ``n`` may go once ``credit >= n``.

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
        self.burst = float(burst if burst is not None else default_burst(rate))
        self._full_burst = self.burst
        self._quiet_since = float("-inf")
        self._per_second = refill_per_second(rate, self.burst) if rate is not None else 0.0
        self._clock = clock
        self._sleep = sleep
        self._credit = self.burst
        self._taken = 0.0
        self._updated = clock()
        self._paused_until = float("-inf")
        self._answered = False
        self._answered_event: asyncio.Event | None = None
        self.acquired = 0
        self.pauses = 0

    @property
    def paused_until(self) -> float:
        """Clock time before which nothing is sent (``-inf`` when not paused)."""
        return self._paused_until

    def _refill(self, now: float) -> None:
        if self.rate is None:
            return
        if self.burst < self._full_burst and now - self._quiet_since >= BURST_RECOVERY:
            # A quiet minute since the last 429 (or the last recovery): undo one halving.
            self.burst = min(self._full_burst, self.burst * 2)
            self._quiet_since = now
        if self._answered:  # see the module docs: no refill before the first answer
            start = max(self._updated, self._paused_until)
            if now > start:
                self._credit += (now - start) * self._per_second
        self._updated = max(self._updated, now)
        self._credit = min(self._credit, self._taken + self.burst)

    def _wait(self, ticket: float, now: float) -> float | None:
        """Seconds until ``ticket`` may go; ``None`` while that waits on the first answer."""
        pause = self._paused_until - now
        if self.rate is None:
            return max(0.0, pause)
        self._refill(now)
        deficit = ticket - self._credit
        if deficit <= _EPSILON:  # float residue must not turn into endless tiny sleeps
            return max(0.0, pause)
        if not self._answered:
            return None
        return max(deficit / self._per_second, pause)

    def reserve(self, *, max_wait: float | None = None) -> float:
        """Take the next ticket now and return it: the running count of requests taken, which
        may go once the credit reaches it (see :meth:`acquire`).

        Raises :class:`DeadlineTooShort` (taking nothing) when the wait for it is more than
        ``max_wait`` (not judged while the client waits for its first answer).
        """
        now = self._clock()
        ticket = self._taken + 1
        wait = self._wait(ticket, now)
        if max_wait is not None and wait is not None and wait > max_wait:
            raise DeadlineTooShort(wait)
        self._taken = ticket
        self.acquired += 1
        return ticket

    async def acquire(self, *, max_wait: float | None = None) -> float:
        """Wait for a token; return the seconds waited. See :meth:`reserve` for ``max_wait``."""
        start = self._clock()
        ticket = self.reserve(max_wait=max_wait)
        try:
            while True:
                now = self._clock()
                wait = self._wait(ticket, now)
                if wait is not None and wait <= 0:
                    return now - start
                left = None if max_wait is None else max_wait - (now - start)
                if wait is None:
                    event = self._event()
                    if left is not None and left <= 0:
                        raise DeadlineTooShort(now - start)
                    try:
                        await asyncio.wait_for(event.wait(), left)
                    except asyncio.TimeoutError:
                        raise DeadlineTooShort(self._clock() - start) from None
                    continue
                if left is not None and wait > left:
                    raise DeadlineTooShort(now - start + wait)
                await self._sleep(wait)
        except BaseException:
            if self.rate is not None:
                self._credit += 1  # give the unused ticket back: later tickets move up
            self.acquired -= 1
            raise

    def _event(self) -> asyncio.Event:
        if self._answered_event is None:
            self._answered_event = asyncio.Event()
            if self._answered:
                self._answered_event.set()
        return self._answered_event

    def note_answer(self) -> None:
        """An attempt ended (answered, or failed): the refill may start."""
        if not self._answered:
            self._answered = True
            self._updated = max(self._updated, self._clock())
            if self._answered_event is not None:
                self._answered_event.set()

    def charge(self, count: int = 1) -> None:
        """Count ``count`` requests that already went out without asking (hidden re-sends)."""
        if count <= 0:
            return
        self._refill(self._clock())
        self._taken += count
        self.acquired += count

    def pause(self, retry_after: float) -> None:
        """The server answered 429: stop everyone for ``retry_after`` seconds and slow down."""
        now = self._clock()
        self.pauses += 1
        self._paused_until = max(self._paused_until, now + max(0.0, retry_after))
        if self.rate is not None:
            self._refill(now)
            self.burst = max(1.0, self.burst / 2)
            self._credit = min(self._credit, self._taken)
            self._quiet_since = self._paused_until

    def __repr__(self) -> str:
        return f"RateLimiter(rate={self.rate!r}, burst={self.burst!r})"
