"""``BigMind``: the blocking client, a thin facade over :class:`~bigmind_async.AsyncBigMind`.

```python
with BigMind() as client:                       # BIGMIND_API_KEY / BIGMIND_BASE_URL
    for study in client.studies.list(customer_id, modality="CT"):
        ...
    report = client.reports.attach(customer_id, study.study_instance_uid, "r.pdf")
```

Every call runs the async core's own method on the client's event loop thread (see
:mod:`bigmind_sync._portal`) and returns its result, or raises its exception: the same typed
errors, the same retries, limiter and validation. The facade adds only the hand-off.
"""

from __future__ import annotations

import functools
import inspect
import ssl as ssl_module
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

import yarl

from bigmind_async import NOT_GIVEN, AsyncBigMind, NotGiven, RateLimiter, Timeout
from bigmind_sync._mirror import args_section, mirrors
from bigmind_sync._portal import PortalRunner, release
from bigmind_sync._resources import Reports, ReportsRaw, Studies, StudiesRaw

if TYPE_CHECKING:
    from bigmind_sync._portal import Runtime

__all__ = ["BigMind", "RawResponses"]

T = TypeVar("T")


class RawResponses:
    """``client.with_raw_response``: the same resources, returning APIResponse objects."""

    def __init__(self, client: BigMind) -> None:
        self.studies = StudiesRaw(client)
        self.reports = ReportsRaw(client)

    def __repr__(self) -> str:
        return "RawResponses()"


class BigMind:
    """The blocking client of the BigMind Partner API's DICOM Reports.

    The same arguments, resources, methods and errors as :class:`~bigmind_async.AsyncBigMind`
    (see its documentation), returning plain values, :class:`~bigmind_sync.Pager` iterators
    and plain iterators. Raises ConfigurationError at once for a missing key, a bad URL or bad
    settings.

    Runs the async client on its own event loop in a daemon thread (an anyio blocking
    portal), started on the first call and stopped by :meth:`close` / ``with``. One client is
    meant to be shared: calls from many threads run concurrently on that loop. It works from
    threads where another event loop runs, and in a child process after ``os.fork()`` (the
    child gets a fresh loop and connections). Calling it from its own loop thread (an
    ``on_progress`` callback) raises RuntimeError; from another running loop's thread (a
    Jupyter cell) it works but blocks that loop while it waits, as any blocking call does.
    Ctrl-C during a call cancels it. ``on_progress`` callbacks run on the loop thread.
    """

    _runner: PortalRunner[AsyncBigMind]
    _derive: Callable[[AsyncBigMind], AsyncBigMind] | None
    _cached: tuple[AsyncBigMind, AsyncBigMind] | None
    _root: BigMind

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
        factory = functools.partial(
            AsyncBigMind,
            api_key,
            base_url,
            timeout=timeout,
            max_retries=max_retries,
            rate_limit=rate_limit,
            rate_limit_burst=rate_limit_burst,
            connection_limit=connection_limit,
            ssl=ssl,
            trust_env=trust_env,
            default_headers=default_headers,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )
        # Built now so that bad settings raise here; it binds no loop (its session is created
        # lazily, on the portal's loop, where it is entered and exited). After a fork the
        # child builds its own from the same arguments.
        first = factory()
        self._runner = PortalRunner(factory, first=first, name=f"bigmind-portal-{id(self):x}")
        self._derive = None
        self._cached = None
        self._root = self
        finalizer = weakref.finalize(self, release, self._runner)
        finalizer.atexit = False  # the portal module's exit hook closes live clients
        self._init_view()

    def _init_view(self) -> None:
        self.studies = Studies(self)
        self.reports = Reports(self)
        self.with_raw_response = RawResponses(self)

    # -- the hand-off --------------------------------------------------------------------------

    def _target(self, root: AsyncBigMind) -> AsyncBigMind:
        """The async client (or ``with_options`` view of it) this sync view forwards to."""
        derive = self._derive
        if derive is None:
            return root
        cached = self._cached
        if cached is not None and cached[0] is root:
            return cached[1]
        target = derive(root)
        self._cached = (root, target)
        return target

    def _call(self, fn: Callable[[AsyncBigMind], Awaitable[T]]) -> T:
        """Await ``fn(async_client)`` on the portal's loop; return its result."""
        rt: Runtime[AsyncBigMind] = self._runner.runtime()
        if self._derive is None:
            return rt.call(fn, rt.client)
        return rt.call(lambda: fn(self._target(rt.client)))

    def _call_sync(self, fn: Callable[[AsyncBigMind], T]) -> T:
        """Run plain ``fn(async_client)`` on the portal's loop; return its result."""
        rt: Runtime[AsyncBigMind] = self._runner.runtime()
        return rt.call_sync(lambda: fn(self._target(rt.client)))

    def _iterate(
        self, open_: Callable[[AsyncBigMind], AsyncIterator[T]]
    ) -> Generator[T, None, None]:
        """A plain iterator over the async iterator ``open_(async_client)``."""
        rt: Runtime[AsyncBigMind] = self._runner.runtime()
        return rt.iterate(lambda root: open_(self._target(root)))

    def _current(self) -> AsyncBigMind:
        return self._target(self._runner.client())

    # -- options -------------------------------------------------------------------------------

    @mirrors(AsyncBigMind.with_options)
    def with_options(
        self,
        *,
        timeout: Timeout | float | NotGiven | None = NOT_GIVEN,
        max_retries: int | NotGiven = NOT_GIVEN,
    ) -> BigMind:
        parent = self

        def derive(root: AsyncBigMind) -> AsyncBigMind:
            return parent._target(root).with_options(timeout=timeout, max_retries=max_retries)

        derive(self._runner.client())  # bad options raise now, as in async
        view = object.__new__(BigMind)
        view._runner = self._runner
        view._derive = derive
        view._cached = None
        view._root = self._root  # keeps the client (and its finalizer) alive with the view
        view._init_view()
        return view

    @property
    @mirrors(AsyncBigMind.base_url)
    def base_url(self) -> yarl.URL:
        return self._current().base_url

    @property
    @mirrors(AsyncBigMind.timeout)
    def timeout(self) -> Timeout:
        return self._current().timeout

    @property
    @mirrors(AsyncBigMind.max_retries)
    def max_retries(self) -> int:
        return self._current().max_retries

    @property
    @mirrors(AsyncBigMind.rate_limiter)
    def rate_limiter(self) -> RateLimiter:
        return self._current().rate_limiter

    @property
    def is_closed(self) -> bool:
        """Whether :meth:`close` ran."""
        return self._runner.closed

    # -- lifecycle -----------------------------------------------------------------------------

    def close(self) -> None:
        """Close the connection pool and stop the event loop thread. Idempotent; a view
        closes the client it came from. Calls still running in other threads finish first."""
        self._runner.close()

    def __enter__(self) -> BigMind:
        if self.is_closed:
            raise RuntimeError("this BigMind client is closed; create a new one")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return repr(self._current()).replace("AsyncBigMind(", "BigMind(", 1)

    def __reduce__(self) -> Any:
        raise TypeError("BigMind clients are not picklable")


# The constructor's arguments are the async client's: so is their documentation.
if (_args := args_section(AsyncBigMind)) and BigMind.__doc__:
    BigMind.__doc__ = inspect.cleandoc(BigMind.__doc__) + "\n\n" + _args
