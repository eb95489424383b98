"""The per-partner rate limit: token bucket, 429 RATE_LIMITED, Retry-After, sharing."""

from __future__ import annotations

import aiohttp
import pytest

from bigmind_async.emulator import Emulator
from bigmind_async.emulator._ratelimit import RateLimiter, TokenBucket, retry_after_seconds

from .helpers import auth, call


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class TestTokenBucket:
    def test_burst_then_refill(self) -> None:
        """capacity requests pass at once; then one more per 60/limit seconds."""
        clock = FakeMonotonic()
        bucket = TokenBucket(120, burst=3, monotonic=clock)
        assert [bucket.acquire() for _ in range(3)] == [None, None, None]
        assert bucket.acquire() == pytest.approx(0.5)
        clock.now += 0.5
        assert bucket.acquire() is None
        assert bucket.acquire() == pytest.approx(0.5)

    def test_default_burst_is_the_per_minute_limit(self) -> None:
        """Without a burst, a full minute's worth may go at once."""
        bucket = TokenBucket(120, monotonic=FakeMonotonic())
        assert sum(bucket.acquire() is None for _ in range(121)) == 120

    @pytest.mark.parametrize(
        ("wait", "header"), [(0.0001, 1), (0.5, 1), (1.0, 1), (1.01, 2), (29.2, 30)]
    )
    def test_retry_after_rounds_up_to_at_least_one(self, wait: float, header: int) -> None:
        """Retry-After is whole seconds, rounded up, never 0."""
        assert retry_after_seconds(wait) == header

    def test_limiter_off_and_per_partner(self) -> None:
        """None turns it off; partners have separate buckets."""
        assert all(RateLimiter(None).check(1) is None for _ in range(1000))
        limiter = RateLimiter(60, 1, monotonic=FakeMonotonic())
        assert (limiter.check(1), limiter.check(2)) == (None, None)
        assert (limiter.check(1), limiter.check(2)) == (1, 1)

    @pytest.mark.parametrize("bad", [0, -5])
    def test_rejects_non_positive_limits(self, bad: int) -> None:
        """A limit must be positive (or None)."""
        with pytest.raises(ValueError, match="positive"):
            RateLimiter(bad)


class TestRateLimitOverHttp:
    async def test_429_with_retry_after(self, anonymous: aiohttp.ClientSession) -> None:
        """Past the burst: 429 RATE_LIMITED, Retry-After header and details.retryAfter."""
        async with Emulator(rate_limit=6, rate_limit_burst=2) as emu:
            customer = emu.add_customer()
            url = f"{emu.base_url}/customers/{customer}/dicom-studies"
            headers = auth(emu.api_key)
            assert (await call(anonymous, "GET", url, headers=headers)).status == 200
            assert (await call(anonymous, "GET", url, headers=headers)).status == 200
            reply = await call(anonymous, "GET", url, headers=headers)
            error = reply.error(429, "RATE_LIMITED")
            retry_after = int(reply.headers["Retry-After"])
            assert 9 <= retry_after <= 10
            assert error["details"] == {"retryAfter": retry_after}
            assert emu.stats.rate_limited == 1

    async def test_shared_by_all_keys_of_a_partner(self, anonymous: aiohttp.ClientSession) -> None:
        """Two keys of one partner drain one bucket; another partner is unaffected."""
        async with Emulator(rate_limit=60, rate_limit_burst=3) as emu:
            second = emu.add_api_key(emu.partner)
            other = emu.add_partner()
            mine, theirs = emu.add_customer(), emu.add_customer(partner=other)
            url = f"{emu.base_url}/customers/{mine}/dicom-studies"
            statuses = [
                (await call(anonymous, "GET", url, headers=auth(key))).status
                for key in (emu.api_key, second.api_key, emu.api_key, second.api_key)
            ]
            assert statuses == [200, 200, 200, 429]
            their_url = f"{emu.base_url}/customers/{theirs}/dicom-studies"
            reply = await call(anonymous, "GET", their_url, headers=auth(other.api_key))
            assert reply.status == 200

    async def test_unauthenticated_requests_are_not_counted(
        self, anonymous: aiohttp.ClientSession
    ) -> None:
        """Requests without a valid key do not spend anyone's budget."""
        async with Emulator(rate_limit=60, rate_limit_burst=1) as emu:
            customer = emu.add_customer()
            url = f"{emu.base_url}/customers/{customer}/dicom-studies"
            for _ in range(3):
                (await call(anonymous, "GET", url)).error(401, "UNAUTHENTICATED")
            assert (await call(anonymous, "GET", url, headers=auth(emu.api_key))).status == 200

    async def test_no_rate_limit(self, anonymous: aiohttp.ClientSession) -> None:
        """rate_limit=None never answers 429."""
        async with Emulator(rate_limit=None) as emu:
            customer = emu.add_customer()
            url = f"{emu.base_url}/customers/{customer}/dicom-studies"
            statuses = {
                (await call(anonymous, "GET", url, headers=auth(emu.api_key))).status
                for _ in range(150)
            }
            assert statuses == {200}
