"""Verify, parse and dispatch BigMind webhook deliveries.

BigMind signs every delivery: ``X-Webhook-Signature`` is the lowercase hex HMAC-SHA256 of the
raw request body under the endpoint's signing secret. Verify the RAW bytes, exactly as they
arrived, before anything reads them as JSON: a framework that re-encodes or re-serialises the
body breaks the signature (and nothing unverified should reach your code anyway).

Three levels, pick the one that fits:

- :func:`verify_signature` answers True or False and never raises for a bad header.
- :func:`construct_event` verifies, then parses into a typed
  :class:`~bigmind_async.WebhookEvent`; it raises instead of returning False.
- :class:`WebhookRouter` is a ready receiver: register callbacks per event name, then plug
  :meth:`WebhookRouter.aiohttp_handler` into an aiohttp app, or call
  :meth:`WebhookRouter.handle` / :meth:`WebhookRouter.handle_sync` from any other framework.

Choices this module makes, and why:

- Header normalisation: surrounding ASCII whitespace is stripped and uppercase hex accepted.
  Proxies and frameworks may leave optional whitespace around a field value (HTTP says it is not
  part of the value), and hex case carries no information, so rejecting either would only turn
  authentic deliveries away. Everything else is refused: a ``sha256=`` prefix, whitespace inside
  the digest, any length but 64 hex digits. The digests are compared as bytes with
  :func:`hmac.compare_digest`, so the comparison stays constant-time whatever the case.
- Errors: a missing, malformed or wrong signature, and an event outside ``tolerance``, raise
  :class:`~bigmind_async.errors.WebhookSignatureError` (the delivery cannot be trusted). A body
  whose signature holds but which is not a BigMind event (not JSON, no ``event`` name, report
  data that does not fit) raises :class:`~bigmind_async.errors.InvalidResponseError`: the sender
  is authentic and the content is what is wrong, exactly as for an API answer the SDK cannot
  read. An empty or missing secret is a :class:`~bigmind_async.errors.ConfigurationError`: HMAC
  under an empty key proves nothing, and an unset environment variable is the usual cause.
- Replay protection: the API signs the body only, with no timestamp of its own, so a captured
  delivery verifies forever. ``tolerance`` rejects events whose envelope ``timestamp`` (inside the
  signed body) is further than that from now, in either direction. It is off by default because
  it depends on BigMind's clock and yours agreeing and on deliveries not being delayed, neither of
  which the API documents; turn it on with a margin wider than any retry delay you expect, and
  deduplicate on your side if you need exactly-once processing.
- Converters: no module-level converter exists. :func:`construct_event` builds one per call
  (about 4 ms, fine at webhook rates) unless you pass your own; a :class:`WebhookRouter` builds
  one when created and reuses it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import inspect
import json
import logging
import math
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Any, NamedTuple, Protocol, TypeVar

import anyio.to_thread
import cattrs
from aiohttp import web

from bigmind_async._models import WebhookEvent
from bigmind_async._serialization import make_converter, structure
from bigmind_async.errors import ConfigurationError, InvalidResponseError, WebhookSignatureError

__all__ = [
    "KNOWN_EVENTS",
    "SIGNATURE_HEADER",
    "HeaderSource",
    "WebhookResponse",
    "WebhookRouter",
    "compute_signature",
    "construct_event",
    "verify_signature",
]

#: The header carrying the hex HMAC-SHA256 of the raw body.
SIGNATURE_HEADER = "X-Webhook-Signature"

#: Every event name the API documents. Others still parse (kept as sent), so a new server
#: event never breaks a receiver; this set is for spotting typos and unhandled names.
KNOWN_EVENTS: frozenset[str] = frozenset(
    {
        "customer.created",
        "customer.updated",
        "customer.deleted",
        "subscription.created",
        "subscription.updated",
        "subscription.cancelled",
        "credits.low",
        "credits.depleted",
        "dicom.report.attached",
        "dicom.report.detached",
    }
)

_logger = logging.getLogger(__name__)

_HEX_DIGEST = re.compile(r"[0-9a-fA-F]{64}")
_HEADER_WHITESPACE = " \t\r\n"
_TIMESTAMP_CODE = "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE"

Body = bytes | bytearray | memoryview | str
Secret = bytes | str
Tolerance = float | timedelta
Callback = Callable[[WebhookEvent], object]
_C = TypeVar("_C", bound=Callback)


class HeaderSource(Protocol):
    """Request headers as frameworks give them: any ``Mapping[str, str]`` (aiohttp, Django,
    Starlette), werkzeug's ``Headers`` (Flask), or a plain dict. Looked up case-insensitively.
    """

    def get(self, key: str, /) -> str | None: ...

    def items(self) -> Iterable[tuple[str, str]]: ...


def compute_signature(raw_body: Body, secret: Secret) -> str:
    """The ``X-Webhook-Signature`` BigMind would send for ``raw_body``: lowercase hex.

    For testing your own receiver with deliveries you craft; a ``str`` is encoded UTF-8.
    """
    return _digest(raw_body, secret).hex()


def verify_signature(raw_body: Body, signature_header: str | bytes | None, secret: Secret) -> bool:
    """Whether ``signature_header`` is the HMAC-SHA256 of ``raw_body`` under ``secret``.

    Returns False (never raises) for a missing, empty, non-hex or wrong-length header, so it
    fits an ``if``. Surrounding whitespace and uppercase hex are accepted (see the module
    docstring). ``raw_body`` should be the bytes as received; a ``str`` is encoded UTF-8, which
    only matches if that is how it was decoded. Raises ``TypeError`` for a body or secret of
    the wrong type and :class:`~bigmind_async.errors.ConfigurationError` for an empty secret:
    those are mistakes in the receiver, not bad deliveries.
    """
    expected = _digest(raw_body, secret)
    received = _parse_header(signature_header)
    return received is not None and hmac.compare_digest(expected, received)


def construct_event(
    raw_body: Body,
    signature_header: str | bytes | None,
    secret: Secret,
    *,
    tolerance: Tolerance | None = None,
    converter: cattrs.Converter | None = None,
) -> WebhookEvent:
    """Verify a delivery, then parse it into a :class:`~bigmind_async.WebhookEvent`.

    Nothing is parsed until the signature holds. ``tolerance`` (seconds or a ``timedelta``)
    rejects an event whose envelope timestamp is further than that from now, either way; it is
    off by default since the API signs no timestamp of its own (see the module docstring).
    ``converter`` is one from :func:`~bigmind_async._serialization.make_converter`, reused
    across calls; a fresh one is built per call when it is ``None``.

    Raises:
        WebhookSignatureError: The signature is missing, malformed or wrong, or the event is
            outside ``tolerance`` (code ``WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE``).
        InvalidResponseError: The signature holds but the body is not a BigMind event.
    """
    max_skew = _tolerance_seconds(tolerance)
    body = _as_bytes(raw_body, "raw_body")
    if not verify_signature(body, signature_header, secret):
        raise WebhookSignatureError(_signature_problem(signature_header))
    event = _parse_event(body, converter or make_converter())
    if max_skew is not None:
        _check_timestamp(event, max_skew)
    return event


class WebhookResponse(NamedTuple):
    """What a receiver should answer the sender: unpack it as ``status, body = ...``.

    Attributes:
        status: 200 for an accepted delivery, 400 for one that failed verification or parsing.
        body: A small JSON document (``{"received": true}``...) for the sender's logs.
    """

    status: int
    body: bytes

    @property
    def headers(self) -> dict[str, str]:
        """The response headers to send with ``body``."""
        return {"Content-Type": "application/json"}


class WebhookRouter:
    """A webhook receiver: verifies, parses, and dispatches events to your callbacks.

    Register callbacks by event name, or for every event::

        router = WebhookRouter(os.environ["BIGMIND_WEBHOOK_SECRET"])

        @router.on("dicom.report.attached")
        async def attached(event: WebhookEvent) -> None: ...

        @router.on_any
        def log_every_event(event: WebhookEvent) -> None: ...

    For each event, the callbacks for its name run first, then the catch-all ones, each in
    registration order. Callbacks may be async or sync; in the async paths a sync callback runs
    in a worker thread, so blocking code in it never stalls the event loop.

    Answers (see :class:`WebhookResponse`): 400 when the signature fails or the signed body is
    not an event; otherwise 200, even when a callback raised. A callback's exception is logged
    (logger ``bigmind_async.webhooks``, with the event name) and does not stop the other
    callbacks. The API documents no retry policy, so a 5xx buys no guaranteed redelivery, while
    a deterministic bug answered with 5xx would make a retrying sender hammer the receiver with
    the same event. If you need at-least-once processing, persist the event in the callback and
    work from your own queue.
    """

    def __init__(
        self,
        secret: Secret,
        *,
        tolerance: Tolerance | None = None,
        converter: cattrs.Converter | None = None,
    ) -> None:
        _require_secret(secret)
        self._secret = secret
        self._tolerance = tolerance
        _tolerance_seconds(tolerance)  # fail at construction, not on the first delivery
        self._converter = converter or make_converter()
        self._callbacks: dict[str, list[Callback]] = {}
        self._catch_all: list[Callback] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def __repr__(self) -> str:  # never the secret
        return (
            f"WebhookRouter(events={sorted(self._callbacks)!r}, catch_all={len(self._catch_all)})"
        )

    def on(self, *events: str) -> Callable[[_C], _C]:
        """Decorator: call the function for deliveries of these event names.

        Any name is accepted (a newer server's events included); :data:`KNOWN_EVENTS` lists
        the documented ones. The function is returned unchanged.
        """
        if not events or not all(isinstance(name, str) and name for name in events):
            raise ValueError("on() needs one or more non-empty event names")

        def register(callback: _C) -> _C:
            for name in events:
                self._callbacks.setdefault(name, []).append(callback)
            return callback

        return register

    def on_any(self, callback: _C) -> _C:
        """Decorator: call the function for every delivery, after the per-name callbacks."""
        self._catch_all.append(callback)
        return callback

    async def handle(self, headers: HeaderSource, raw_body: bytes) -> WebhookResponse:
        """Verify, parse, and run the event's callbacks, then give the answer to send.

        Framework-neutral: pass the request's headers (a :class:`HeaderSource`: any mapping,
        werkzeug's ``Headers``, a plain dict) and its raw body. The callbacks have all run when
        this returns, so keep them quick, or answer first with :meth:`aiohttp_handler`'s
        background mode.
        """
        event, response = self._receive(headers, raw_body)
        if event is not None:
            await self._dispatch(event)
        return response

    def handle_sync(self, headers: HeaderSource, raw_body: bytes) -> WebhookResponse:
        """:meth:`handle` for sync frameworks (Flask, Django): sync callbacks only.

        The callbacks run in the calling thread before this returns. A router holding an
        ``async def`` callback raises ``TypeError`` here, on the first delivery, since there is
        no event loop to run it on: use :meth:`handle` from an async framework instead.
        """
        self._refuse_async_callbacks()
        event, response = self._receive(headers, raw_body)
        if event is not None:
            for callback in self._callbacks_for(event):
                self._call_sync(callback, event)
        return response

    def aiohttp_handler(
        self, *, background: bool = True
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """An aiohttp.web handler: ``app.router.add_post("/webhooks", router.aiohttp_handler())``.

        With ``background=True`` (the default) the handler answers as soon as the delivery is
        verified and parsed, and the callbacks run afterwards in tasks the router keeps, so a
        slow callback never makes the sender time out; call :meth:`drain` at shutdown
        (``app.on_shutdown.append(lambda _: router.drain())``) so none is cut short. With
        ``background=False`` the answer waits for the callbacks, as :meth:`handle` does.
        """

        async def handle_webhook(request: web.Request) -> web.Response:
            raw_body = await request.read()
            event, response = self._receive(request.headers, raw_body)
            if event is not None:
                if background:
                    self._spawn(event)
                else:
                    await self._dispatch(event)
            return web.Response(
                status=response.status, body=response.body, content_type="application/json"
            )

        return handle_webhook

    @property
    def pending(self) -> int:
        """Background dispatches not finished yet."""
        return len(self._tasks)

    async def drain(self) -> None:
        """Wait until every background dispatch has finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks)

    def _receive(
        self, headers: HeaderSource, raw_body: bytes
    ) -> tuple[WebhookEvent | None, WebhookResponse]:
        try:
            event = construct_event(
                raw_body,
                _signature_header(headers),
                self._secret,
                tolerance=self._tolerance,
                converter=self._converter,
            )
        except (WebhookSignatureError, InvalidResponseError) as exc:
            _logger.warning("webhook delivery refused: %s", exc)
            return None, _answer(400, {"received": False, "error": exc.code})
        return event, _answer(200, {"received": True})

    def _callbacks_for(self, event: WebhookEvent) -> list[Callback]:
        return [*self._callbacks.get(event.event, ()), *self._catch_all]

    async def _dispatch(self, event: WebhookEvent) -> None:
        for callback in self._callbacks_for(event):
            await self._call_async(callback, event)

    def _spawn(self, event: WebhookEvent) -> None:
        task = asyncio.get_running_loop().create_task(self._dispatch(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _call_async(self, callback: Callback, event: WebhookEvent) -> None:
        try:
            if _is_async(callback):
                await _as_awaitable(callback(event))
            else:
                result = await anyio.to_thread.run_sync(callback, event)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            _logger.exception("webhook callback %r failed on %s", callback, event.event)

    def _call_sync(self, callback: Callback, event: WebhookEvent) -> None:
        try:
            result = callback(event)
            if inspect.isawaitable(result):
                _discard(result)
                raise TypeError(f"{callback!r} returned an awaitable; handle_sync cannot await it")
        except Exception:
            _logger.exception("webhook callback %r failed on %s", callback, event.event)

    def _refuse_async_callbacks(self) -> None:
        every = [*(cb for cbs in self._callbacks.values() for cb in cbs), *self._catch_all]
        async_ones = [cb for cb in every if _is_async(cb)]
        if async_ones:
            raise TypeError(
                f"handle_sync cannot run async callbacks {async_ones!r}; "
                "use 'await router.handle(...)' or aiohttp_handler() instead"
            )


def _digest(raw_body: Body, secret: Secret) -> bytes:
    key = _require_secret(secret)
    return hmac.new(key, _as_bytes(raw_body, "raw_body"), hashlib.sha256).digest()


def _require_secret(secret: Secret) -> bytes:
    given: object = secret  # typed callers can still pass os.environ.get(...)'s None
    if given is None or given in ("", b""):
        raise ConfigurationError(
            "the webhook signing secret is missing or empty (is its environment variable set?)"
        )
    return _as_bytes(secret, "secret")


def _as_bytes(value: Body, name: str) -> bytes:
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes or str, not {type(value).__name__}")


def _parse_header(header: str | bytes | None) -> bytes | None:
    """The 32 digest bytes a header names, or None when it does not name exactly 32."""
    if isinstance(header, (bytes, bytearray)):
        try:
            header = bytes(header).decode("ascii")
        except UnicodeDecodeError:
            return None
    if not isinstance(header, str):
        return None
    text = header.strip(_HEADER_WHITESPACE)
    if _HEX_DIGEST.fullmatch(text) is None:
        return None
    return bytes.fromhex(text)


def _signature_problem(header: str | bytes | None) -> str:
    """Why a header failed, for the error message (the secret and digests stay out of it)."""
    if header is None:
        return f"the delivery has no {SIGNATURE_HEADER} header (or it was repeated)"
    if isinstance(header, (str, bytes)) and not header.strip():
        return f"the {SIGNATURE_HEADER} header is empty"
    if _parse_header(header) is None:
        return f"the {SIGNATURE_HEADER} header is not 64 hex digits"
    return f"the {SIGNATURE_HEADER} header does not match the body under this secret"


def _signature_header(headers: HeaderSource) -> str | None:
    """The one signature header; None when absent or repeated (two values are ambiguous)."""
    values = _header_values(headers, SIGNATURE_HEADER)
    return values[0] if len(values) == 1 else None


def _header_values(headers: HeaderSource, name: str) -> list[str]:
    getall = getattr(headers, "getall", None)  # multidict (aiohttp)
    if callable(getall):
        return list(getall(name, []))
    getlist = getattr(headers, "getlist", None)  # werkzeug (Flask), starlette
    if callable(getlist):
        return list(getlist(name))
    value = headers.get(name)  # case-insensitive mappings (Django)
    if value is not None:
        return [value]
    lowered = name.lower()  # a plain dict
    return [v for k, v in headers.items() if k.lower() == lowered]


def _parse_event(raw_body: bytes, converter: cattrs.Converter) -> WebhookEvent:
    try:
        payload = json.loads(raw_body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError too
        raise InvalidResponseError(
            f"the webhook body is signed but is not JSON: {exc}", details=[str(exc)]
        ) from exc
    try:
        return structure(converter, payload, WebhookEvent)
    except InvalidResponseError as exc:
        why = "; ".join(map(str, exc.details or [exc.message]))
        raise InvalidResponseError(
            f"the webhook body is signed but is not a BigMind event: {why}", details=exc.details
        ) from exc


def _tolerance_seconds(tolerance: Tolerance | None) -> float | None:
    if tolerance is None:
        return None
    if isinstance(tolerance, timedelta):
        seconds = tolerance.total_seconds()
    elif isinstance(tolerance, (int, float)) and not isinstance(tolerance, bool):
        seconds = float(tolerance)
    else:
        raise TypeError(f"tolerance must be seconds or a timedelta, not {type(tolerance).__name__}")
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"tolerance must be a finite, non-negative duration, not {tolerance!r}")
    return seconds


def _check_timestamp(event: WebhookEvent, max_skew: float) -> None:
    if event.timestamp is None:
        raise WebhookSignatureError(
            "the event has no timestamp, so its age cannot be checked against the tolerance",
            code=_TIMESTAMP_CODE,
        )
    skew = (datetime.now(timezone.utc) - event.timestamp).total_seconds()
    if abs(skew) > max_skew:
        when = "old" if skew > 0 else "in the future"
        raise WebhookSignatureError(
            f"the event's timestamp is {abs(skew):.0f} s {when}, over the {max_skew:g} s tolerance",
            code=_TIMESTAMP_CODE,
        )


def _answer(status: int, payload: Mapping[str, Any]) -> WebhookResponse:
    return WebhookResponse(status, json.dumps(payload, separators=(",", ":")).encode())


def _is_async(callback: Callback) -> bool:
    target = getattr(callback, "__call__", None)  # noqa: B004  # async __call__ objects
    return inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(target)


async def _as_awaitable(result: object) -> None:
    if inspect.isawaitable(result):
        await result


def _discard(awaitable: Awaitable[Any]) -> None:
    close = getattr(awaitable, "close", None)
    if callable(close):  # a coroutine never awaited would warn
        close()
