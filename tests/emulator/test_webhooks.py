"""Signed webhook deliveries to a receiver on 127.0.0.1, with retries, off the request path."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import aiohttp
import pytest
from aiohttp import web

from .helpers import PDF, Env, call, form, report_url, reports_url


@dataclass
class Receiver:
    """A webhook receiver on loopback that records raw bodies and answers planned statuses."""

    url: str = ""
    received: list[tuple[bytes, str]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    hold: asyncio.Event | None = None

    async def handle(self, request: web.Request) -> web.Response:
        if self.hold is not None:
            await self.hold.wait()
        self.received.append((await request.read(), request.headers["X-Webhook-Signature"]))
        status = self.statuses.pop(0) if self.statuses else 200
        return web.Response(status=status)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hooks"
    try:
        yield receiver
    finally:
        if receiver.hold is not None:
            receiver.hold.set()
        await runner.cleanup()


def _verify(body: bytes, signature: str, secret: str) -> bool:
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


class TestDeliveries:
    async def test_attached_and_detached_events_are_signed(
        self, emulator: Env, client: aiohttp.ClientSession, receiver: Receiver
    ) -> None:
        """Each event is POSTed with a lowercase hex HMAC-SHA256 of the raw body."""
        secret = emulator.emu.add_webhook(receiver.url, secret="whsec_test")
        report = (await call(client, "POST", reports_url(emulator), data=form(PDF))).data
        await call(client, "DELETE", report_url(emulator, report["reportId"]))
        await emulator.emu.wait_webhooks_idle()
        assert secret == "whsec_test"
        assert len(receiver.received) == 2
        for body, signature in receiver.received:
            assert re.match(r"^[0-9a-f]{64}$", signature)
            assert _verify(body, signature, secret)
            assert not _verify(body, signature, "whsec_other")
        attached, detached = (json.loads(body) for body, _ in receiver.received)
        assert set(attached) == {"event", "timestamp", "data"}
        assert attached["event"] == "dicom.report.attached"
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", attached["timestamp"])
        assert attached["data"] == {
            "customerId": emulator.customer_id,
            "studyInstanceUid": emulator.study_uid,
            "report": report,
        }
        assert detached["event"] == "dicom.report.detached"
        assert detached["data"] == {
            "customerId": emulator.customer_id,
            "studyInstanceUid": emulator.study_uid,
            "reportId": report["reportId"],
        }

    async def test_generated_secret(
        self, emulator: Env, client: aiohttp.ClientSession, receiver: Receiver
    ) -> None:
        """Without a secret, add_webhook generates one and signs with it."""
        secret = emulator.emu.add_webhook(receiver.url)
        assert secret.startswith("whsec_")
        await call(client, "POST", reports_url(emulator), data=form(PDF))
        await emulator.emu.wait_webhooks_idle()
        body, signature = receiver.received[0]
        assert _verify(body, signature, secret)

    async def test_retried_after_a_500(
        self, emulator: Env, client: aiohttp.ClientSession, receiver: Receiver
    ) -> None:
        """A 500 from the receiver is retried; the log shows both attempts."""
        receiver.statuses = [500]
        emulator.emu.add_webhook(receiver.url, secret="s")
        await call(client, "POST", reports_url(emulator), data=form(PDF))
        await emulator.emu.wait_webhooks_idle()
        assert len(receiver.received) == 2
        assert receiver.received[0] == receiver.received[1]
        (delivery,) = emulator.emu.webhook_deliveries
        assert (delivery.event, delivery.url, delivery.attempts, delivery.status) == (
            "dicom.report.attached",
            receiver.url,
            2,
            "delivered",
        )
        assert delivery.response_statuses == [500, 200]
        assert emulator.emu.stats.webhooks_sent == 2

    async def test_gives_up_after_the_retry_delays(
        self, emulator: Env, client: aiohttp.ClientSession, receiver: Receiver
    ) -> None:
        """An endpoint that always fails gets 1 + len(retry_delays) attempts, then "failed"."""
        receiver.statuses = [503, 503, 503, 503]
        emulator.emu.add_webhook(receiver.url)
        await call(client, "POST", reports_url(emulator), data=form(PDF))
        await emulator.emu.wait_webhooks_idle()
        (delivery,) = emulator.emu.webhook_deliveries
        assert (delivery.attempts, delivery.status) == (3, "failed")

    async def test_connection_errors_are_retried(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A receiver that is not listening counts as a failed attempt (no exception leaks)."""
        emulator.emu.add_webhook("http://127.0.0.1:9/hooks")
        await call(client, "POST", reports_url(emulator), data=form(PDF))
        await emulator.emu.wait_webhooks_idle()
        (delivery,) = emulator.emu.webhook_deliveries
        assert (delivery.attempts, delivery.status) == (3, "failed")
        assert delivery.response_statuses == [None, None, None]
        assert delivery.last_error

    async def test_event_filter(
        self, emulator: Env, client: aiohttp.ClientSession, receiver: Receiver
    ) -> None:
        """An endpoint registered for some events gets only those."""
        emulator.emu.add_webhook(receiver.url, events=["dicom.report.detached"])
        report = (await call(client, "POST", reports_url(emulator), data=form(PDF))).data
        await call(client, "DELETE", report_url(emulator, report["reportId"]))
        await emulator.emu.wait_webhooks_idle()
        assert [json.loads(b)["event"] for b, _ in receiver.received] == ["dicom.report.detached"]

    async def test_delivery_never_delays_the_response(
        self, emulator: Env, client: aiohttp.ClientSession, receiver: Receiver
    ) -> None:
        """The attach answers while the receiver is still stuck; close cancels cleanly."""
        receiver.hold = asyncio.Event()
        emulator.emu.add_webhook(receiver.url)
        reply = await asyncio.wait_for(
            call(client, "POST", reports_url(emulator), data=form(PDF)), timeout=5
        )
        assert reply.status == 201
        assert receiver.received == []
        assert emulator.emu.webhook_deliveries[0].status == "pending"
        await emulator.emu.aclose()
        assert emulator.emu.webhook_deliveries[0].status == "cancelled"
