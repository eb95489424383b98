"""Every exception the SDK raises, in one tree.

Catch :class:`BigMindError` for all of them, a family for a kind of failure, or a leaf for one
documented ``error.code``::

    BigMindError                     code, status, message, details, request_id, headers
    ├── ConfigurationError           bad client settings, raised at construction (status None)
    ├── APIConnectionError           the request never got an HTTP answer
    │   └── APITimeoutError          ...because a timeout or the call's deadline ran out
    ├── BadRequestError              400
    │   ├── ValidationError          VALIDATION_FAILED (also client-side checks, status None)
    │   ├── FileTooLargeError        FILE_TOO_LARGE (also client-side, status None)
    │   ├── InvalidReportTypeError   INVALID_REPORT_TYPE (also client-side, status None)
    │   ├── InsufficientCreditsError INSUFFICIENT_CREDITS
    │   └── PlanNotEnabledError      PLAN_NOT_ENABLED
    ├── AuthenticationError          401
    │   ├── UnauthenticatedError     UNAUTHENTICATED
    │   └── InvalidAPIKeyError       INVALID_API_KEY
    ├── StorageFullError             STORAGE_FULL (402), with ``storage``
    ├── PermissionDeniedError        403
    │   ├── ForbiddenError           FORBIDDEN (documented as 400 and as 403: mapped by code)
    │   ├── TrialExpiredError        TRIAL_EXPIRED
    │   └── CannotSellError          CANNOT_SELL
    ├── NotFoundError                404
    │   ├── StudyNotFoundError       STUDY_NOT_FOUND (unknown OR not indexed yet)
    │   ├── ReportNotFoundError      REPORT_NOT_FOUND
    │   ├── CustomerNotFoundError    CUSTOMER_NOT_FOUND
    │   └── InvalidPlanError         INVALID_PLAN
    ├── ConflictError                409
    │   └── CustomerExistsError      CUSTOMER_EXISTS
    ├── RateLimitError               RATE_LIMITED (429), with ``retry_after``
    ├── ServerError                  INTERNAL_ERROR and any 5xx
    ├── InvalidResponseError         a success answer the SDK cannot read (not the envelope...)
    └── WebhookSignatureError        a webhook delivery failed verification

Answers are mapped by ``error.code`` first, then by HTTP status, so an undocumented code still
lands in the right family, and an unknown status still becomes a :class:`BigMindError`.
Errors raised before any request is sent have ``status=None`` and name the bad argument.
"""

from __future__ import annotations

import email.utils
import math
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, ClassVar

from bigmind_async._models import StorageBreakdown

__all__ = [
    "APIConnectionError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BigMindError",
    "CannotSellError",
    "ConfigurationError",
    "ConflictError",
    "CustomerExistsError",
    "CustomerNotFoundError",
    "FileTooLargeError",
    "ForbiddenError",
    "InsufficientCreditsError",
    "InvalidAPIKeyError",
    "InvalidPlanError",
    "InvalidReportTypeError",
    "InvalidResponseError",
    "NotFoundError",
    "PermissionDeniedError",
    "PlanNotEnabledError",
    "RateLimitError",
    "ReportNotFoundError",
    "ServerError",
    "StorageFullError",
    "StudyNotFoundError",
    "TrialExpiredError",
    "UnauthenticatedError",
    "ValidationError",
    "WebhookSignatureError",
    "error_from_response",
]


class BigMindError(Exception):
    """Base of every SDK error.

    Attributes:
        code: The API's ``error.code`` (``"STUDY_NOT_FOUND"``...), or the SDK's own code for
            client-side and transport errors (``"CONNECTION_ERROR"``, ``"TIMEOUT"``...).
        status: The HTTP status, or ``None`` when no answer came (or none was asked for).
        message: Human-readable text; never contains the API key.
        details: The API's ``error.details`` as sent (a list of field errors, a mapping...).
        request_id: The ``X-Request-Id`` of the answer, worth quoting to BigMind support.
        headers: The answer's headers, for raw access (``None`` when there was no answer).
    """

    default_code: ClassVar[str] = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        details: Any = None,
        request_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.status = status
        self.details = details
        self.request_id = request_id
        self.headers = headers

    def __str__(self) -> str:
        where = [f"status {self.status}" if self.status is not None else "no HTTP status"]
        if self.request_id:
            where.append(f"request {self.request_id}")
        return f"[{self.code}] {self.message} ({', '.join(where)})"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, status={self.status!r}, "
            f"message={self.message!r}, request_id={self.request_id!r})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only constructors do not survive Exception's default pickling.
        return (_rebuild, (type(self), self.message, self._state()))

    def _state(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "status": self.status,
            "details": self.details,
            "request_id": self.request_id,
            "headers": dict(self.headers) if self.headers is not None else None,
        }


