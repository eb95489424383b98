"""Presigned download URLs: ``?expires=<unix>&signature=<hex HMAC-SHA256>``.

The signature covers ``"<reportId>:<expires>"`` under a secret private to one emulator, so a
URL cannot be forged, altered or extended. Time comes from the emulator's injectable clock.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from typing import Literal

DOWNLOAD_URL_TTL_SECONDS = 300

Verdict = Literal["ok", "expired", "invalid"]


class UrlSigner:
    """Signs and checks download URLs for report ids."""

    def __init__(
        self,
        clock: Callable[[], float],
        ttl_seconds: int = DOWNLOAD_URL_TTL_SECONDS,
        secret: bytes | None = None,
    ) -> None:
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self._secret = secret or secrets.token_bytes(32)

    def signature(self, report_id: str, expires: int) -> str:
        message = f"{report_id}:{expires}".encode()
        return hmac.new(self._secret, message, hashlib.sha256).hexdigest()

    def sign(self, report_id: str) -> tuple[int, str]:
        """``(expires, signature)`` for a URL valid ``ttl_seconds`` from now."""
        expires = int(self.clock()) + self.ttl_seconds
        return expires, self.signature(report_id, expires)

    def check(self, report_id: str, expires: str | None, signature: str | None) -> Verdict:
        """``"invalid"`` for a missing or wrong signature, ``"expired"`` once past ``expires``."""
        if not expires or not signature or not expires.isdigit() or len(expires) > 16:
            return "invalid"
        expected = self.signature(report_id, int(expires))
        if not hmac.compare_digest(expected, signature.lower()):
            return "invalid"
        if self.clock() > int(expires):
            return "expired"
        return "ok"
