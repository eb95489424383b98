"""The blocking portal under the sync client: lifecycle, threads, loops, iterators, Ctrl-C,
fork and interpreter exit."""

from __future__ import annotations

import asyncio
import collections
import gc
import os
import selectors
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import pytest

from bigmind_sync import BigMind, ReportNotFoundError, StudyNotFoundError
from bigmind_sync._portal import Runtime, _PortalSelector

from .conftest import TXT, SyncEnv

T = TypeVar("T")

#: The ``interruptible`` fixture's ``arm(when)``: a delay in seconds or a condition.
Interrupt = Callable[[float | Callable[[], bool]], None]


def runtime_of(client: BigMind) -> Runtime[Any]:
    """The started runtime of ``client`` (white box: the portal thread and its counters)."""
    rt = client._runner._runtime
    assert rt is not None
    return rt


def in_thread(fn: Callable[[], T], timeout: float = 10.0) -> T:
    """``fn()`` in a fresh thread; fails (instead of hanging) if it does not end in time."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = fn()
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "deadlock: the call did not return"
    if "error" in box:
        raise box["error"]
    return box["result"]  # type: ignore[no-any-return]


def wait_until(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


@pytest.fixture
def interruptible() -> Iterator[Interrupt]:
    """``arm(when)``: one SIGINT to the main thread, only while armed. ``when`` is a delay in
    seconds, or a condition polled from the signalling thread: the signal goes once it holds
    (the test fails at teardown if it did not hold within 10 s; the signal goes anyway)."""
    armed = threading.Event()
    stop = threading.Event()
    threads: list[threading.Thread] = []
    missed: list[Callable[[], bool]] = []

    def handler(signum: int, frame: object) -> None:
        if armed.is_set():
            armed.clear()
            raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, handler)

    def arm(when: float | Callable[[], bool]) -> None:
        armed.set()
        main = threading.main_thread().ident
        assert main is not None

        def fire() -> None:
            if callable(when):
                deadline = time.monotonic() + 10.0
                while not when():
                    if time.monotonic() >= deadline:
                        missed.append(when)
                        break
                    if stop.wait(0.01):
                        return
            elif stop.wait(when):
                return
            if not stop.is_set():
                signal.pthread_kill(main, signal.SIGINT)

        thread = threading.Thread(target=fire, name="interrupter", daemon=True)
        threads.append(thread)
        thread.start()

    try:
        yield arm
    finally:
        armed.clear()
        stop.set()
        for thread in threads:
            thread.join()
        signal.signal(signal.SIGINT, previous)
    assert missed == [], "the condition to interrupt on never held"


class TestBlockingPortal:
    """One portal per client, started lazily, stopped by close()."""

    def test_starts_lazily_and_stops_on_close(self, env: SyncEnv) -> None:
        """No thread until the first call; ``close()`` joins it; closed clients refuse calls."""
        client = env.client()
        assert client._runner._runtime is None
        client.studies.get(env.customer_id, env.study_uid)
        rt = runtime_of(client)
        assert rt.thread.is_alive()
        assert rt.thread is not threading.current_thread()
        client.close()
        assert not rt.thread.is_alive()
        assert client.is_closed
        with pytest.raises(RuntimeError, match="closed"):
            client.studies.get(env.customer_id, env.study_uid)
        client.close()  # idempotent
        with pytest.raises(RuntimeError, match="closed"), client:
            pass
        assert rt.client is client._runner.client()  # settings stay readable, nothing restarts
        assert client.base_url.host == "127.0.0.1"
        assert client._runner._runtime is None

    def test_one_portal_per_client(self, env: SyncEnv) -> None:
        """Views share their client's portal; two clients have two."""
        with env.client() as one, env.client() as two:
            view = one.with_options(max_retries=0)
            for c in (one, two, view):
                c.studies.get(env.customer_id, env.study_uid)
            assert runtime_of(one) is runtime_of(view)
            assert runtime_of(one).thread is not runtime_of(two).thread
            view.close()  # a view closes the client it came from
            assert one.is_closed

    def test_the_async_client_lives_on_the_portal_loop(self, client: BigMind, env: SyncEnv) -> None:
        """The aiohttp session is created on, and bound to, the portal's loop."""
        client.studies.get(env.customer_id, env.study_uid)
        rt = runtime_of(client)
        transport = rt.client._core.transport
        assert transport._loop is rt.loop
        client.close()
        assert transport.is_closed
        assert not transport.has_open_session

    def test_close_lets_running_calls_finish(self, env: SyncEnv) -> None:
        """``close()`` from one thread waits for another thread's call in flight."""
        client = env.client()
        client.studies.get(env.customer_id, env.study_uids[1])  # start the portal
        env.emu.faults.inject("delay", route="get_study", delay=0.3)
        with ThreadPoolExecutor(1) as pool:
            pending = pool.submit(client.studies.get, env.customer_id, env.study_uid)
            wait_until(lambda: runtime_of(client).in_flight == 1)
            client.close()
            assert env.study_uid == pending.result(5).study.study_instance_uid

    def test_close_while_threads_keep_calling(self, env: SyncEnv) -> None:
        """Calls racing ``close()`` either complete or raise "closed"; none hangs."""
        client = env.client()
        client.studies.get(env.customer_id, env.study_uid)
        outcomes: Counter[str] = Counter()

        def hammer() -> None:
            for _ in range(200):
                try:
                    client.studies.get(env.customer_id, env.study_uid)
                except RuntimeError as exc:
                    outcomes["closed" if "closed" in str(exc) else repr(exc)] += 1
                    return
                outcomes["ok"] += 1

        threads = [threading.Thread(target=hammer, daemon=True) for _ in range(6)]
        for thread in threads:
            thread.start()
        wait_until(lambda: outcomes["ok"] >= 12)
        client.close()
        for thread in threads:
            thread.join(10)
        assert not any(thread.is_alive() for thread in threads)
        assert 6 == outcomes["closed"]
        assert {"ok", "closed"} == set(outcomes)


