"""``ThreadedEmulator``: an ``Emulator`` on its own event loop in a daemon thread.

For synchronous code and the pytest plugin. Every method is marshalled onto the loop thread
and waits for the result, so seeding and fault injection never race the server. Calling a
blocking method (``wait_webhooks_idle``) from the loop thread itself raises ``RuntimeError``
instead of deadlocking.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar

from bigmind_async.emulator._faults import Fault, FaultInjector
from bigmind_async.emulator._server import Emulator
from bigmind_async.emulator._state import PartnerInfo
from bigmind_async.emulator._stats import EmulatorStats

P = ParamSpec("P")
R = TypeVar("R")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

_START_TIMEOUT = 30.0


class _Caller(Protocol[T_co]):
    """A thread-side view whose ``call(fn)`` runs ``fn(target)`` on the loop thread."""

    def call(self, fn: Callable[[T_co], R]) -> R: ...


def _marshal(
    method: Callable[Concatenate[T, P], R], owner: str = "ThreadedEmulator"
) -> Callable[Concatenate[_Caller[T], P], R]:
    """``method`` as a method of the class ``owner``, run on the loop thread by its ``call``."""

    def wrapper(self: _Caller[T], /, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.call(lambda target: method(target, *args, **kwargs))

    wrapper.__name__ = method.__name__
    wrapper.__qualname__ = f"{owner}.{method.__name__}"
    wrapper.__doc__ = method.__doc__
    return wrapper


class ThreadedFaults:
    """``FaultInjector`` seen from another thread."""

    def __init__(self, owner: ThreadedEmulator) -> None:
        self._owner = owner

    def call(self, fn: Callable[[FaultInjector], R]) -> R:
        """Run ``fn(fault_injector)`` on the loop thread and return its result."""
        return self._owner.call(lambda emu: fn(emu.faults))

    inject = _marshal(FaultInjector.inject, "ThreadedFaults")
    clear = _marshal(FaultInjector.clear, "ThreadedFaults")
    remove = _marshal(FaultInjector.remove, "ThreadedFaults")

    @property
    def faults(self) -> list[Fault]:
        return self.call(lambda injector: injector.faults)


class ThreadedEmulator:
    """Run an ``Emulator`` in a background thread: ``with ThreadedEmulator() as emu: ...``.

    Takes the same keyword arguments as ``Emulator``. ``base_url``, ``api_key`` and the
    seeding, fault and webhook helpers behave as on ``Emulator``, from any thread.
    """

    def __init__(self, **kwargs: Any) -> None:
        self._emulator = Emulator(**kwargs)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.faults = ThreadedFaults(self)

    def __repr__(self) -> str:
        return f"<ThreadedEmulator {self._emulator!r}>"

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> ThreadedEmulator:
        """Start the loop thread and the server; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("this ThreadedEmulator is already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(
            target=self._run_loop, args=(loop,), name="bigmind-emulator", daemon=True
        )
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._emulator.start(), loop).result(_START_TIMEOUT)
        except BaseException:
            self._stop_loop()
            raise
        return self

    @staticmethod
    def _run_loop(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
        finally:
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            if pending:
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            loop.call_soon_threadsafe(loop.stop)
            thread.join()

    def close(self) -> None:
        """Stop the server and the loop thread (idempotent)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            with contextlib.suppress(RuntimeError):
                asyncio.run_coroutine_threadsafe(self._emulator.aclose(), loop).result()
        finally:
            self._stop_loop()

    def __enter__(self) -> ThreadedEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- marshalling -------------------------------------------------------------------------

    def _on_loop_thread(self) -> bool:
        return self._thread is not None and threading.current_thread() is self._thread

    def call(self, fn: Callable[[Emulator], R]) -> R:
        """Run ``fn(emulator)`` on the loop thread and return its result."""
        loop = self._loop
        if loop is None or self._on_loop_thread() or loop.is_closed():
            return fn(self._emulator)
        future: concurrent.futures.Future[R] = concurrent.futures.Future()

        def run() -> None:
            try:
                future.set_result(fn(self._emulator))
            except BaseException as exc:
                future.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return future.result()

    def run(self, fn: Callable[[Emulator], Awaitable[R]]) -> R:
        """Await ``fn(emulator)`` on the loop thread, blocking this thread until it is done."""
        loop = self._loop
        if loop is None:
            raise RuntimeError("the ThreadedEmulator is not started")
        if self._on_loop_thread():
            raise RuntimeError("cannot block on the emulator's own loop thread")

        async def runner() -> R:
            return await fn(self._emulator)

        return asyncio.run_coroutine_threadsafe(runner(), loop).result()

    # -- the Emulator's surface --------------------------------------------------------------

    @property
    def emulator(self) -> Emulator:
        """The wrapped ``Emulator`` (touch it only through ``call`` / ``run``)."""
        return self._emulator

    @property
    def base_url(self) -> str:
        return self._emulator.base_url

    @property
    def origin(self) -> str:
        return self._emulator.origin

    @property
    def port(self) -> int:
        return self._emulator.port

    @property
    def api_key(self) -> str:
        return self._emulator.api_key

    @property
    def partner_key_id(self) -> str:
        return self._emulator.partner_key_id

    @property
    def partner(self) -> PartnerInfo:
        return self._emulator.partner

    @property
    def demo_customer_id(self) -> str | None:
        return self._emulator.demo_customer_id

    @property
    def stats(self) -> EmulatorStats:
        """The live counters (read-only use from other threads is fine)."""
        return self._emulator.stats

    def stats_snapshot(self) -> dict[str, Any]:
        """A consistent JSON-ready copy of the counters."""
        return self.call(lambda emu: emu.stats.to_json())

    def reset_stats(self) -> None:
        self.call(lambda emu: emu.stats.reset())

    def wait_webhooks_idle(self) -> None:
        """Block until every queued webhook delivery is done."""
        self.run(lambda emu: emu.wait_webhooks_idle())

    add_partner = _marshal(Emulator.add_partner)
    add_api_key = _marshal(Emulator.add_api_key)
    revoke_key = _marshal(Emulator.revoke_key)
    set_partner_status = _marshal(Emulator.set_partner_status)
    seed_demo = _marshal(Emulator.seed_demo)
    add_customer = _marshal(Emulator.add_customer)
    set_quota = _marshal(Emulator.set_quota)
    customer_usage = _marshal(Emulator.customer_usage)
    add_study = _marshal(Emulator.add_study)
    index_study = _marshal(Emulator.index_study)
    add_user_report = _marshal(Emulator.add_user_report)
    add_partner_report = _marshal(Emulator.add_partner_report)
    reports = _marshal(Emulator.reports)
    report_path = _marshal(Emulator.report_path)
    add_webhook = _marshal(Emulator.add_webhook)
    clear_webhooks = _marshal(Emulator.clear_webhooks)
