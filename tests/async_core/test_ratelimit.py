"""The client-side limiter, on a fake clock, and its use by the client."""

from __future__ import annotations

import asyncio

import pytest

from bigmind_async import AsyncBigMind
from bigmind_async._ratelimit import DeadlineTooShort, RateLimiter


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


class TestTokenBucket:
    async def test_burst_then_spaced(self) -> None:
        """120/min with burst 2: two at once, then one every 0.5 s."""
        t = FakeTime()
        limiter = RateLimiter(120, 2, clock=t.clock, sleep=t.sleep)
        limiter.note_answer()
        for _ in range(4):
            await limiter.acquire()
        spacing = 60 / (118 * 0.99)  # (rate - burst) a minute, less the 1% margin
        assert [round(spacing, 6)] * 2 == [round(s, 6) for s in t.sleeps]
        assert 4 == limiter.acquired

    @pytest.mark.parametrize(
        ("rate", "expected"), [(30, 1.0), (60, 1.0), (120, 2.0), (600, 4.0), (6000, 4.0)]
    )
    def test_default_burst_is_one_second_of_rate(self, rate: float, expected: float) -> None:
        """The default burst is a second's worth of the rate, 1 to 4: never a minute's."""
        assert expected == RateLimiter(rate).burst

    @pytest.mark.parametrize(("rate", "burst"), [(120, None), (600, None), (60, 1), (120, 10)])
    async def test_no_minute_window_exceeds_the_rate(
        self, rate: float, burst: float | None
    ) -> None:
        """However a server counts, no 60 s window sees more than ``rate`` requests."""
        t = FakeTime()
        limiter = RateLimiter(rate, burst, clock=t.clock, sleep=t.sleep)
        sent: list[float] = []
        for _ in range(int(rate * 3)):
            await limiter.acquire()
            sent.append(t.now)
            limiter.note_answer()
        busiest = max(sum(1 for when in sent if start <= when < start + 60) for start in sent)
        assert busiest <= rate
        assert busiest >= rate * 0.95  # and the budget is used, not wasted

    async def test_first_come_first_served(self) -> None:
        """Concurrent waiters go in the order they asked."""
        t = FakeTime()
        limiter = RateLimiter(60, 1, clock=t.clock, sleep=t.sleep)
        limiter.note_answer()
        order: list[int] = []

        async def take(i: int) -> None:
            await limiter.acquire()
            order.append(i)

        await asyncio.gather(*(take(i) for i in range(5)))
        assert [0, 1, 2, 3, 4] == order

    def test_deadline_too_short_takes_nothing(self) -> None:
        """A wait longer than max_wait fails at once and leaves the budget alone."""
        t = FakeTime()
        limiter = RateLimiter(60, 1, clock=t.clock, sleep=t.sleep)
        limiter.note_answer()
        limiter.reserve()
        with pytest.raises(DeadlineTooShort):
            limiter.reserve(max_wait=0.5)
        assert 1 == limiter.acquired

    async def test_pause_stops_everyone_and_halves_burst(self) -> None:
        """A 429 pauses all callers for Retry-After and halves the burst."""
        t = FakeTime()
        limiter = RateLimiter(None, clock=t.clock, sleep=t.sleep)
        limiter.pause(3)
        await limiter.acquire()
        assert [3.0] == t.sleeps
        bucket = RateLimiter(120, 10, clock=t.clock, sleep=t.sleep)
        bucket.pause(1)
        assert 5.0 == bucket.burst

    def test_burst_recovers_after_a_quiet_minute(self) -> None:
        """Each minute without a 429 doubles a halved burst back, up to its size; a new 429
        restarts the count."""
        from bigmind_async._ratelimit import BURST_RECOVERY

        t = FakeTime()
        bucket = RateLimiter(600, 8, clock=t.clock, sleep=t.sleep)
        bucket.note_answer()
        bucket.pause(1)
        bucket.pause(1)
        assert 2.0 == bucket.burst
        t.now += 1 + BURST_RECOVERY - 0.5
        bucket.reserve()
        assert 2.0 == bucket.burst  # not a whole quiet minute yet
        t.now += 0.5
        bucket.reserve()
        assert 4.0 == bucket.burst
        bucket.pause(1)  # a 429 again: halve, and the quiet minute starts over
        assert 2.0 == bucket.burst
        t.now += 1 + BURST_RECOVERY
        bucket.reserve()
        t.now += BURST_RECOVERY
        bucket.reserve()
        t.now += BURST_RECOVERY
        bucket.reserve()
        assert 8.0 == bucket.burst  # never past its configured size

    async def test_charge_counts_unasked_requests(self) -> None:
        """Hidden re-sends spend the budget too."""
        t = FakeTime()
        limiter = RateLimiter(60, 1, clock=t.clock, sleep=t.sleep)
        limiter.note_answer()
        limiter.charge(1)
        await limiter.acquire()
        assert ([1.03], 2) == ([round(s, 2) for s in t.sleeps], limiter.acquired)

    async def test_no_refill_before_the_first_answer(self) -> None:
        """Past the burst, callers wait for the first answer (the server's clock start)."""
        t = FakeTime()
        limiter = RateLimiter(60, 1, clock=t.clock, sleep=t.sleep)
        await limiter.acquire()
        second = asyncio.ensure_future(limiter.acquire())
        t.now += 10  # time passes, but nothing was answered yet
        await asyncio.sleep(0)
        assert not second.done()
        limiter.note_answer()
        await second
        assert [1.03] == [round(s, 2) for s in t.sleeps]


class TestClientBudget:
    async def test_429_retry_after_is_honoured(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """Retry-After: 1 pauses the client before the retry (lower bound only: no flake)."""
        emulator.emu.faults.inject("rate_limit", route="list_reports", retry_after=1)
        async with AsyncBigMind(emulator.api_key, emulator.base_url, backoff_base=0) as client:
            loop = asyncio.get_running_loop()
            started = loop.time()
            raw = await client.with_raw_response.reports.list(
                emulator.customer_id, emulator.study_uid
            )
            assert loop.time() - started >= 0.99
            assert (2, 1, 1) == (
                raw.attempts,
                client.rate_limiter.pauses,
                emulator.emu.stats.rate_limited,
            )

    async def test_every_attempt_and_view_shares_one_budget(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """Retries and with_options views spend the same limiter."""
        emulator.emu.faults.inject("error", route="list_reports", status=503)
        async with AsyncBigMind(emulator.api_key, emulator.base_url, backoff_base=0) as client:
            await client.reports.list(emulator.customer_id, emulator.study_uid)
            await client.with_options(max_retries=0).reports.list(
                emulator.customer_id, emulator.study_uid
            )
            assert 3 == client.rate_limiter.acquired

    async def test_stays_under_the_server_limit(self) -> None:
        """Against a server with a small burst, the client's own limit avoids every 429."""
        from bigmind_async.emulator import Emulator

        async with Emulator(rate_limit=600, rate_limit_burst=5) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            async with AsyncBigMind(
                emu.api_key, emu.base_url, rate_limit=600, rate_limit_burst=5, backoff_base=0
            ) as client:
                await asyncio.gather(*(client.reports.list(customer, study) for _ in range(15)))
            assert 0 == emu.stats.rate_limited