class TestThreads:
    """One client shared by many threads runs their calls concurrently on one loop."""

    def test_sixteen_threads_two_hundred_mixed_calls(self, env: SyncEnv, client: BigMind) -> None:
        """200 calls of six kinds from 16 threads: every result is right, none is lost."""
        cid, uids = env.customer_id, env.study_uids

        def call(i: int) -> tuple[str, object]:
            uid = uids[i % len(uids)]
            kind = i % 5
            if kind == 0:
                return "list", sorted(s.study_instance_uid for s in client.studies.list(cid))
            if kind == 1:
                return "get", client.studies.get(cid, uid).study.study_instance_uid
            if kind == 2:
                report = client.reports.attach(cid, uid, TXT, filename=f"r{i}.txt", title=f"t{i}")
                return "attach", (report.title, client.reports.get(cid, report.report_id).title)
            if kind == 3:
                report = client.reports.attach(cid, uid, TXT, filename=f"d{i}.txt")
                client.reports.detach(cid, report.report_id)
                try:
                    client.reports.get(cid, report.report_id)
                except ReportNotFoundError:
                    return "detach", "gone"
                return "detach", "still there"
            try:
                client.studies.get(cid, f"1.2.999.{i}")
            except StudyNotFoundError as exc:
                return "error", exc.status
            return "error", None

        with ThreadPoolExecutor(16) as pool:
            results = list(pool.map(call, range(200)))

        assert Counter({"list": 40, "get": 40, "attach": 40, "detach": 40, "error": 40}) == Counter(
            kind for kind, _ in results
        )
        for i, (kind, value) in enumerate(results):
            expected: object = {
                "list": sorted(uids),
                "get": uids[i % len(uids)],
                "attach": (f"t{i}", f"t{i}"),
                "detach": "gone",
                "error": 404,
            }[kind]
            assert expected == value, (i, kind)
        attached = sum(len(client.reports.list(cid, uid)) for uid in uids)
        assert 40 == attached
        assert 0 == runtime_of(client).in_flight

    def test_calls_overlap_on_the_loop(self, env: SyncEnv, client: BigMind) -> None:
        """Slow calls from 8 threads are in flight at once, not queued behind each other."""
        client.studies.get(env.customer_id, env.study_uids[1])  # start the portal
        # Long enough for all 8 to arrive on a loaded machine: only queueing keeps them apart.
        env.emu.faults.inject("delay", route="get_study", delay=2.0, times=8)
        env.emu.reset_stats()
        together = threading.Barrier(8)

        def slow_get(_: int) -> str:
            together.wait()
            return client.studies.get(env.customer_id, env.study_uid).study.study_instance_uid

        with ThreadPoolExecutor(8) as pool:
            assert [env.study_uid] * 8 == list(pool.map(slow_get, range(8)))
        assert env.emu.stats_snapshot()["maxConcurrentRequests"] >= 8


