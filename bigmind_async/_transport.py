"""The request pipeline: one aiohttp session per client, retries, the limiter, the deadline.

Every API call goes through :meth:`Transport.request`:

1. wait for a token from the client's :class:`~bigmind_async._ratelimit.RateLimiter` (never
   past the call's deadline);
2. send one attempt with aiohttp (redirects NOT followed: the key stays on the API's host;
   aiohttp's own silent re-send of idempotent requests is switched off, and counted against
   the budget should an aiohttp version still do it);
3. read the envelope, or build the typed error (by ``error.code``, then status);
4. ask :func:`~bigmind_async._retries.decide` what next: return, raise, retry after a backoff
   (or after ``Retry-After``, which pauses the whole client), or, for an attach whose outcome is
   unknown, reconcile first (also when no retry or time for one is left: once more, before
   raising).

aiohttp's exceptions are translated to :class:`~bigmind_async.errors.APIConnectionError` /
:class:`~bigmind_async.errors.APITimeoutError` in ONE place, :func:`translate_exception`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

import aiohttp
import attrs
import yarl
from multidict import CIMultiDict, CIMultiDictProxy

from bigmind_async._config import Settings, Timeout
from bigmind_async._logging import logger, scrub
from bigmind_async._multipart import MultipartBody
from bigmind_async._ratelimit import DeadlineTooShort, RateLimiter
from bigmind_async._response import APIResponse
from bigmind_async._retries import Action, RetryPolicy, decide
from bigmind_async.errors import (
    APIConnectionError,
    APITimeoutError,
    BigMindError,
    InvalidResponseError,
    error_from_response,
)

__all__ = [
    "EXCEPTION_RULES",
    "Answer",
    "CallOptions",
    "Deadline",
    "Transport",
    "TransportFailure",
    "path_for",
    "translate_exception",
]

T = TypeVar("T")

REQUEST_ID_HEADER = "X-Request-Id"


_UNRESERVED = re.compile(r"[A-Za-z0-9._~-]+")


def path_for(*segments: str) -> str:
    """``/a/b%2Fc``: each segment percent-encoded whole (``safe=""``), never normalized.

    Ids and UIDs are nearly always unreserved characters already, which need no quoting
    (``quote`` costs ~4 us a segment: a few percent of a small upload).
    """
    return "".join(
        "/" + (segment if _UNRESERVED.fullmatch(segment) else quote(segment, safe=""))
        for segment in segments
    )


@attrs.frozen(kw_only=True)
class CallOptions:
    """The per-call knobs ``with_options`` overrides.

    Attributes:
        timeout: Connect / read / per-attempt timeouts and the call's total deadline.
        retry: The retry count and backoff.
    """

    timeout: Timeout
    retry: RetryPolicy


class Deadline:
    """The moment a call must be over by (``None``: no deadline)."""

    __slots__ = ("_clock", "at", "seconds")

    def __init__(self, seconds: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.seconds = seconds
        self.at = None if seconds is None else clock() + seconds

    def remaining(self) -> float | None:
        """Seconds left (may be <= 0), or ``None`` without a deadline."""
        return None if self.at is None else self.at - self._clock()

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        left = self.remaining()
        return left is not None and left <= 0

    def error(self, attempts: int, cause: BaseException | None = None) -> APITimeoutError:
        """The APITimeoutError for a call whose deadline ran out."""
        text = f"the call's deadline of {self.seconds:g}s ran out after {attempts} attempt(s)"
        if cause is not None:
            text += f"; last error: {cause}"
        return APITimeoutError(text, status=None)


# --- exception translation: the one place aiohttp's exceptions become ours ------------------


@attrs.frozen
class TransportFailure:
    """An attempt that got no HTTP answer, translated.

    Attributes:
        error: The SDK error to raise if it is not retried.
        retryable: Whether trying again can help.
        before_send: Certainly nothing reached the server (a refused connection...).
    """

    error: APIConnectionError
    retryable: bool
    before_send: bool


@attrs.frozen
class _Rule:
    timeout: bool
    retryable: bool
    before_send: bool
    what: str


def _cls(name: str) -> type[BaseException] | None:
    found = getattr(aiohttp, name, None)
    return found if isinstance(found, type) else None


#: (exception class name in aiohttp, rule), most specific first. A class the installed
#: aiohttp lacks (older versions) is skipped. tests/async_core/test_transport.py fails when
#: aiohttp exports an exception class that is not listed here.
_RULE_TABLE: tuple[tuple[str, _Rule], ...] = (
    ("ConnectionTimeoutError", _Rule(True, True, True, "timed out connecting")),
    ("SocketTimeoutError", _Rule(True, True, False, "timed out reading the answer")),
    ("ServerTimeoutError", _Rule(True, True, False, "timed out")),
    ("ClientConnectorCertificateError", _Rule(False, False, True, "TLS certificate error")),
    ("ClientConnectorSSLError", _Rule(False, False, True, "TLS error")),
    ("ClientSSLError", _Rule(False, False, True, "TLS error")),
    ("ServerFingerprintMismatch", _Rule(False, False, True, "TLS fingerprint mismatch")),
    ("ClientProxyConnectionError", _Rule(False, True, True, "cannot connect to the proxy")),
    ("ClientConnectorDNSError", _Rule(False, True, True, "cannot resolve the host")),
    ("ClientConnectorError", _Rule(False, True, True, "cannot connect")),
    ("UploadAbortedError", _Rule(False, True, True, "the body was not fully sent")),
    ("ServerDisconnectedError", _Rule(False, True, False, "the server closed the connection")),
    ("ClientConnectionResetError", _Rule(False, True, False, "the connection was reset")),
    ("ClientOSError", _Rule(False, True, False, "connection error")),
    ("ServerConnectionError", _Rule(False, True, False, "connection error")),
    ("ClientPayloadError", _Rule(False, True, False, "the answer was cut short")),
    ("ClientConnectionError", _Rule(False, True, False, "connection error")),
    ("NonHttpUrlRedirectClientError", _Rule(False, False, True, "bad redirect URL")),
    ("InvalidUrlRedirectClientError", _Rule(False, False, True, "bad redirect URL")),
    ("NonHttpUrlClientError", _Rule(False, False, True, "not an http(s) URL")),
    ("InvalidUrlClientError", _Rule(False, False, True, "invalid URL")),
    ("InvalidURL", _Rule(False, False, True, "invalid URL")),
    ("RedirectClientError", _Rule(False, False, True, "bad redirect")),
    ("TooManyRedirects", _Rule(False, False, False, "too many redirects")),
    ("ClientHttpProxyError", _Rule(False, True, True, "the proxy refused the connection")),
    ("ContentTypeError", _Rule(False, False, False, "unexpected content type")),
    ("WSServerHandshakeError", _Rule(False, False, False, "websocket handshake failed")),
    ("ClientResponseError", _Rule(False, False, False, "bad answer")),
    ("ClientError", _Rule(False, False, False, "HTTP client error")),
)

#: The rules by class, for the installed aiohttp.
EXCEPTION_RULES: dict[type[BaseException], _Rule] = {
    cls: rule for name, rule in _RULE_TABLE if (cls := _cls(name)) is not None
}
_TIMEOUT_RULE = _Rule(True, True, False, "timed out")
_OS_RULE = _Rule(False, True, False, "connection error")


def _rule_for(exc_type: type[BaseException]) -> _Rule | None:
    for klass in exc_type.__mro__:
        rule = EXCEPTION_RULES.get(klass)
        if rule is not None:
            return rule
    if issubclass(exc_type, (asyncio.TimeoutError, TimeoutError)):
        return _TIMEOUT_RULE
    if issubclass(exc_type, OSError):
        return _OS_RULE
    return None


def translate_exception(exc: BaseException, *, secret: str = "") -> TransportFailure | None:
    """The SDK error for an exception raised while sending; ``None`` if it is not a transport
    failure (a bug, a cancellation) and must propagate as is."""
    rule = _rule_for(type(exc))
    if rule is None:
        return None
    try:
        detail = str(exc)
    except Exception:  # some aiohttp exceptions format attributes that may be missing
        detail = ", ".join(str(arg) for arg in exc.args)
    detail = scrub(detail, secret) if secret else detail
    text = f"{rule.what} ({type(exc).__name__}{': ' + detail if detail else ''})"
    error_cls = APITimeoutError if rule.timeout else APIConnectionError
    return TransportFailure(error_cls(text, status=None), rule.retryable, rule.before_send)


# --- the pipeline ----------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Answer:
    """A call that succeeded.

    Attributes:
        status: HTTP status of the final answer.
        headers: Its headers.
        request_id: Its ``X-Request-Id``.
        data: The envelope's ``data`` (or the reconciled value when ``reconciled``).
        attempts: Requests the call itself sent, aiohttp's hidden re-sends included (an
            attach's reconcile listings are requests of their own, not counted here).
        elapsed: Seconds the call took.
        reconciled: True when ``data`` was found by reconciling instead of by an answer.
    """

    status: int
    headers: Mapping[str, str]
    request_id: str | None
    data: Any
    attempts: int
    elapsed: float
    reconciled: bool = False

    def to_response(self, parsed: T, method: str, path: str) -> APIResponse[T]:
        """The raw-access view of this answer around ``parsed``."""
        return APIResponse(
            parsed=parsed,
            status=self.status,
            headers=self.headers,
            request_id=self.request_id,
            elapsed=self.elapsed,
            attempts=self.attempts,
            method=method,
            path=path,
        )


#: Whether this aiohttp lets a session's hidden re-send of a request be switched off.
_HAS_RETRY_SWITCH = "_retry_connection" in getattr(aiohttp.ClientSession, "ATTRS", ())


class _AttemptContext:
    """Counts the connections one aiohttp request took (more than one: a hidden re-send)."""

    __slots__ = ("connections",)

    def __init__(self) -> None:
        self.connections = 0


async def _on_connection(session: Any, trace_ctx: Any, params: Any) -> None:
    ctx = getattr(trace_ctx, "trace_request_ctx", None)
    if isinstance(ctx, _AttemptContext):
        ctx.connections += 1


#: What a reconcile hook gets: the call's deadline. It returns the found result, or None.
Reconcile = Callable[[Deadline], Awaitable[Any]]


class Transport:
    """Owns the aiohttp session of a client (opened lazily, in the running loop) and sends
    every request through the limiter, the retry rules and the deadline."""

    def __init__(
        self,
        settings: Settings,
        limiter: RateLimiter,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.limiter = limiter
        self._clock = clock
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._base = str(settings.base_url)
        self._secret = settings.api_key.reveal()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("open" if self._session else "idle")
        return f"Transport(base_url={self._base!r}, {state})"

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` ran."""
        return self._closed

    @property
    def has_open_session(self) -> bool:
        """Whether an aiohttp session exists and is not closed."""
        return self._session is not None and not self._session.closed

    async def session(self) -> aiohttp.ClientSession:
        """The client's session, created on first use in the running loop."""
        if self._closed:
            raise RuntimeError("this BigMind client is closed; create a new one")
        loop = asyncio.get_running_loop()
        if self._session is not None:
            if self._loop is not loop:
                raise RuntimeError(
                    "this BigMind client's session belongs to another event loop; "
                    "create one client per loop"
                )
            return self._session
        traces: list[aiohttp.TraceConfig] = []
        if not _HAS_RETRY_SWITCH:
            # Without the switch (below), count the connections each request takes. A trace
            # costs every request its signals, so only where it is needed.
            trace = aiohttp.TraceConfig()
            trace.on_connection_create_start.append(_on_connection)
            trace.on_connection_reuseconn.append(_on_connection)
            traces.append(trace)
        connector = aiohttp.TCPConnector(
            limit=self.settings.connection_limit,
            ssl=self.settings.ssl if self.settings.ssl is not None else True,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            trust_env=self.settings.trust_env,
            cookie_jar=aiohttp.DummyCookieJar(),
            trace_configs=traces or None,
            headers={"User-Agent": self.settings.user_agent},
            raise_for_status=False,
        )
        # aiohttp (>= 3.9) re-sends an idempotent request once, silently, when a reused
        # keep-alive connection turns out closed. Our retry budget owns every re-send: turn it
        # off where the switch exists (3.10.9+); elsewhere _AttemptContext counts it.
        if _HAS_RETRY_SWITCH:
            session._retry_connection = False
        self._session = session
        self._loop = loop
        return session

    async def aclose(self) -> None:
        """Close the session (idempotent)."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def url(self, path: str, params: Sequence[tuple[str, str]] | None = None) -> yarl.URL:
        """The absolute URL of an API path, already encoded (aiohttp must not re-encode it)."""
        query = "?" + urlencode(params, quote_via=quote) if params else ""
        return yarl.URL(self._base + path + query, encoded=True)

    def _headers(self, extra: Mapping[str, str] | None) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict(self.settings.default_headers)
        headers["Accept"] = "application/json"
        headers["Authorization"] = "Bearer " + self._secret
        if extra:
            headers.update(extra)
        return headers

    @staticmethod
    def client_timeout(timeout: Timeout, remaining: float | None) -> aiohttp.ClientTimeout:
        """aiohttp's timeouts for one attempt, never past the deadline."""
        total = timeout.attempt
        if remaining is not None:
            total = remaining if total is None else min(total, remaining)
        return aiohttp.ClientTimeout(
            total=total, connect=None, sock_connect=timeout.connect, sock_read=timeout.read
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        options: CallOptions,
        params: Sequence[tuple[str, str]] | None = None,
        body: MultipartBody | None = None,
        reconcile: Reconcile | None = None,
        ok_on_retry_codes: frozenset[str] = frozenset(),
        deadline: Deadline | None = None,
    ) -> Answer:
        """Send one API call with retries; return its Answer or raise the typed error.

        ``reconcile`` is called (with the deadline) after an ambiguous POST failure; a non-None
        result ends the call as if the server had answered it. ``ok_on_retry_codes``: error
        codes that mean success when met on a retry (a DELETE's REPORT_NOT_FOUND).
        """
        session = await self.session()
        deadline = (
            deadline if deadline is not None else Deadline(options.timeout.total, self._clock)
        )
        policy = options.retry
        url = self.url(path, params)
        extra = None
        if body is not None:
            extra = {"Content-Type": body.content_type, "Content-Length": str(body.content_length)}
        headers = self._headers(extra)
        debug = logger.isEnabledFor(logging.DEBUG)
        started = self._clock()
        attempts = 0
        retries = 0
        last_error: BigMindError | None = None
        while True:
            remaining = deadline.remaining()
            if remaining is not None and remaining <= 0:
                raise deadline.error(attempts, last_error) from last_error
            try:
                await self.limiter.acquire(max_wait=remaining)
            except DeadlineTooShort as exc:
                if last_error is not None:
                    raise last_error from None
                raise APITimeoutError(
                    f"the client-side rate limiter needs {exc.wait:.1f}s, more than the "
                    f"{remaining:.1f}s left of the call's deadline",
                    status=None,
                ) from None
            attempts += 1
            ctx = _AttemptContext()
            if debug:
                logger.debug("request %s %s attempt=%d", method, path, attempts)
            sent_at = self._clock()
            status: int | None = None
            pause = 0.0
            try:
                async with session.request(
                    method,
                    url,
                    headers=headers,
                    data=body.stream() if body is not None else None,
                    allow_redirects=False,
                    timeout=self.client_timeout(options.timeout, deadline.remaining()),
                    trace_request_ctx=ctx,
                ) as resp:
                    raw = await resp.read()
                    status = resp.status
                    resp_headers = resp.headers
            except Exception as exc:
                self.limiter.note_answer()
                attempts += self._count_hidden(ctx, method, path)
                if body is not None and body.error is not None and not body.complete:
                    # Our own body stream failed (the file shrank, on_progress raised...):
                    # aiohttp wraps that in a ClientConnectionError, but it is no connection
                    # failure and sending again cannot help. The server got part of the body,
                    # so it stored nothing.
                    raise body.error from None
                failure = translate_exception(exc, secret=self._secret)
                if failure is None:
                    raise
                if debug:
                    logger.debug(
                        "response %s %s error=%s attempt=%d elapsed_ms=%.1f",
                        method,
                        path,
                        type(exc).__name__,
                        attempts,
                        (self._clock() - sent_at) * 1000,
                    )
                if isinstance(failure.error, APITimeoutError) and deadline.expired():
                    raise deadline.error(attempts, failure.error) from exc
                error: BigMindError = failure.error
                body_complete = not failure.before_send and (body is None or body.complete)
                action = decide(
                    method,
                    status=None,
                    retryable_failure=failure.retryable,
                    body_complete=body_complete,
                )
                error.__cause__ = exc
            else:
                self.limiter.note_answer()
                attempts += self._count_hidden(ctx, method, path)
                request_id = resp_headers.get(REQUEST_ID_HEADER)
                if debug:
                    logger.debug(
                        "response %s %s status=%d attempt=%d elapsed_ms=%.1f request_id=%s",
                        method,
                        path,
                        status,
                        attempts,
                        (self._clock() - sent_at) * 1000,
                        request_id,
                    )
                if 200 <= status < 300:
                    return Answer(
                        status=status,
                        headers=resp_headers,
                        request_id=request_id,
                        data=_envelope_data(raw, status, request_id, resp_headers),
                        attempts=attempts,
                        elapsed=self._clock() - started,
                    )
                error = _status_error(raw, status, request_id, resp_headers)
                if retries > 0 and error.code in ok_on_retry_codes:
                    return Answer(
                        status=status,
                        headers=resp_headers,
                        request_id=request_id,
                        data=None,
                        attempts=attempts,
                        elapsed=self._clock() - started,
                    )
                if status == 429:
                    # Every request of the client waits this out in the limiter.
                    pause = policy.delay(retries + 1, getattr(error, "retry_after", None))
                    self.limiter.pause(pause)
                action = decide(
                    method,
                    status=status,
                    body_complete=body is None or body.complete,
                )
            if action is Action.RAISE or (action is Action.RECONCILE and reconcile is None):
                raise error
            delay = 0.0 if status == 429 else policy.delay(retries + 1)
            left = deadline.remaining()
            if retries >= policy.max_retries or (left is not None and 0 < delay >= left):
                # Out of retries or time. An attach whose outcome is unknown is still looked
                # for, once: raising would invite the caller to attach it a second time.
                if action is Action.RECONCILE and not deadline.expired():
                    assert reconcile is not None
                    try:
                        found = await reconcile(deadline)
                    except BigMindError:  # still unknown: the attach's own error says more
                        raise error from error.__cause__
                    if found is not None:
                        return self._reconciled(found, error, method, path, attempts, started)
                raise error
            retries += 1
            last_error = error
            if delay > 0:
                await self._sleep(delay)
            if debug:
                logger.debug(
                    "retry %s %s next_attempt=%d reason=%s delay_ms=%.1f action=%s",
                    method,
                    path,
                    attempts + 1,
                    error.code,
                    (pause if status == 429 else delay) * 1000,
                    action.value,
                )
            if action is Action.RECONCILE:
                assert reconcile is not None
                found = await reconcile(deadline)
                if found is not None:
                    return self._reconciled(found, error, method, path, attempts, started)

    def _reconciled(
        self, found: Any, error: BigMindError, method: str, path: str, attempts: int, started: float
    ) -> Answer:
        """The Answer of a call whose result a reconcile listing found."""
        logger.debug("reconciled %s %s attempt=%d", method, path, attempts)
        return Answer(
            status=200,
            headers=CIMultiDictProxy(CIMultiDict()),
            request_id=error.request_id,
            data=found,
            attempts=attempts,
            elapsed=self._clock() - started,
            reconciled=True,
        )

    def _count_hidden(self, ctx: _AttemptContext, method: str, path: str) -> int:
        hidden = max(0, ctx.connections - 1)
        if hidden:
            self.limiter.charge(hidden)
            logger.debug(
                "aiohttp re-sent %s %s on a fresh connection %d time(s); counted",
                method,
                path,
                hidden,
            )
        return hidden


def _envelope_data(
    raw: bytes, status: int, request_id: str | None, headers: Mapping[str, str]
) -> Any:
    try:
        payload = json.loads(raw)
    except ValueError:
        raise InvalidResponseError(
            f"HTTP {status} success answer is not JSON ({len(raw)} bytes)",
            status=status,
            request_id=request_id,
            headers=headers,
        ) from None
    if not isinstance(payload, dict) or payload.get("success") is not True or "data" not in payload:
        raise InvalidResponseError(
            f"HTTP {status} success answer is not the API's envelope",
            status=status,
            request_id=request_id,
            headers=headers,
        )
    return payload["data"]


def _status_error(
    raw: bytes, status: int, request_id: str | None, headers: Mapping[str, str]
) -> BigMindError:
    if 300 <= status < 400:
        return BigMindError(
            f"the API answered a redirect (HTTP {status}); redirects are not followed so the "
            "API key never goes to another host",
            code="UNEXPECTED_REDIRECT",
            status=status,
            request_id=request_id,
            headers=headers,
        )
    try:
        payload = json.loads(raw)
    except ValueError:
        payload = None
    return error_from_response(status, payload, request_id=request_id, headers=headers)
