"""``AsyncBigMind``: the async client.

```python
async with AsyncBigMind() as client:            # BIGMIND_API_KEY / BIGMIND_BASE_URL
    async for study in client.studies.list(customer_id, modality="CT"):
        ...
    report = await client.reports.attach(customer_id, study.study_instance_uid, "r.pdf")
```

- Per-call overrides: ``client.with_options(timeout=5, max_retries=0).reports.get(...)``
  returns a view sharing the session, the rate limiter and the converter; only the options
  differ. Closing a view closes the client it came from.
- Raw access: ``client.with_raw_response.reports.get(...)`` returns an
  :class:`~bigmind_async.APIResponse` (``.parsed``, ``.status``, ``.headers``,
  ``.request_id``, ``.elapsed``, ``.attempts``). Errors carry status, headers and request id.
"""

from __future__ import annotations

import ssl as ssl_module
import warnings
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import attrs
import yarl

from bigmind_async._config import Settings, Timeout, resolve_settings
from bigmind_async._core import Core
from bigmind_async._logging import setup_from_env
from bigmind_async._ratelimit import RateLimiter
from bigmind_async._reports import AsyncReports, AsyncReportsRaw
from bigmind_async._retries import RetryPolicy
from bigmind_async._serialization import make_converter
from bigmind_async._studies import AsyncStudies, AsyncStudiesRaw
from bigmind_async._transport import CallOptions, Transport
from bigmind_async.errors import ConfigurationError

__all__ = ["NOT_GIVEN", "AsyncBigMind", "NotGiven", "RawResponses"]


class NotGiven:
    """The type of :data:`NOT_GIVEN`: tells "not passed" apart from ``None``."""

    _instance: NotGiven | None = None

    def __new__(cls) -> NotGiven:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __bool__(self) -> bool:
        return False

    def __repr__(self) -> str:
        return "NOT_GIVEN"


NOT_GIVEN = NotGiven()


class RawResponses:
    """``client.with_raw_response``: the same resources, returning APIResponse objects."""

    def __init__(self, core: Core, options: CallOptions) -> None:
        self.studies = AsyncStudiesRaw(core, options)
        self.reports = AsyncReportsRaw(core, options)

    def __repr__(self) -> str:
        return "RawResponses()"


