"""What a client and all its ``with_options`` / ``with_raw_response`` views share.

One :class:`Core` per client: the transport (the aiohttp session), the rate limiter, the
converter, and the memory of which reports this client already returned from an attach (so a
reconciled attach never hands the same report to two calls).
"""

from __future__ import annotations

from typing import Any, TypeVar

import attrs
import cattrs

from bigmind_async._ratelimit import RateLimiter
from bigmind_async._serialization import structure
from bigmind_async._transport import Answer, CallOptions, Transport

__all__ = ["Core", "Resource"]

T = TypeVar("T")


@attrs.define(kw_only=True, eq=False)
class Core:
    """The shared state of one client.

    Attributes:
        transport: Session, limiter, retries and deadline.
        converter: The client's cattrs converter.
        returned_report_ids: Reports already returned by this client's attach calls.
        own_key_ids: ``attachedByPartnerKeyId`` values seen on this client's own attaches.
    """

    transport: Transport
    converter: cattrs.Converter
    returned_report_ids: set[str] = attrs.field(factory=set)
    own_key_ids: set[str] = attrs.field(factory=set)

    @property
    def limiter(self) -> RateLimiter:
        """The client's request budget: the transport's limiter."""
        return self.transport.limiter

    def structure(self, data: Any, cl: type[T], answer: Answer | None = None) -> T:
        """``data`` as ``cl``; InvalidResponseError when it does not fit, with the status,
        request id and headers of ``answer``, the API answer ``data`` came in (``None``: data
        from elsewhere, a journal...)."""
        if answer is None:
            return structure(self.converter, data, cl)
        return structure(
            self.converter,
            data,
            cl,
            status=answer.status,
            request_id=answer.request_id,
            headers=answer.headers,
        )


class Resource:
    """Base of the resource classes: a core and the call options of the view it belongs to."""

    def __init__(self, core: Core, options: CallOptions) -> None:
        self._core = core
        self._options = options

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
