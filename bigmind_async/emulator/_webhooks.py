"""Signed webhook deliveries, sent in background tasks with retries.

Each delivery is a POST of ``{"event", "timestamp", "data"}`` as compact JSON, with
``X-Webhook-Signature`` the lowercase hex HMAC-SHA256 of those exact bytes under the
endpoint's secret. A non-2xx answer or a connection error is retried after each of
``retry_delays``; the API response never waits for any of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bigmind_async.emulator._wire import dumps, iso8601

SIGNATURE_HEADER = "X-Webhook-Signature"


def sign(body: bytes, secret: str) -> str:
    """The ``X-Webhook-Signature`` value for ``body``."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class WebhookEndpoint:
    """A registered receiver; ``events=None`` means every event.

    Attributes:
        endpoint_id: Sequence number.
        url: Where deliveries are POSTed.
        secret: The signing secret.
        events: The event names it wants, or ``None`` for all.
    """

    endpoint_id: int
    url: str
    secret: str
    events: frozenset[str] | None

    def wants(self, event: str) -> bool:
        return self.events is None or event in self.events


@dataclass
class WebhookDelivery:
    """One event sent to one endpoint, with every attempt's outcome.

    Attributes:
        delivery_id: Sequence number.
        event: The event name.
        url: The endpoint URL.
        body: The exact bytes POSTed (what the signature covers).
        signature: The ``X-Webhook-Signature`` sent.
        attempts: Attempts made so far.
        status: ``"pending"``, ``"delivered"``, ``"failed"`` or ``"cancelled"`` (emulator closed).
        response_statuses: The HTTP status of each attempt (``None`` for a connection error).
        last_error: The last connection error, if any.
    """

    delivery_id: int
    event: str
    url: str
    body: bytes
    signature: str
    attempts: int = 0
    status: str = "pending"
    response_statuses: list[int | None] = field(default_factory=list)
    last_error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.delivery_id,
            "event": self.event,
            "url": self.url,
            "attempts": self.attempts,
            "status": self.status,
            "responseStatuses": self.response_statuses,
            "lastError": self.last_error,
        }


class WebhookDispatcher:
    """Owns the endpoints, the delivery log, the HTTP session and the delivery tasks."""

    def __init__(
        self,
        clock: Callable[[], float],
        retry_delays: Iterable[float] = (0.5, 1.0, 2.0),
        *,
        timeout: float = 10.0,
        on_attempt: Callable[[], None] | None = None,
    ) -> None:
        self.clock = clock
        self.retry_delays = tuple(float(d) for d in retry_delays)
        self.timeout = timeout
        self.endpoints: list[WebhookEndpoint] = []
        self.deliveries: list[WebhookDelivery] = []
        self._on_attempt = on_attempt
        self._ids = itertools.count(1)
        self._delivery_ids = itertools.count(1)
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    def add(
        self, url: str, secret: str | None = None, events: Iterable[str] | None = None
    ) -> WebhookEndpoint:
        if not url.startswith(("http://", "https://")):
            raise ValueError("webhook url must be http:// or https://")
        endpoint = WebhookEndpoint(
            next(self._ids),
            url,
            secret or "whsec_" + secrets.token_hex(24),
            None if events is None else frozenset(events),
        )
        self.endpoints.append(endpoint)
        return endpoint

    def clear(self) -> None:
        self.endpoints.clear()

    async def start(self) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(force_close=True),
            )

    def emit(self, event: str, data: dict[str, Any]) -> list[WebhookDelivery]:
        """Queue ``event`` to every endpoint that wants it; returns the new deliveries."""
        sent: list[WebhookDelivery] = []
        for endpoint in self.endpoints:
            if not endpoint.wants(event):
                continue
            body = dumps({"event": event, "timestamp": iso8601(self.clock()), "data": data})
            delivery = WebhookDelivery(
                next(self._delivery_ids), event, endpoint.url, body, sign(body, endpoint.secret)
            )
            self.deliveries.append(delivery)
            task = asyncio.get_running_loop().create_task(self._deliver(delivery))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            sent.append(delivery)
        return sent

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: delivery.signature}
        try:
            for delay in (0.0, *self.retry_delays):
                if delay:
                    await asyncio.sleep(delay)
                delivery.attempts += 1
                if self._on_attempt is not None:
                    self._on_attempt()
                status = await self._attempt(delivery, headers)
                delivery.response_statuses.append(status)
                if status is not None and 200 <= status < 300:
                    delivery.status = "delivered"
                    return
            delivery.status = "failed"
        except asyncio.CancelledError:
            delivery.status = "cancelled"
            raise

    async def _attempt(self, delivery: WebhookDelivery, headers: dict[str, str]) -> int | None:
        if self._session is None:
            delivery.last_error = "emulator not started"
            return None
        try:
            async with self._session.post(
                delivery.url, data=delivery.body, headers=headers
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
            delivery.last_error = f"{type(exc).__name__}: {exc}"
            return None

    async def wait_idle(self) -> None:
        """Wait until every queued delivery has finished (delivered or given up)."""
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def aclose(self) -> None:
        """Cancel pending deliveries and close the HTTP session."""
        tasks = set(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._session is not None:
            await self._session.close()
            self._session = None