class TestHandOff:
    """The loop takes calls when it polls and wakes callers before it sleeps."""

    def test_a_busy_loop_takes_calls_without_a_wake_up(self, env: SyncEnv, client: BigMind) -> None:
        """While the loop never sleeps, calls reach it with no wake-up and still come back
        (a finished call's thread is woken after at most MAX_HOLD, not when the loop idles)."""
        client.studies.get(env.customer_id, env.study_uid)  # start the portal
        rt = runtime_of(client)
        stop = threading.Event()

        async def keep_busy() -> None:
            # Busy on purpose: a callback always ready, so every poll has timeout 0.
            while not stop.is_set():  # noqa: ASYNC110
                await asyncio.sleep(0)

        busy = rt.portal.start_task_soon(keep_busy)
        try:
            wait_until(lambda: rt.in_flight == 0 and not rt._selector.sleeping)
            before = rt.wakeups

            def calls() -> list[str]:
                return [
                    client.studies.get(env.customer_id, uid).study.study_instance_uid
                    for uid in env.study_uids * 10
                ]

            assert env.study_uids * 10 == in_thread(calls)
            assert before == rt.wakeups
        finally:
            stop.set()
            busy.result(5)

    def test_a_call_handed_over_as_the_loop_falls_asleep_is_taken(self) -> None:
        """The race made to happen: a thread hands a call over just after the loop's first look
        at the inbox, and sees the loop awake (so it does not wake it). The loop's second look,
        after it has said it sleeps, must find the call instead of blocking."""
        taken: list[str] = []
        selector = _PortalSelector()

        class RacingInbox(collections.deque[str]):
            looks = 0

            def __bool__(self) -> bool:
                self.looks += 1
                if self.looks == 1:  # the loop's first look: a submitter races in right after
                    self.append("call")
                    assert not selector.sleeping  # it sees the loop awake: no wake-up
                    return False
                return len(self) > 0

        inbox = RacingInbox()

        def take() -> None:
            while len(inbox):
                taken.append(inbox.popleft())

        selector.bind(inbox, take)
        wake_r, wake_w = socket.socketpair()
        selector.register(wake_r, selectors.EVENT_READ)
        try:
            poll = threading.Thread(target=selector.select, args=(None,), daemon=True)
            poll.start()
            poll.join(5)
            blocked = poll.is_alive()
            wake_w.send(b"x")  # free the thread if it did block
            poll.join(5)
            assert not blocked, "the loop slept with a call in its inbox"
            assert ["call"] == taken
        finally:
            selector.close()
            wake_r.close()
            wake_w.close()

    def test_no_call_is_lost_between_sleeping_and_waking(self, client: BigMind) -> None:
        """8 threads x 500 calls that do nothing, the tightest race between a submitting thread
        and the loop going to sleep: every call returns, each with its own result."""
        client._call_sync(lambda c: None)  # start the portal

        def calls(worker: int) -> list[int]:
            return [client._call_sync(lambda c, i=i: worker * 1000 + i) for i in range(500)]

        def run_all() -> list[list[int]]:
            with ThreadPoolExecutor(8) as pool:
                return list(pool.map(calls, range(8)))

        results = in_thread(run_all, timeout=60)
        assert [[w * 1000 + i for i in range(500)] for w in range(8)] == results
        rt = runtime_of(client)
        assert 0 < rt.wakeups <= 4000
        assert 0 == rt.in_flight


