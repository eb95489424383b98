"""Fault injection: make chosen requests fail the ways real networks and servers do.

Kinds:

- ``"error"``: answer ``status`` (500, 502, 503 or 504) with an error envelope.
- ``"rate_limit"``: answer 429 ``RATE_LIMITED`` with ``Retry-After: retry_after``.
- ``"delay"``: sleep ``delay`` seconds, then handle the request normally.
- ``"reset_before_commit"``: drop the connection with no response before anything is stored.
- ``"reset_after_commit"``: handle the request fully (an attach stores the report and fires its
  webhook), then drop the connection with no response.

Every kind first sleeps ``delay`` seconds when it is above zero. A fault fires on the next
``times`` matching requests; with ``probability`` it fires on each matching request with that
chance, drawn from ``random.Random(seed)`` so a run is reproducible.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field
from typing import Any, Final

FAULT_KINDS: Final = ("error", "rate_limit", "delay", "reset_before_commit", "reset_after_commit")
ROUTE_NAMES: Final = (
    "list_studies",
    "get_study",
    "attach_report",
    "list_reports",
    "get_report",
    "detach_report",
    "download",
)
ERROR_CODES: Final = {
    500: "INTERNAL_ERROR",
    502: "BAD_GATEWAY",
    503: "SERVICE_UNAVAILABLE",
    504: "GATEWAY_TIMEOUT",
}


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset()


@dataclass
class Fault:
    """One injected fault. ``remaining`` is ``None`` for "unlimited".

    Attributes:
        fault_id: Sequence number, for the side channel.
        kind: One of ``FAULT_KINDS``.
        route: A route name from ``ROUTE_NAMES``, or ``None`` for any API route.
        method: An HTTP method, or ``None`` for any.
        remaining: How many more times it fires (``None``: no bound).
        probability: Chance of firing on each matching request (``None``: always).
        status: The HTTP status of an ``"error"`` fault.
        retry_after: ``Retry-After`` seconds for ``"rate_limit"`` (and 503 errors).
        delay: Seconds to sleep before acting.
        fired: How many times it has fired.
    """

    fault_id: int
    kind: str
    route: str | None
    method: str | None
    remaining: int | None
    probability: float | None
    status: int
    retry_after: int
    delay: float
    seed: int | None
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False)

    @property
    def active(self) -> bool:
        return self.remaining is None or self.remaining > 0

    def matches(self, route: str | None, method: str) -> bool:
        if not self.active:
            return False
        if self.route is not None and self.route != route:
            return False
        if self.route is None and route in (None, "download"):
            # "Any API route" means the Partner API, not the presigned download.
            return False
        return self.method is None or self.method == method

    def should_fire(self) -> bool:
        if self.probability is not None and self._rng.random() >= self.probability:
            return False
        if self.remaining is not None:
            self.remaining -= 1
        self.fired += 1
        return True

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.fault_id,
            "kind": self.kind,
            "route": self.route,
            "method": self.method,
            "remaining": self.remaining,
            "probability": self.probability,
            "status": self.status,
            "retryAfter": self.retry_after,
            "delay": self.delay,
            "seed": self.seed,
            "fired": self.fired,
        }


class FaultInjector:
    """The emulator's list of faults; the first active matching fault that fires wins."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)

    def inject(
        self,
        kind: str,
        *,
        route: str | None = None,
        method: str | None = None,
        times: int | _Unset | None = UNSET,
        probability: float | None = None,
        status: int = 500,
        retry_after: int = 1,
        delay: float = 0.0,
        seed: int | None = None,
    ) -> Fault:
        """Add a fault and return it.

        ``times`` defaults to 1, or to no bound when ``probability`` is given; pass ``times=None``
        for a fault that fires forever (until ``clear()``).
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {FAULT_KINDS}")
        if route is not None and route not in ROUTE_NAMES:
            raise ValueError(f"unknown route {route!r}; expected one of {ROUTE_NAMES}")
        if kind == "error" and status not in ERROR_CODES:
            raise ValueError(f"error status must be one of {sorted(ERROR_CODES)}")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be between 0 and 1")
        if retry_after < 0 or delay < 0:
            raise ValueError("retry_after and delay must be >= 0")
        if isinstance(times, _Unset):
            times = 1 if probability is None else None
        if times is not None and times < 1:
            raise ValueError("times must be >= 1, or None for no bound")
        fault = Fault(
            fault_id=next(self._ids),
            kind=kind,
            route=route,
            method=method.upper() if method else None,
            remaining=times,
            probability=probability,
            status=status,
            retry_after=retry_after,
            delay=delay,
            seed=seed,
            _rng=random.Random(seed),
        )
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self._faults.clear()

    def remove(self, fault: Fault) -> None:
        """Remove one fault (no error if already gone)."""
        if fault in self._faults:
            self._faults.remove(fault)

    @property
    def faults(self) -> list[Fault]:
        """The faults still able to fire, oldest first."""
        return [f for f in self._faults if f.active]

    def pick(self, route: str | None, method: str) -> Fault | None:
        """The fault to apply to this request, if any (consumes one of its ``times``)."""
        for fault in self._faults:
            if fault.matches(route, method) and fault.should_fire():
                return fault
        self._faults = [f for f in self._faults if f.active]
        return None
