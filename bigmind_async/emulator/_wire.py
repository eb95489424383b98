"""Wire helpers: the JSON envelope, request ids, and ISO 8601 timestamps.

Every choice here is a reading of partner-api.md, made without the SDK's models:

- JSON bodies are compact (``separators=(",", ":")``), UTF-8, keys camelCase.
- Success is ``{"success": true, "data": ...}``; failure is
  ``{"success": false, "error": {"code", "message", "details"}}`` with ``details`` always present
  (``null`` when there is nothing to add).
- The request id travels only in the ``X-Request-Id`` header, never in the body, so two
  error bodies for the same condition are byte-identical.
- Timestamps are ISO 8601 in UTC with millisecond precision and a ``Z``.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

from aiohttp import web

JSON_CONTENT_TYPE = "application/json"
REQUEST_ID_HEADER = "X-Request-Id"


def new_request_id() -> str:
    """A fresh request id such as ``req_1f0c2a9b8d7e6f5a4b3c2d1e``."""
    return "req_" + secrets.token_hex(12)


def dumps(payload: Any) -> bytes:
    """Serialize ``payload`` the one way the emulator writes JSON."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def json_response(
    payload: Any, *, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A response whose body is ``payload`` as compact JSON."""
    return web.Response(
        body=dumps(payload),
        status=status,
        content_type=JSON_CONTENT_TYPE,
        charset="utf-8",
        headers=headers,
    )


def success(data: Any, *, status: int = 200) -> web.Response:
    """The success envelope around ``data``."""
    return json_response({"success": True, "data": data}, status=status)


def failure(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    *,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    """The error envelope; ``details`` is ``null`` unless given."""
    body = {"success": False, "error": {"code": code, "message": message, "details": details}}
    return json_response(body, status=status, headers=headers)


class ApiError(Exception):
    """Raised anywhere in a handler to answer with the error envelope.

    Attributes:
        status: The HTTP status.
        code: The machine-readable ``error.code``.
        message: The human-readable ``error.message``.
        details: The ``error.details`` value (``None`` becomes ``null``).
        headers: Extra response headers, e.g. ``Retry-After``.
    """

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        """This error as an envelope response."""
        return failure(self.status, self.code, self.message, self.details, headers=self.headers)


def validation_error(errors: list[tuple[str, str]]) -> ApiError:
    """``VALIDATION_FAILED`` with ``details`` as ``[{"field", "message"}]``."""
    details = [{"field": field, "message": message} for field, message in errors]
    return ApiError(400, "VALIDATION_FAILED", "Request validation failed", details)


def iso8601(timestamp: float) -> str:
    """``1775124672.0`` -> ``"2026-04-02T10:11:12.000Z"`` (UTC, milliseconds)."""
    moment = dt.datetime.fromtimestamp(timestamp, tz=dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


_ISO_RE = re.compile(
    r"""
    ^(?P<date>\d{4}-\d{2}-\d{2})
    (?:[Tt\ ](?P<hour>\d{2}):(?P<minute>\d{2})
        (?::(?P<second>\d{2})(?:[.,](?P<fraction>\d{1,9}))?)?
        (?P<tz>[Zz]|[+-]\d{2}(?::?\d{2})?)?
    )?$
    """,
    re.VERBOSE,
)


def parse_iso8601(text: str) -> tuple[float, bool]:
    """Parse an ISO 8601 date or date-time into a Unix timestamp.

    A date-time without an offset is taken as UTC. Returns ``(timestamp, date_only)``; a bare
    date means midnight UTC of that day. Raises ``ValueError`` for anything else.
    """
    match = _ISO_RE.match(text.strip())
    if match is None:
        raise ValueError(text)
    day = dt.date.fromisoformat(match["date"])
    if match["hour"] is None:
        moment = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
        return moment.timestamp(), True
    fraction = (match["fraction"] or "0").ljust(6, "0")[:6]
    tz = match["tz"]
    if tz is None or tz in "Zz":
        zone = dt.timezone.utc
    else:
        sign = -1 if tz[0] == "-" else 1
        digits = tz[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:4] or "0")
        zone = dt.timezone(sign * dt.timedelta(minutes=minutes))
    moment = dt.datetime(
        day.year,
        day.month,
        day.day,
        int(match["hour"]),
        int(match["minute"]),
        int(match["second"] or "0"),
        int(fraction),
        tzinfo=zone,
    )
    return moment.timestamp(), False