class TestEventLoops:
    """Works where naive sync-over-async wrappers break."""

    def test_from_a_running_loops_executor(self, env: SyncEnv, client: BigMind) -> None:
        """``run_in_executor`` from inside ``asyncio.run``: calls work, concurrently."""

        async def main() -> list[str]:
            loop = asyncio.get_running_loop()
            details = await asyncio.gather(
                *(
                    loop.run_in_executor(None, client.studies.get, env.customer_id, uid)
                    for uid in env.study_uids
                )
            )
            return [d.study.study_instance_uid for d in details]

        assert env.study_uids == asyncio.run(main())

    def test_from_a_thread_while_another_loop_runs(self, env: SyncEnv, client: BigMind) -> None:
        """A thread running its own event loop can call the sync client from a coroutine.

        This is the Jupyter case: it works, blocking that loop while the call waits.
        """

        async def in_a_coroutine() -> str:
            return client.studies.get(env.customer_id, env.study_uid).study.study_instance_uid

        assert env.study_uid == in_thread(lambda: asyncio.run(in_a_coroutine()))
        assert env.study_uid == asyncio.run(in_a_coroutine())

    def test_on_the_portal_loop_thread_raises(self, env: SyncEnv, client: BigMind) -> None:
        """Called back from its own loop (an on_progress callback): RuntimeError, no deadlock."""
        errors: list[BaseException] = []

        def on_progress(sent: int, total: int) -> None:
            try:
                client.studies.get(env.customer_id, env.study_uid)
            except RuntimeError as exc:
                errors.append(exc)

        report = in_thread(
            lambda: client.reports.attach(
                env.customer_id, env.study_uid, TXT, filename="cb.txt", on_progress=on_progress
            )
        )
        assert report.report_id
        assert errors
        assert "own event loop thread" in str(errors[0])
        with pytest.raises(RuntimeError, match="own event loop thread"):
            client._call_sync(lambda c: client.close())