def _rebuild(cls: type[BigMindError], message: str, state: dict[str, Any]) -> BigMindError:
    return cls(message, **state)


class ConfigurationError(BigMindError):
    """The client was built with settings it cannot work with (no key, plain http...)."""

    default_code = "CONFIGURATION_ERROR"


class APIConnectionError(BigMindError):
    """The request got no HTTP answer: refused, reset, DNS, TLS..."""

    default_code = "CONNECTION_ERROR"


class APITimeoutError(APIConnectionError, TimeoutError):
    """A per-attempt timeout or the call's total deadline ran out."""

    default_code = "TIMEOUT"


class BadRequestError(BigMindError):
    """HTTP 400 family: the request was understood and refused."""

    default_code = "BAD_REQUEST"


class ValidationError(BadRequestError):
    """VALIDATION_FAILED: a field failed validation, on the server or before sending.

    ``details`` is a list of ``{"field": ..., "message": ...}``; :attr:`fields` names them.
    """

    default_code = "VALIDATION_FAILED"

    @property
    def fields(self) -> list[str]:
        """The names of the fields that failed, in the order the server gave them."""
        if not isinstance(self.details, list):
            return []
        return [str(item["field"]) for item in self.details if isinstance(item, Mapping)]


class FileTooLargeError(BadRequestError):
    """FILE_TOO_LARGE: the report is over 25 MiB (26,214,400 bytes)."""

    default_code = "FILE_TOO_LARGE"


class InvalidReportTypeError(BadRequestError):
    """INVALID_REPORT_TYPE: not PDF/DOC/DOCX/TXT, or the name's extension disagrees."""

    default_code = "INVALID_REPORT_TYPE"


class InsufficientCreditsError(BadRequestError):
    """INSUFFICIENT_CREDITS: ``required`` and ``current`` say by how much."""

    default_code = "INSUFFICIENT_CREDITS"

    @property
    def required(self) -> float | None:
        """Credits the operation needed."""
        return _number(self.details, "required")

    @property
    def current(self) -> float | None:
        """Credits the partner had."""
        return _number(self.details, "current")


class PlanNotEnabledError(BadRequestError):
    """PLAN_NOT_ENABLED: the plan is not enabled in retail pricing."""

    default_code = "PLAN_NOT_ENABLED"


class AuthenticationError(BigMindError):
    """HTTP 401 family: the key is missing, wrong or revoked."""

    default_code = "AUTHENTICATION_ERROR"


class UnauthenticatedError(AuthenticationError):
    """UNAUTHENTICATED: the request carried no API key."""

    default_code = "UNAUTHENTICATED"


class InvalidAPIKeyError(AuthenticationError):
    """INVALID_API_KEY: the key is wrong or revoked, or the partner is inactive."""

    default_code = "INVALID_API_KEY"


class StorageFullError(BigMindError):
    """STORAGE_FULL (402): the customer's storage quota cannot take the report."""

    default_code = "STORAGE_FULL"

    @property
    def storage(self) -> StorageBreakdown | None:
        """The quota, the bytes used and the bytes the upload needed, when the server sent them."""
        if not isinstance(self.details, Mapping):
            return None
        return StorageBreakdown(
            quota_gb=_number(self.details, "quotaGB"),
            used_bytes=_int(self.details, "usedBytes"),
            required_bytes=_int(self.details, "requiredBytes"),
        )


class PermissionDeniedError(BigMindError):
    """HTTP 403 family: the key may not do this."""

    default_code = "PERMISSION_DENIED"


class ForbiddenError(PermissionDeniedError):
    """FORBIDDEN: not allowed in this state, e.g. detaching a user-uploaded report."""

    default_code = "FORBIDDEN"


class TrialExpiredError(PermissionDeniedError):
    """TRIAL_EXPIRED: the partner's trial has ended."""

    default_code = "TRIAL_EXPIRED"


class CannotSellError(PermissionDeniedError):
    """CANNOT_SELL: the partner's tier may not sell customers."""

    default_code = "CANNOT_SELL"


class NotFoundError(BigMindError):
    """HTTP 404 family."""

    default_code = "NOT_FOUND"


class StudyNotFoundError(NotFoundError):
    """STUDY_NOT_FOUND: the UID is unknown for this customer, or the study is not indexed yet."""

    default_code = "STUDY_NOT_FOUND"