class AsyncBigMind:
    """The async client of the BigMind Partner API's DICOM Reports.

    Args:
        api_key: The partner secret (``sk_live_...``); default ``BIGMIND_API_KEY``. Never shown
            in reprs, logs or errors.
        base_url: Default ``BIGMIND_BASE_URL``, else ``https://app.bigmind.com/api/partner/v1``.
            Plain ``http://`` only to a loopback host.
        timeout: A :class:`Timeout` (connect, read, per attempt, total deadline), or seconds
            for the whole call across its retries.
        max_retries: Retries after the first attempt (see the reliability rules).
        rate_limit: Requests per minute this client sends, retries included (default 120, the
            API's limit); ``None`` turns the client-side limiter off.
        rate_limit_burst: Requests the limiter lets out at once (default: one second's worth,
            1 to 4); the pace then keeps every 60 s window under ``rate_limit``.
        connection_limit: Size of the connection pool.
        ssl: An ``ssl.SSLContext`` (custom CA bundle) or ``False`` (no verification: tests only).
        trust_env: Take proxies (``HTTPS_PROXY``...) and ``.netrc`` from the environment.
        default_headers: Extra headers on every API request.
        backoff_base: First backoff ceiling in seconds; ``0`` disables backoff sleeps.
        backoff_cap: Largest backoff ceiling in seconds.

    Raises ConfigurationError at once for a missing key, a bad URL or bad settings.
    Use ``async with`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        api_key: str | None = None,
        base_url: str | yarl.URL | None = None,
        *,
        timeout: Timeout | float | None = Timeout(),  # noqa: B008 - immutable
        max_retries: int = 3,
        rate_limit: float | None = 120,
        rate_limit_burst: float | None = None,
        connection_limit: int = 100,
        ssl: ssl_module.SSLContext | bool | None = None,
        trust_env: bool = False,
        default_headers: Mapping[str, str] | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 8.0,
    ) -> None:
        self._root = True
        settings = resolve_settings(
            api_key=api_key,
            base_url=base_url,
            connection_limit=connection_limit,
            ssl=ssl,
            trust_env=trust_env,
            default_headers=default_headers,
        )
        options = CallOptions(
            timeout=Timeout.coerce(timeout),
            retry=_retry_policy(
                RetryPolicy(),
                max_retries=max_retries,
                backoff_base=backoff_base,
                backoff_cap=backoff_cap,
            ),
        )
        try:
            limiter = RateLimiter(rate_limit, rate_limit_burst)
        except ValueError as exc:
            raise ConfigurationError(f"rate_limit: {exc}") from None
        setup_from_env()
        core = Core(transport=Transport(settings, limiter), converter=make_converter())
        self._init_view(core, options, settings)

    def _init_view(self, core: Core, options: CallOptions, settings: Settings) -> None:
        self._core = core
        self._options = options
        self._settings = settings
        self.studies = AsyncStudies(core, options)
        self.reports = AsyncReports(core, options)
        self.with_raw_response = RawResponses(core, options)

    # -- options -------------------------------------------------------------------------------

    def with_options(
        self,
        *,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> AsyncBigMind:
        """A view of this client with other per-call options.

        It shares the session, the rate limiter, the converter and the attach bookkeeping;
        only ``timeout`` / ``max_retries`` differ. It is cheap: make one per call if you like.
        """
        retry = self._options.retry
        if not isinstance(max_retries, NotGiven):
            retry = _retry_policy(retry, max_retries=max_retries)
        options = CallOptions(
            timeout=self._options.timeout
            if isinstance(timeout, NotGiven)
            else Timeout.coerce(timeout),
            retry=retry,
        )
        view = object.__new__(AsyncBigMind)
        view._root = False
        view._init_view(self._core, options, self._settings)
        return view

    @property
    def base_url(self) -> yarl.URL:
        """The API root requests go to."""
        return self._settings.base_url

    @property
    def timeout(self) -> Timeout:
        """This view's timeouts."""
        return self._options.timeout

    @property
    def max_retries(self) -> int:
        """This view's retry count."""
        return self._options.retry.max_retries

    @property
    def rate_limiter(self) -> RateLimiter:
        """The limiter every request of this client (and its views) waits on."""
        return self._core.limiter

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`aclose` ran."""
        return self._core.transport.is_closed

    # -- lifecycle -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Close the connection pool. Idempotent; a view closes the client it came from."""
        await self._core.transport.aclose()

    async def __aenter__(self) -> AsyncBigMind:
        if self.is_closed:
            raise RuntimeError("this BigMind client is closed; create a new one")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return (
            f"AsyncBigMind(base_url={str(self._settings.base_url)!r}, api_key='**********', "
            f"max_retries={self.max_retries})"
        )

    def __del__(self) -> None:
        # No event-loop calls here: the loop may be gone. Just say it, the way files do.
        try:
            root = self._root
            transport = self._core.transport
        except AttributeError:  # __init__ failed before the view was set up
            return
        if root and transport.has_open_session and not transport.is_closed:
            warnings.warn(
                f"unclosed {self!r}; use 'async with AsyncBigMind() as client:' or "
                "'await client.aclose()'",
                ResourceWarning,
                source=self,
                stacklevel=1,
            )

    def __reduce__(self) -> Any:
        raise TypeError("AsyncBigMind clients are not picklable")


def _retry_policy(policy: RetryPolicy, **changes: Any) -> RetryPolicy:
    """``policy`` with ``changes``; ConfigurationError when they do not hold."""
    try:
        return attrs.evolve(policy, **changes)
    except (TypeError, ValueError) as exc:
        raise ConfigurationError(f"max_retries/backoff: {exc}") from None