class TestAbandonedIterators:
    """A sync iterator left early closes its async generator on the loop, warning-free."""

    def test_break_after_first_item(
        self, env: SyncEnv, client: BigMind, caplog: pytest.LogCaptureFixture
    ) -> None:
        """``break``, ``del``, ``gc.collect()``: closed on the loop, client still usable."""
        pager = client.studies.list(env.customer_id, page_size=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _study in pager:
                break
            del _study, pager
            gc.collect()
        assert [] == [str(w.message) for w in caught]
        assert set() == runtime_of(client)._iterators
        assert [] == [r.getMessage() for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
        assert 5 == len(list(client.studies.list(env.customer_id, page_size=2)))

    def test_explicit_close_and_pages(self, env: SyncEnv, client: BigMind) -> None:
        """``close()`` on an item or page iterator, even from another thread, closes it."""
        items = iter(client.studies.list(env.customer_id, page_size=2))
        pages = client.studies.list(env.customer_id, page_size=1).pages()
        next(items)
        next(pages)
        assert 2 == len(runtime_of(client)._iterators)
        in_thread(items.close)
        pages.close()
        assert set() == runtime_of(client)._iterators

    def test_open_iterator_closed_with_the_client(self, env: SyncEnv) -> None:
        """Iterators still open when the client closes are closed before its session."""
        client = env.client()
        batch = client.reports.attach_many(
            [
                AttachJobFactory.job(env, i)
                for i in range(6)  # more than the concurrency: some still queued
            ],
            concurrency=2,
        )
        first = next(batch)
        assert first.ok
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            client.close()
            with pytest.raises(RuntimeError, match="closed"):
                next(batch)
            del batch
            gc.collect()
        assert [] == [str(w.message) for w in caught]


class AttachJobFactory:
    @staticmethod
    def job(env: SyncEnv, i: int) -> Any:
        from bigmind_sync import AttachJob

        return AttachJob(
            customer_id=env.customer_id,
            study_uid=env.study_uids[i % len(env.study_uids)],
            file=TXT,
            filename=f"batch{i}.txt",
        )


class TestKeyboardInterrupt:
    """Ctrl-C while waiting cancels the call's task on the loop and is re-raised."""

    def test_ctrl_c_cancels_the_call(
        self,
        env: SyncEnv,
        client: BigMind,
        interruptible: Interrupt,
    ) -> None:
        """A 30 s call interrupted: KeyboardInterrupt while the server still sleeps on the
        request, the call's task is gone from the loop, and the client is still usable."""
        client.studies.get(env.customer_id, env.study_uid)  # portal up
        env.emu.faults.inject("delay", route="get_study", delay=30)
        gets = env.emu.stats_snapshot()["requestsByRoute"]["get_study"]

        def at_the_server() -> bool:
            return bool(env.emu.stats_snapshot()["requestsByRoute"]["get_study"] > gets)

        interruptible(at_the_server)  # Ctrl-C only once the server sleeps on the request
        with pytest.raises(KeyboardInterrupt):
            client.studies.get(env.customer_id, env.study_uid)
        assert env.emu.stats_snapshot()["inFlightRequests"] >= 1  # the answer never came
        wait_until(lambda: runtime_of(client).in_flight == 0)
        assert (
            env.study_uid
            == client.studies.get(env.customer_id, env.study_uid).study.study_instance_uid
        )

    def test_interrupted_hand_off_does_not_wedge_the_client(
        self,
        env: SyncEnv,
        client: BigMind,
        interruptible: Interrupt,
    ) -> None:
        """Ctrl-C landing between queueing a call and waking the loop (simulated: a wake-up
        marked pending that never comes) re-wakes the loop, so other threads' calls go on."""
        client.studies.get(env.customer_id, env.study_uid)
        rt = runtime_of(client)
        rt._inbox_scheduled = True  # as if interrupted just before call_soon_threadsafe
        with ThreadPoolExecutor(1) as pool:
            other = pool.submit(client.studies.get, env.customer_id, env.study_uids[1])
            interruptible(0.3)
            with pytest.raises(KeyboardInterrupt):
                client.studies.get(env.customer_id, env.study_uid)
            assert env.study_uids[1] == other.result(10).study.study_instance_uid
        assert (
            env.study_uid
            == client.studies.get(env.customer_id, env.study_uid).study.study_instance_uid
        )


class TestFork:
    """After ``os.fork()`` the child gets a fresh portal and session; the parent is untouched."""

    @pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
    def test_child_uses_a_fresh_portal(self, env: SyncEnv) -> None:
        """The child's call works on its own loop; the parent's keep-alive connection too."""
        client = env.client(max_retries=0)  # a broken parent connection would fail, not retry
        client.studies.get(env.customer_id, env.study_uid)
        parent_rt = runtime_of(client)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # 3.12+: fork with threads
            pid = os.fork()
        if pid == 0:  # pragma: no cover - the child reports through its exit code
            code = 3
            try:
                signal.alarm(20)
                detail = client.studies.get(env.customer_id, env.study_uid)
                child_rt = runtime_of(client)
                fresh = child_rt is not parent_rt and child_rt.thread is not parent_rt.thread
                listed = list(client.studies.list(env.customer_id, page_size=2))
                client.close()
                ok = detail.study.study_instance_uid == env.study_uid and len(listed) == 5
                code = 0 if ok and fresh and parent_rt.stale else 1
            except BaseException:
                import traceback

                traceback.print_exc()
            finally:
                os._exit(code)
        deadline = time.monotonic() + 30
        while (status := os.waitpid(pid, os.WNOHANG))[0] == 0:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the child hung")
            time.sleep(0.02)
        assert 0 == os.waitstatus_to_exitcode(status[1])
        assert runtime_of(client) is parent_rt
        assert not parent_rt.stale
        assert (
            env.study_uid
            == client.studies.get(env.customer_id, env.study_uid).study.study_instance_uid
        )
        client.close()


class TestShutdown:
    """Unclosed clients neither leak their thread nor hang the interpreter's exit."""

    def test_garbage_collected_client_stops_its_portal(self, env: SyncEnv) -> None:
        """Dropping an unclosed client closes it: its portal thread ends, no warnings."""
        client = env.client()
        client.studies.get(env.customer_id, env.study_uid)
        thread = runtime_of(client).thread
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            del client
            gc.collect()
            thread.join(5)
        assert not thread.is_alive()
        assert [] == [str(w.message) for w in caught]

    def test_exit_with_unclosed_client(self, env: SyncEnv) -> None:
        """A script that never closes its client (one call in flight on a daemon thread,
        one iterator open) exits promptly, with status 0 and nothing on stderr."""
        env.emu.faults.inject("delay", route="get_study", delay=30)
        script = textwrap.dedent(
            """
            import sys, threading, time
            from bigmind_sync import BigMind
            base_url, api_key, customer_id = sys.argv[1:4]
            client = BigMind(api_key=api_key, base_url=base_url, rate_limit=None)
            studies = iter(client.studies.list(customer_id, page_size=2))
            next(studies)
            stuck = threading.Thread(
                target=client.studies.get, args=(customer_id, sys.argv[4]), daemon=True
            )
            stuck.start()
            time.sleep(0.3)
            print("done")
            """
        )
        result = subprocess.run(  # noqa: S603 - our own script, our interpreter
            [sys.executable, "-W", "error", "-c", script, env.emu.base_url, env.emu.api_key,
             env.customer_id, env.study_uid],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert ("done\n", "", 0) == (result.stdout, result.stderr, result.returncode)