class ReportNotFoundError(NotFoundError):
    """REPORT_NOT_FOUND: no such report for this customer."""

    default_code = "REPORT_NOT_FOUND"


class CustomerNotFoundError(NotFoundError):
    """CUSTOMER_NOT_FOUND: unknown customer id, or another partner's."""

    default_code = "CUSTOMER_NOT_FOUND"


class InvalidPlanError(NotFoundError):
    """INVALID_PLAN: the plan id is unknown, inactive or not enabled."""

    default_code = "INVALID_PLAN"


class ConflictError(BigMindError):
    """HTTP 409 family."""

    default_code = "CONFLICT"


class CustomerExistsError(ConflictError):
    """CUSTOMER_EXISTS: the email is already used under this partner."""

    default_code = "CUSTOMER_EXISTS"


class RateLimitError(BigMindError):
    """RATE_LIMITED (429): over 120 requests/minute; ``retry_after`` says how long to wait."""

    default_code = "RATE_LIMITED"

    @property
    def retry_after(self) -> float | None:
        """Seconds to wait, from ``Retry-After`` (seconds or an HTTP date) or ``details``."""
        header = _header(self.headers, "Retry-After")
        if header is not None:
            parsed = parse_retry_after(header)
            if parsed is not None:
                return parsed
        return _number(self.details, "retryAfter")


class ServerError(BigMindError):
    """INTERNAL_ERROR or any 5xx: documented as safe to retry."""

    default_code = "INTERNAL_ERROR"


class InvalidResponseError(BigMindError):
    """The API answered success with a body the SDK cannot read (not JSON, not the envelope,
    or not the shape of the model): a server or proxy fault, never retried."""

    default_code = "INVALID_RESPONSE"


class WebhookSignatureError(BigMindError):
    """A webhook delivery's ``X-Webhook-Signature`` is missing, malformed or wrong."""

    default_code = "WEBHOOK_SIGNATURE_INVALID"


_BY_CODE: dict[str, type[BigMindError]] = {
    cls.default_code: cls
    for cls in (
        ValidationError,
        FileTooLargeError,
        InvalidReportTypeError,
        InsufficientCreditsError,
        PlanNotEnabledError,
        UnauthenticatedError,
        InvalidAPIKeyError,
        StorageFullError,
        ForbiddenError,
        TrialExpiredError,
        CannotSellError,
        StudyNotFoundError,
        ReportNotFoundError,
        CustomerNotFoundError,
        InvalidPlanError,
        CustomerExistsError,
        RateLimitError,
        ServerError,
    )
}

_BY_STATUS: dict[int, type[BigMindError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    402: StorageFullError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
    429: RateLimitError,
}


def error_from_response(
    status: int,
    payload: Any,
    *,
    request_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> BigMindError:
    """Build the typed error for an answer that is not a success.

    ``payload`` is the decoded JSON body, or ``None`` (or anything else) when the body was not
    the documented envelope: the status alone then picks the class, so a proxy's HTML 502 page
    or a truncated body still gives a :class:`ServerError` with the status.
    """
    error = payload.get("error") if isinstance(payload, Mapping) else None
    if not isinstance(error, Mapping):
        error = {}
    code = error.get("code")
    code = code if isinstance(code, str) and code else None
    message = error.get("message")
    if not isinstance(message, str) or not message:
        message = f"HTTP {status} with no error message in the body"
    cls = _BY_CODE.get(code) if code is not None else None
    if cls is None:
        cls = _BY_STATUS.get(status) or (ServerError if status >= 500 else BigMindError)
    return cls(
        message,
        code=code if code is not None else _default_code_for(cls, status),
        status=status,
        details=error.get("details"),
        request_id=request_id,
        headers=headers,
    )


def _default_code_for(cls: type[BigMindError], status: int) -> str:
    return cls.default_code if cls is not BigMindError else f"HTTP_{status}"


def parse_retry_after(value: str) -> float | None:
    """Seconds from a ``Retry-After`` value: delta-seconds or an HTTP date; ``None`` if neither."""
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - datetime.now(timezone.utc)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name)
    if value is None:  # plain dicts are case-sensitive; CIMultiDict is not
        lowered = name.lower()
        value = next((v for k, v in headers.items() if k.lower() == lowered), None)
    return value


def _number(details: Any, key: str) -> float | None:
    if not isinstance(details, Mapping):
        return None
    value = details.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _int(details: Mapping[str, Any], key: str) -> int | None:
    value = details.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)
