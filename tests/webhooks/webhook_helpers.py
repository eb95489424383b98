"""Helpers for the webhook tests: signing with plain hmac (not the SDK), envelopes, dates."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import datetime, timedelta, timezone
from typing import Any

from aiohttp import web

SECRET = "whsec_test_0123456789abcdef"


def sign(body: bytes, secret: str | bytes = SECRET) -> str:
    """The signature BigMind sends, computed here with hmac (independent of the SDK)."""
    key = secret.encode() if isinstance(secret, str) else secret
    return hmac.new(key, body, hashlib.sha256).hexdigest()


def iso(moment: datetime) -> str:
    """``moment`` the way the API writes timestamps."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def now_iso(offset: timedelta = timedelta()) -> str:
    return iso(datetime.now(timezone.utc) + offset)


def envelope(event: str, data: Any, **extra: Any) -> bytes:
    payload = {"event": event, "timestamp": now_iso(), "data": data, **extra}
    return json.dumps(payload).encode()


REPORT: dict[str, Any] = {
    "reportId": "alf_01HXTEST",
    "studyInstanceUid": "1.2.840.113619.2.55.3.1",
    "entityId": "ent_7",
    "title": "Radiology Report",
    "reportType": "radiology",
    "isPrimary": False,
    "fileName": "report.pdf",
    "mimeType": "application/pdf",
    "sizeBytes": 48213,
    "createdAt": "2026-05-13T15:42:11.000Z",
    "attachedByPartnerKeyId": "pk_42_1",
}

ATTACHED: dict[str, Any] = {
    "customerId": "pc_42_1715600000000",
    "studyInstanceUid": "1.2.840.113619.2.55.3.1",
    "report": REPORT,
}

DETACHED: dict[str, Any] = {
    "customerId": "pc_42_1715600000000",
    "studyInstanceUid": "1.2.840.113619.2.55.3.1",
    "reportId": "alf_01HXTEST",
}


class Receiver:
    """An aiohttp app serving a webhook handler on 127.0.0.1, on a free port."""

    __test__ = False

    def __init__(self, handler: Any, path: str = "/webhooks") -> None:
        self.app = web.Application()
        self.app.router.add_post(path, handler)
        self.path = path
        self._runner = web.AppRunner(self.app)
        self.url = ""

    async def __aenter__(self) -> Receiver:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}{self.path}"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._runner.cleanup()
