"""Raw access: the parsed result of a call next to what the HTTP exchange said.

``client.with_raw_response.<resource>.<method>(...)`` returns an :class:`APIResponse` instead of
the bare result. Errors need no such wrapper: every
:class:`~bigmind_async.errors.BigMindError` already carries ``status``, ``headers`` and
``request_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Generic, TypeVar

import attrs

__all__ = ["APIResponse"]

T = TypeVar("T")
U = TypeVar("U")


@attrs.frozen(kw_only=True)
class APIResponse(Generic[T]):
    """One call's result with its HTTP metadata.

    Attributes:
        parsed: What the plain method returns (a model, a list, a path, ``None``).
        status: The HTTP status of the answer that ended the call.
        headers: That answer's headers (case-insensitive mapping).
        request_id: Its ``X-Request-Id``, worth quoting to BigMind support.
        elapsed: Seconds the whole call took, retries and waits included.
        attempts: HTTP attempts of the call itself (1 when nothing was retried). An attach's
            reconcile listings are separate requests (they spend the rate budget too) and are
            not counted here.
        method: The HTTP method.
        path: The request path, relative to the base URL.
    """

    parsed: T
    status: int
    headers: Mapping[str, str] = attrs.field(repr=False)
    request_id: str | None
    elapsed: float
    attempts: int
    method: str
    path: str

    def with_parsed(self, parsed: U) -> APIResponse[U]:
        """The same metadata around another parsed value."""
        return APIResponse(
            parsed=parsed,
            status=self.status,
            headers=self.headers,
            request_id=self.request_id,
            elapsed=self.elapsed,
            attempts=self.attempts,
            method=self.method,
            path=self.path,
        )
