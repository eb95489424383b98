"""Backoff arithmetic and retry decisions: pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bigmind_async._retries import Action, RetryPolicy, backoff_delay, decide


class TestBackoff:
    @given(
        attempt=st.integers(min_value=-5, max_value=10**6),
        base=st.floats(min_value=0, max_value=100),
        cap=st.floats(min_value=0, max_value=1000),
        draw=st.floats(min_value=0, max_value=1),
    )
    def test_bounded_and_never_overflows(
        self, attempt: int, base: float, cap: float, draw: float
    ) -> None:
        """0 <= delay <= cap for any attempt, however large."""
        delay = backoff_delay(attempt, base=base, cap=cap, jitter=lambda: draw)
        assert 0 <= delay <= cap

    def test_ceiling_doubles_until_cap(self) -> None:
        """Without jitter: base * 2**attempt, capped."""
        assert [0.5, 1.0, 2.0, 4.0, 8.0, 8.0] == [
            backoff_delay(a, base=0.5, cap=8, jitter=None) for a in range(6)
        ]

    def test_full_jitter_scales_the_ceiling(self) -> None:
        """Full jitter is a uniform fraction of the ceiling."""
        assert 1.0 == backoff_delay(2, base=0.5, cap=8, jitter=lambda: 0.5)

    def test_zero_base_switches_waiting_off(self) -> None:
        """backoff_base=0 is how tests run without sleeping."""
        assert 0.0 == RetryPolicy(backoff_base=0).delay(5)

    def test_retry_after_wins(self) -> None:
        """A server's Retry-After replaces the backoff."""
        assert 7.0 == RetryPolicy().delay(1, retry_after=7)

    def test_bad_policy(self) -> None:
        """Negative retries are refused."""
        with pytest.raises(ValueError, match="max_retries"):
            RetryPolicy(max_retries=-1)


class TestDecide:
    @pytest.mark.parametrize("method", ["GET", "DELETE"])
    @pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
    def test_idempotent_statuses_retry(self, method: str, status: int) -> None:
        """GET/DELETE retry on 429 and the 5xx family."""
        assert Action.RETRY == decide(method, status=status)

    @pytest.mark.parametrize("status", [400, 401, 402, 403, 404, 409, 501, 505])
    def test_other_statuses_raise(self, status: int) -> None:
        """Client errors and other 5xx are final."""
        assert Action.RAISE == decide("GET", status=status)

    def test_post_429_retries_blindly(self) -> None:
        """A 429 created nothing."""
        assert Action.RETRY == decide("POST", status=429)

    def test_post_5xx_after_body_reconciles(self) -> None:
        """A 5xx after the whole body: maybe stored, reconcile first."""
        assert Action.RECONCILE == decide("POST", status=500, body_complete=True)

    def test_post_failure_before_body_end_retries(self) -> None:
        """A body that never fully went out cannot have been stored."""
        assert Action.RETRY == decide(
            "POST", status=None, retryable_failure=True, body_complete=False
        )

    def test_post_ambiguous_failure_reconciles(self) -> None:
        """A reset after the whole body: reconcile."""
        assert Action.RECONCILE == decide("POST", status=None, retryable_failure=True)

    def test_unretryable_failure_raises(self) -> None:
        """A certificate error is final."""
        assert Action.RAISE == decide("GET", status=None, retryable_failure=False)
