"""When to retry, and how long to wait first. Pure functions: no I/O, no clock.

The rules (sdk-design.md, "Reliability rules"):

- GET and DELETE: retried on 429 (after ``Retry-After``), 500/502/503/504, connection errors
  and timeouts.
- POST (attach): retried blindly only when no report can have been created: a 429, or a
  failure before the whole body went out (the server cannot store a report it never fully
  received). Any other retryable failure is *ambiguous*: the caller must reconcile (look for
  the report) before uploading again.
- Everything else is raised.

Backoff is "full jitter": a uniform draw in ``[0, min(cap, base * 2**attempt)]``.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

import attrs

__all__ = ["RETRYABLE_STATUSES", "Action", "RetryPolicy", "backoff_delay", "decide"]

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "DELETE", "PUT", "OPTIONS"})
_MAX_EXPONENT = 62  # 2**62 is far past any cap; above it the float math could overflow


def backoff_delay(
    attempt: int,
    *,
    base: float,
    cap: float,
    jitter: Callable[[], float] | None = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt + 1`` (``attempt`` counts from 0).

    ``min(cap, base * 2**attempt)``, scaled by ``jitter()`` (a draw in [0, 1)) when given.
    Never overflows, never negative; ``base=0`` turns waiting off (for tests).
    """
    if base <= 0 or cap <= 0:
        return 0.0
    exponent = min(max(attempt, 0), _MAX_EXPONENT)
    ceiling = min(cap, base * float(2**exponent))
    if jitter is None:
        return ceiling
    return ceiling * min(max(jitter(), 0.0), 1.0)


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How many retries, and the backoff between them.

    Attributes:
        max_retries: Retries after the first attempt (0: never retry).
        backoff_base: Seconds of the first backoff ceiling; 0 disables sleeping (tests).
        backoff_cap: Largest backoff ceiling in seconds.
        jitter: Full jitter (True) or the plain ceiling (False).
    """

    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 8.0
    jitter: bool = True

    def __attrs_post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError("max_retries must be an int")
        if self.max_retries < 0:
            raise ValueError("max_retries must be >= 0")
        if self.backoff_base < 0 or self.backoff_cap < 0:
            raise ValueError("backoff_base and backoff_cap must be >= 0")

    def delay(self, retry_number: int, retry_after: float | None = None) -> float:
        """Seconds before retry ``retry_number`` (from 1); ``Retry-After`` wins when given."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return backoff_delay(
            retry_number - 1,
            base=self.backoff_base,
            cap=self.backoff_cap,
            jitter=random.random if self.jitter else None,
        )


class Action(enum.Enum):
    """What to do after a failed attempt."""

    RETRY = "retry"
    """Send the request again."""
    RECONCILE = "reconcile"
    """A POST may have taken effect: look for its result before sending again."""
    RAISE = "raise"
    """Give up and raise the error."""


def decide(
    method: str,
    *,
    status: int | None,
    retryable_failure: bool = False,
    body_complete: bool = True,
) -> Action:
    """The action after an attempt that answered ``status`` or failed in transport.

    ``status`` is ``None`` for a transport failure, whose ``retryable_failure`` says whether
    trying again can help (a refused connection can; a certificate error cannot).
    ``body_complete`` says whether the whole request body was handed to the connection.
    """
    if status is not None:
        if status not in RETRYABLE_STATUSES:
            return Action.RAISE
        if status == 429:  # refused before it was handled: nothing can have been created
            return Action.RETRY
    elif not retryable_failure:
        return Action.RAISE
    if method.upper() in _IDEMPOTENT:
        return Action.RETRY
    return Action.RECONCILE if body_complete else Action.RETRY
