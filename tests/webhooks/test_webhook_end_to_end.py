"""End to end: the emulator signs and POSTs deliveries to a receiver on loopback.

The SDK client attaches and detaches; the emulator's deliveries then go to an aiohttp receiver
on 127.0.0.1 (port 0), a WebhookRouter, and the callbacks, for ``dicom.report.attached`` and
``dicom.report.detached``. The bytes the receiver got are the bytes the emulator signed.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
from aiohttp import web
from webhook_helpers import Receiver

from bigmind_async import (
    AsyncBigMind,
    Report,
    ReportAttachedData,
    ReportDetachedData,
    ReportType,
    WebhookEvent,
)
from bigmind_async.emulator import Emulator
from bigmind_async.webhooks import WebhookRouter, construct_event, verify_signature

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
REPORT_TEXT = b"Findings: no acute cardiopulmonary process.\n"


class RawBodies:
    """An aiohttp middleware keeping every request body exactly as the receiver read it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.bodies.append(await request.read())  # read() caches: the handler sees the same
        return await handler(request)


@pytest.fixture
def secret() -> str:
    return "whsec_" + secrets.token_hex(16)


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    async with Emulator(rate_limit=None, webhook_retry_delays=(0.01,)) as emulator:
        yield emulator


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[AsyncBigMind]:
    async with AsyncBigMind(api_key=emu.api_key, base_url=emu.base_url, rate_limit=None) as sdk:
        yield sdk


async def attach(client: AsyncBigMind, customer_id: str, study_uid: str) -> Report:
    return await client.reports.attach(
        customer_id,
        study_uid,
        REPORT_TEXT,
        filename="report.txt",
        title="Radiology Report",
        report_type=ReportType.RADIOLOGY,
    )


async def settle(emu: Emulator, router: WebhookRouter) -> None:
    """Wait for the emulator's deliveries, then for the router's background callbacks."""
    await asyncio.wait_for(emu.wait_webhooks_idle(), timeout=10)
    await asyncio.wait_for(router.drain(), timeout=10)


class TestEndToEnd:
    async def test_attach_then_detach_reach_the_callbacks(
        self, emu: Emulator, client: AsyncBigMind, secret: str
    ) -> None:
        """Attaching and detaching a report each reach the right callback, matching the report."""
        router = WebhookRouter(secret)
        attached: list[WebhookEvent] = []
        detached: list[WebhookEvent] = []
        router.on("dicom.report.attached")(attached.append)  # a sync callback

        @router.on("dicom.report.detached")
        async def on_detached(event: WebhookEvent) -> None:
            detached.append(event)

        customer_id = emu.add_customer()
        study_uid = emu.add_study(customer_id)
        async with Receiver(router.aiohttp_handler()) as receiver:
            emu.add_webhook(receiver.url, secret=secret)
            report = await attach(client, customer_id, study_uid)
            await settle(emu, router)
            await client.reports.detach(customer_id, report.report_id)
            await settle(emu, router)

        assert ["dicom.report.attached"] == [e.event for e in attached]
        data = attached[0].data
        assert isinstance(data, ReportAttachedData)
        expected = ReportAttachedData(
            customer_id=customer_id, study_instance_uid=study_uid, report=report
        )
        assert expected == data  # the webhook's report is the one attach() returned
        assert (len(REPORT_TEXT), ReportType.RADIOLOGY) == (
            data.report.size_bytes,
            data.report.report_type,
        )

        assert ["dicom.report.detached"] == [e.event for e in detached]
        expected_detached = ReportDetachedData(
            customer_id=customer_id, study_instance_uid=study_uid, report_id=report.report_id
        )
        assert expected_detached == detached[0].data

    async def test_received_bytes_are_the_signed_bytes(
        self, emu: Emulator, client: AsyncBigMind, secret: str
    ) -> None:
        """The receiver got the exact bytes the emulator signed, and they verify on their own."""
        router = WebhookRouter(secret)
        raw = RawBodies()
        customer_id = emu.add_customer()
        study_uid = emu.add_study(customer_id)
        receiver = Receiver(router.aiohttp_handler())
        receiver.app.middlewares.append(raw.middleware)
        async with receiver:
            emu.add_webhook(receiver.url, secret=secret)
            report = await attach(client, customer_id, study_uid)
            await settle(emu, router)

        [delivery] = emu.webhook_deliveries
        expected = ([delivery.body], "delivered", [200])
        assert expected == (raw.bodies, delivery.status, delivery.response_statuses)
        assert verify_signature(delivery.body, delivery.signature, secret)
        event = construct_event(delivery.body, delivery.signature, secret)
        assert isinstance(event.data, ReportAttachedData)
        assert report.report_id == event.data.report.report_id

    async def test_emulator_generated_secret(self, emu: Emulator, client: AsyncBigMind) -> None:
        """A secret the emulator generates verifies its own deliveries."""
        customer_id = emu.add_customer()
        study_uid = emu.add_study(customer_id)
        routers: list[WebhookRouter] = []
        received: list[WebhookEvent] = []

        async def late_bound(request: web.Request) -> web.StreamResponse:
            return await routers[0].aiohttp_handler()(request)

        async with Receiver(late_bound) as receiver:
            routers.append(WebhookRouter(emu.add_webhook(receiver.url)))
            routers[0].on_any(received.append)
            await attach(client, customer_id, study_uid)
            await settle(emu, routers[0])
        assert ["dicom.report.attached"] == [e.event for e in received]

    async def test_wrong_secret_is_refused_with_400(
        self, emu: Emulator, client: AsyncBigMind, secret: str
    ) -> None:
        """Deliveries signed under another secret get 400 every time and reach no callback."""
        router = WebhookRouter(secret)
        received: list[WebhookEvent] = []
        router.on_any(received.append)
        customer_id = emu.add_customer()
        study_uid = emu.add_study(customer_id)
        async with Receiver(router.aiohttp_handler()) as receiver:
            emu.add_webhook(receiver.url, secret="whsec_someone_else")
            await attach(client, customer_id, study_uid)
            await settle(emu, router)
        [delivery] = emu.webhook_deliveries
        expected = ("failed", [400, 400])
        assert expected == (delivery.status, delivery.response_statuses)
        assert not received
