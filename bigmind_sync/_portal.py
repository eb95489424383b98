"""The event loop a sync client runs on: one anyio blocking portal per client.

Lifecycle
    Nothing starts when a client is built. The first call starts, under a lock,
    :func:`anyio.from_thread.start_blocking_portal` (an asyncio loop in a daemon thread) and one
    long-lived *dispatcher* task on it. The dispatcher enters the async client on the portal's
    loop (the equivalent of ``portal.wrap_async_context_manager``: ``__aenter__`` and
    ``__aexit__`` both run in that task) and waits.
    ``close()`` stops taking calls, lets the running ones finish, closes the iterators still
    open, exits the async client (closing its session) on its loop, and stops the portal,
    joining its thread.

Calls
    ``runtime.call(fn, *args)`` runs ``fn(*args)`` on the loop (awaiting it when it returns an
    awaitable) and blocks the calling thread until it is done. The hand-off is as thin as the
    portal's loop allows: the call goes into an inbox (a deque) that the loop empties, starting
    each call as a plain task, every time it polls for I/O; the caller sleeps on a bare
    ``threading.Lock`` that the loop releases once the call is done, just before it next
    sleeps. Only a loop that is asleep in its poll needs waking (one
    ``loop.call_soon_threadsafe``), and it starts the call in the same turn: the portal's loop
    runs on a selector of ours (:class:`_PortalSelector`) that says when it is about to sleep,
    so under load, when the loop is busy, handing a call over costs no system call and no GIL
    hand-off. At most one wake-up each way, no task group or cancel scope per call, no extra
    thread.
    (``portal.start_task_soon`` first waits for the loop to spawn the task before it returns
    its future, a second round trip, and wraps every call in a cancel scope: about twice the
    cost; ``benchmarks/sync_overhead.py`` measures both.) The calls of any number of threads
    run concurrently on the one loop.

Ctrl-C
    A ``KeyboardInterrupt`` (or any ``BaseException``) raised in the waiting thread cancels the
    call's task on the loop (the request is aborted, its connection dropped) and is re-raised.
    Closing the client (or the exit hook) waits for, or cancels, the calls still running.

On an event loop's thread
    Called from the portal's own loop thread (an ``on_progress`` callback calling the client
    back), a call would wait for the loop it is blocking: it raises ``RuntimeError`` at once
    instead, as anyio's portal does. Called from the thread of some OTHER running loop (a
    Jupyter cell, a coroutine), the call works and blocks that thread, and so that loop,
    until it returns, like any blocking I/O (``requests``) would; the work itself runs on the
    portal's own loop, so nothing deadlocks. Async code should use ``AsyncBigMind``.

Fork
    ``os.register_at_fork(after_in_child=...)`` walks the live runners (a ``WeakSet``) in the
    child and drops each started runtime without touching it: the portal thread does not
    exist in the child, and the parent's sockets must not be closed or written from there (a
    TLS close-notify would land in the parent's stream). The dropped runtime, with its
    session, is kept referenced for the child's lifetime so no finalizer ever runs on it. The
    next call in the child builds a fresh async client on a fresh portal. A process-id check
    on each start catches a fork that bypassed the hook.

Interpreter exit
    An ``atexit`` hook closes every live runner, cancelling calls still running on daemon
    threads and waiting a bounded time, so an unclosed client neither hangs the exit nor
    prints tracebacks. A client that is garbage-collected unclosed is closed the same way.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import contextlib
import contextvars
import os
import selectors
import threading
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from contextlib import AbstractContextManager
from inspect import isawaitable
from typing import Any, Generic, Protocol, TypeVar, cast

import anyio
from anyio.abc import TaskStatus
from anyio.from_thread import BlockingPortal, start_blocking_portal

__all__ = ["AsyncClient", "PortalRunner", "Runtime"]

T = TypeVar("T")

#: Seconds the exit hook waits for each step of closing a client.
EXIT_TIMEOUT = 5.0

_CLOSED_MESSAGE = "this BigMind client is closed; create a new one"
_LOOP_THREAD_MESSAGE = (
    "a BigMind (sync) client was called from its own event loop thread (for example from an "
    "on_progress callback), which would deadlock; call it from another thread, or use "
    "AsyncBigMind in async code"
)
_FORKED_MESSAGE = "this iteration was started before os.fork(); start a new one in this process"


class AsyncClient(Protocol):
    """What the runner needs of the async client: an async context manager."""

    async def __aenter__(self) -> Any: ...

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> Any: ...


C = TypeVar("C", bound=AsyncClient)


class _Done:
    """Marks the end of a bridged async iterator."""


_DONE = _Done()


async def _step(iterator: AsyncIterator[T]) -> T | _Done:
    try:
        return await iterator.__anext__()
    except StopAsyncIteration:
        return _DONE


async def _aclose(iterator: AsyncIterator[Any]) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()


class _PortalSelector(selectors.DefaultSelector):
    """The portal loop's selector, where the loop meets the threads that call it.

    Calls in: every time it polls, the loop takes the calls handed over, and ``sleeping``
    tells a submitting thread whether the loop must be woken to see its call at all.

    Results out: a finished call's waiting thread is woken (its lock released) when the loop
    is about to sleep, or at the latest ``MAX_HOLD`` seconds after the call finished while
    the loop stays busy. A thread woken while the loop is busy has to wait for the GIL the
    loop holds: it is signalled, and loses the race, each time the loop drops the GIL for a
    system call, and each of those futile wake-ups costs the loop a system call of its own
    (on a VM, an interrupt to another CPU). Woken when the loop sleeps, it runs at once.

    Lost wake-ups cannot happen: the loop sets ``sleeping`` and then looks at the inbox once
    more before it blocks; a submitter appends to the inbox and then reads ``sleeping``. One
    of the two sees the other's write (each step is one bytecode under the GIL).
    """

    #: The longest a finished call's thread is kept waiting while the loop stays busy.
    MAX_HOLD = 0.0005

    sleeping = False
    _inbox: collections.deque[Any] | None = None
    _take: Callable[[], None] | None = None

    def __init__(self) -> None:
        super().__init__()
        self._finished: list[threading.Lock] = []
        self._held_since = 0.0

    def bind(self, inbox: collections.deque[Any], take: Callable[[], None]) -> None:
        """Start serving ``inbox``: ``take`` empties it (on the loop, inside ``select``)."""
        self._inbox, self._take = inbox, take

    def finished(self, done: threading.Lock) -> None:
        """On the loop: release ``done`` (a waiting thread's lock) before the loop sleeps."""
        if not self._finished:
            self._held_since = time.monotonic()
        self._finished.append(done)

    def release_finished(self) -> None:
        """Wake every thread whose call has finished (any thread may call it)."""
        finished, self._finished = self._finished, []
        for done in finished:
            done.release()

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        inbox, take = self._inbox, self._take
        if inbox is None or take is None:
            return super().select(timeout)
        if inbox:
            take()
            timeout = 0  # the calls just started are ready to run: poll, do not block
        if timeout is not None and timeout <= 0:
            if self._finished and time.monotonic() - self._held_since >= self.MAX_HOLD:
                self.release_finished()
            return super().select(timeout)
        if self._finished:
            self.release_finished()
        self.sleeping = True
        try:
            if inbox:  # handed over after the first look, by a thread that saw us awake
                self.sleeping = False
                take()
                timeout = 0
            events = super().select(timeout)
        finally:
            self.sleeping = False
        if inbox:  # what woke us: start it in this turn of the loop, not the next
            take()
        return events


def _new_portal_loop(selector: _PortalSelector) -> Callable[[], asyncio.AbstractEventLoop]:
    return lambda: asyncio.SelectorEventLoop(selector)


class _Call:
    """One call in flight: the waiting thread blocks on ``done`` until the loop releases it.

    A bare lock is the cheapest thing a thread can sleep on and be woken from (a
    ``concurrent.futures.Future`` adds a condition variable and its lock on both sides).
    """

    __slots__ = ("cancelled", "done", "error", "result", "task")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.result: Any = None
        self.error: BaseException | None = None
        self.task: asyncio.Task[None] | None = None
        self.cancelled = False


#: A call handed over: the function, its arguments, and where its result goes.
_Work = tuple[Callable[..., Any], tuple[Any, ...], _Call]


class Runtime(Generic[C]):
    """One started portal in one process: its loop thread, the dispatcher and the client."""

    loop: asyncio.AbstractEventLoop
    loop_thread_id: int
    thread: threading.Thread
    _context: contextvars.Context
    _stop: anyio.Event

    def __init__(self, client: C, *, name: str) -> None:
        self.pid = os.getpid()
        self.client = client
        self.accepting = False
        #: Set in a forked child: this runtime belongs to the parent; never touch it.
        self.stale = False
        #: Calls running on the loop now (read by tests).
        self.in_flight = 0
        #: Times a submitting thread had to wake the loop (read by tests).
        self.wakeups = 0
        self._cancel_on_stop = False
        self._tasks: set[asyncio.Task[None]] = set()
        #: Calls handed over by other threads, started on the loop by ``_take_inbox``.
        self._inbox: collections.deque[_Work] = collections.deque()
        self._inbox_scheduled = False
        self._flushed = False
        self._iterators: set[AsyncIterator[Any]] = set()
        self.loop_thread_id = -1
        self._name = name
        self._selector = _PortalSelector()
        self._portal_cm: AbstractContextManager[BlockingPortal] = start_blocking_portal(
            "asyncio", {"loop_factory": _new_portal_loop(self._selector)}
        )
        self.portal = self._portal_cm.__enter__()
        try:
            self._served, _ = self.portal.start_task(self._serve, name="bigmind-dispatcher")
        except BaseException:
            self._portal_cm.__exit__(None, None, None)
            raise
        self.accepting = True

    # -- on the loop ---------------------------------------------------------------------------

    async def _serve(self, *, task_status: TaskStatus[None]) -> None:
        """The dispatcher: holds the async client entered for the portal's lifetime."""
        client = self.client
        await client.__aenter__()
        try:
            self._context = contextvars.copy_context()
            self._stop = anyio.Event()
            self.loop = asyncio.get_running_loop()
            self.loop_thread_id = threading.get_ident()
            self.thread = threading.current_thread()
            self.thread.name = self._name  # here: older anyio has no start_blocking_portal(name=)
            self._selector.bind(self._inbox, self._take_inbox)
            task_status.started()
            await self._stop.wait()
        finally:
            self.accepting = False
            with anyio.CancelScope(shield=True):
                await self._drain()
                await client.__aexit__(None, None, None)

    async def _drain(self) -> None:
        """Let the calls in flight finish (cancel them when closing at exit), then close the
        iterators still open, before the client's session goes."""
        while pending := {task for task in self._tasks if not task.done()}:
            if self._cancel_on_stop:
                for task in pending:
                    task.cancel()
            await asyncio.wait(pending)
        for iterator in list(self._iterators):
            with contextlib.suppress(Exception):
                await _aclose(iterator)
        self._iterators.clear()

    def _take_inbox(self) -> None:
        # Reset the flag BEFORE draining: a call appended after the drain's last look finds
        # it reset and schedules a new drain; one appended before it is drained here.
        self._inbox_scheduled = False
        inbox = self._inbox
        while inbox:
            self._spawn(*inbox.popleft())

    def _spawn(self, fn: Callable[..., Any], args: tuple[Any, ...], call: _Call) -> None:
        # The coroutine is made here, on the loop: a Ctrl-C in the calling thread can then
        # never leave one behind un-awaited.
        if call.cancelled:  # interrupted before it started
            return
        if not self.accepting:
            call.error = RuntimeError(_CLOSED_MESSAGE)
            self._selector.finished(call.done)
            return
        task = self.loop.create_task(self._run(fn, args, call))
        call.task = task
        self._tasks.add(task)

    def _abandon(self, call: _Call) -> None:
        self._take_inbox()  # an interrupted hand-off may have left it without a wake-up
        task = call.task
        if task is not None:
            task.cancel()
            # A task cancelled before its first step never runs ``_run``'s ``finally``.
            task.add_done_callback(self._tasks.discard)

    async def _run(self, fn: Callable[..., Any], args: tuple[Any, ...], call: _Call) -> None:
        self.in_flight += 1
        release = True
        try:
            result = fn(*args)
            if isawaitable(result):
                result = await result
            call.result = result
        except asyncio.CancelledError:
            if call.cancelled:
                pass  # Ctrl-C in the waiting thread: it has moved on
            elif self._cancel_on_stop:
                # Closed by the exit hook: the waiting thread is a daemon thread at interpreter
                # exit; it is left waiting, as daemon threads are, rather than woken with an
                # error that would print a traceback in the exit's output.
                release = False
            else:
                call.error = RuntimeError("the call was cancelled on the client's event loop")
            raise
        except BaseException as exc:
            # Delivered to the caller only: a KeyboardInterrupt or SystemExit raised inside one
            # call (by a callback) must not tear down the loop every other call runs on.
            call.error = exc
        finally:
            self.in_flight -= 1
            self._tasks.discard(call.task)
            if release:
                self._selector.finished(call.done)

    async def _open(self, open_: Callable[[C], AsyncIterator[T]]) -> AsyncIterator[T]:
        iterator = aiter(open_(self.client))
        self._iterators.add(iterator)
        return iterator

    async def _step_tracked(self, iterator: AsyncIterator[T]) -> T | _Done:
        try:
            item = await _step(iterator)
        except BaseException:
            self._iterators.discard(iterator)
            raise
        if item is _DONE:
            self._iterators.discard(iterator)
        return item

    async def _close_tracked(self, iterator: AsyncIterator[Any]) -> None:
        self._iterators.discard(iterator)
        await _aclose(iterator)

    # -- from other threads --------------------------------------------------------------------

    def on_loop_thread(self) -> bool:
        """Whether the current thread is this portal's event loop thread."""
        return threading.get_ident() == self.loop_thread_id

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Await ``fn(*args)`` on the loop and wait for its result in this thread."""
        return cast(T, self._wait(fn, args))

    def call_sync(self, fn: Callable[..., T], *args: Any) -> T:
        """Run plain ``fn(*args)`` on the loop and wait for its result in this thread."""
        return cast(T, self._wait(fn, args))

    def _wait(self, fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
        if threading.get_ident() == self.loop_thread_id:
            raise RuntimeError(_LOOP_THREAD_MESSAGE)
        if not self.accepting or self.pid != os.getpid():
            stale = self.stale or self.pid != os.getpid()
            raise RuntimeError(_FORKED_MESSAGE if stale else _CLOSED_MESSAGE)
        call = _Call()
        item = (fn, args, call)
        try:
            self._submit(item)
            call.done.acquire()
        except BaseException:
            # KeyboardInterrupt while waiting (or while handing over): cancel the call on the
            # loop, and make sure an interrupted hand-off cannot leave the inbox unattended.
            call.cancelled = True
            with contextlib.suppress(RuntimeError):  # the loop is gone
                self.loop.call_soon_threadsafe(self._abandon, call, context=self._context)
            raise
        error = call.error
        if error is not None:
            call.error = None
            try:
                raise error
            finally:
                del error  # no reference cycle through the traceback
        return call.result

    def _submit(self, item: _Work) -> None:
        self._inbox.append(item)
        if self._flushed:
            # The portal stopped between the check in ``_wait`` and the append: nothing will
            # take it any more (unless the final flush just did, and answered it).
            with contextlib.suppress(ValueError):
                self._inbox.remove(item)
                raise RuntimeError(_CLOSED_MESSAGE)
        elif self._selector.sleeping and not self._inbox_scheduled:
            # Wake the loop only when it sleeps and no wake-up is pending already: a busy loop
            # takes the call at its next poll (a wake-up is a system call, a GIL hand-off
            # and, on a VM, an interrupt to another CPU).
            self._inbox_scheduled = True
            self.wakeups += 1
            try:
                self.loop.call_soon_threadsafe(self._take_inbox, context=self._context)
            except RuntimeError:  # the loop is closed: the client closed meanwhile
                with contextlib.suppress(ValueError):
                    self._inbox.remove(item)
                raise RuntimeError(_CLOSED_MESSAGE) from None

    def iterate(self, open_: Callable[[C], AsyncIterator[T]]) -> Generator[T, None, None]:
        """A plain iterator over ``open_(client)``, stepped on the loop one item at a time.

        Abandoning it (``break``, ``close()``, garbage collection) closes the async iterator
        on the loop, so its generator's ``finally`` blocks and connections are released.
        """
        iterator = self.call(self._open, open_)
        try:
            while True:
                item = self.call(self._step_tracked, iterator)
                if isinstance(item, _Done):
                    return
                yield item
        finally:
            self._close_abandoned(iterator)

    def _close_abandoned(self, iterator: AsyncIterator[Any]) -> None:
        if iterator not in self._iterators or not self.accepting:
            return  # finished, or the runtime is closed / belongs to a parent process
        if self.on_loop_thread():
            # Garbage-collected on the loop thread itself: cannot block here, so schedule it.
            call = _Call()
            self.loop.call_soon(
                self._spawn, self._close_tracked, (iterator,), call, context=self._context
            )
            return
        with contextlib.suppress(Exception):
            self.call(self._close_tracked, iterator)

    def shutdown(self, *, cancel: bool = False, timeout: float | None = None) -> None:
        """Stop taking calls, finish (or cancel) the running ones, exit the client, stop."""
        if self.on_loop_thread():
            raise RuntimeError(_LOOP_THREAD_MESSAGE.replace("called", "closed"))
        self.accepting = False
        self._cancel_on_stop = cancel
        try:
            with contextlib.suppress(RuntimeError):  # the loop is gone already
                self.loop.call_soon_threadsafe(self._stop.set, context=self._context)
            with contextlib.suppress(Exception):
                self._served.result(timeout)
        finally:
            self._stop_portal(timeout)
            self._flush_inbox()

    def _flush_inbox(self) -> None:
        """Wake the threads of calls that finished as the loop stopped, and fail the calls
        handed over too late for the stopped loop to take them."""
        self._flushed = True
        self._selector.release_finished()
        while True:
            try:
                _, _, call = self._inbox.popleft()
            except IndexError:
                return
            call.error = RuntimeError(_CLOSED_MESSAGE)
            call.done.release()

    def _stop_portal(self, timeout: float | None) -> None:
        if timeout is None:
            self._portal_cm.__exit__(None, None, None)
            return
        # Bounded (interpreter exit): stop the portal, give its thread ``timeout`` to end.
        with contextlib.suppress(Exception):
            self.portal.start_task_soon(self.portal.stop, True).result(timeout)
        thread = getattr(self, "thread", None)
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return
        with contextlib.suppress(Exception):
            self._portal_cm.__exit__(None, None, None)


#: Every runner not closed yet, for the fork and exit hooks.
_LIVE: weakref.WeakSet[PortalRunner[Any]] = weakref.WeakSet()
#: Runtimes inherited from a parent process: kept so that nothing ever finalizes them here.
_ORPHANS: list[Any] = []


class PortalRunner(Generic[C]):
    """Starts a :class:`Runtime` on first use, once per process, and closes it.

    Args:
        factory: Builds a fresh async client (used after a fork, or when ``first`` is None).
        first: An async client already built (not entered), used by the first runtime.
        name: The portal thread's name.
    """

    def __init__(self, factory: Callable[[], C], *, first: C | None = None, name: str) -> None:
        self._factory = factory
        self._client = first
        #: The async client of the latest runtime, for reading settings once it is closed.
        self._last = first
        self._name = name
        self._runtime: Runtime[C] | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()
        _LIVE.add(self)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` ran."""
        return self._closed

    def runtime(self) -> Runtime[C]:
        """The running runtime of this process, started now if needed."""
        rt = self._runtime
        if rt is not None and rt.accepting and rt.pid == os.getpid():
            return rt
        return self._start()

    def client(self) -> C:
        """The async client calls go to now (built if needed, but not started)."""
        self._check_pid()
        rt = self._runtime
        if rt is not None:
            return rt.client
        with self._lock:
            if self._closed and self._last is not None:
                return self._last
            if self._client is None:
                self._client = self._last = self._factory()
            return self._client

    def _check_pid(self) -> None:
        if self._pid != os.getpid():  # a fork the at-fork hook did not see
            self.after_fork()

    def _start(self) -> Runtime[C]:
        self._check_pid()
        with self._lock:
            if self._closed:
                raise RuntimeError(_CLOSED_MESSAGE)
            rt = self._runtime
            if rt is None or not rt.accepting:
                client = self._client if self._client is not None else self._factory()
                self._client = None
                self._last = client
                rt = Runtime(client, name=self._name)
                self._runtime = rt
            return rt

    def close(self, *, cancel: bool = False, timeout: float | None = None) -> None:
        """Close the client and stop the portal (idempotent)."""
        self._check_pid()
        rt = self._runtime
        if rt is not None and rt.on_loop_thread():
            raise RuntimeError(_LOOP_THREAD_MESSAGE.replace("called", "closed"))
        with self._lock:
            self._closed = True
            rt, self._runtime = self._runtime, None
            self._client = None  # never entered: it has no session to close
        _LIVE.discard(self)
        if rt is not None:
            rt.shutdown(cancel=cancel, timeout=timeout)

    def after_fork(self) -> None:
        """In a forked child: forget the parent's runtime and client without touching them."""
        self._pid = os.getpid()
        self._lock = threading.Lock()  # the parent's may have been held by another thread
        rt, self._runtime = self._runtime, None
        self._last = None
        if rt is not None:
            rt.stale = True
            rt.accepting = False
            _ORPHANS.append(rt)
        elif self._client is not None:
            # Built but never entered in the parent: no session, yet drop it all the same.
            _ORPHANS.append(self._client)
            self._client = None


def _after_fork_in_child() -> None:
    for runner in list(_LIVE):
        runner.after_fork()


def _close_all_at_exit() -> None:
    for runner in list(_LIVE):
        with contextlib.suppress(Exception):
            runner.close(cancel=True, timeout=EXIT_TIMEOUT)


def release(runner: PortalRunner[Any]) -> None:
    """Close ``runner`` from a finalizer: quietly, and never blocking its own loop thread."""
    rt = runner._runtime
    if rt is not None and rt.accepting and rt.on_loop_thread():
        threading.Thread(
            target=release, args=(runner,), name="bigmind-release", daemon=True
        ).start()
        return
    with contextlib.suppress(Exception):
        runner.close(cancel=True, timeout=EXIT_TIMEOUT)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all_at_exit)
