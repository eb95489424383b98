"""What the sync facade costs: per-call overhead and 8-thread upload throughput.

Every client is built with ``rate_limit=None`` so the limiter never paces a run.

Each section runs against two servers of ``benchmarks._servers``, each in another process on
loopback: the emulator (its ``uploads`` mode: real request handling, so a busy server) and
the sink (near-free, so what is measured is the clients).

1. Per-call overhead on a tiny GET (``studies.get``): the median latency of ``BigMind`` minus
   the median of ``await AsyncBigMind`` on the same server, measured in interleaved rounds.
   Target: under 150 microseconds added per call. Measured twice:

   - *split*: this process on one CPU and the server on another (``sched_setaffinity``, both
     clients alike), as when the server is another machine: the server never takes the
     client's CPU, and the caller and the portal thread, which never run at the same time,
     share one. This is the facade's own cost, and the one the target is judged on.
   - *free*: wherever the scheduler puts the three threads. On a machine where waking a
     thread on another, idle, CPU is expensive (a nested VM: an inter-processor interrupt to
     a halted vCPU), the caller and the portal thread land on different CPUs and each of the
     call's two hand-offs pays that wake-up. Reported, with the wake-up itself:
1b. The floor under any hand-off between two threads: one ``call_soon_threadsafe`` + lock
   round trip to a loop thread, with both threads on one CPU and on two, each after a 300 us
   idle gap (as in a call, where both threads wait for the server).
2. The hand-off alone, on a call that does nothing: the facade's own hand-off, anyio's
   ``portal.call`` (``start_task_soon`` + ``Future.result()``) and
   ``asyncio.run_coroutine_threadsafe``, for reference.
3. Throughput of 64 KiB uploads (``reports.attach``) from 8 plain threads sharing one
   ``BigMind``, against one ``AsyncBigMind`` running 8 concurrent tasks (target: >= 0.75x);
   and from a ``ThreadPoolExecutor(8)`` sharing one ``BigMind`` against ``requests`` on the
   same pool (a session per thread; target: >= 1.5x). The pool's own futures and wake-ups
   cost the threads a share of the GIL, which is why both pool runs are measured that way.
   Each run first warms its lanes with one upload each (on a pool, a barrier makes every
   thread send one: ``requests`` builds each thread's session then, not on the clock).
   The four runs take turns in every round, in an order that rotates by round; each ratio
   is the median of the rounds' ratios (the two runs of one round), so drift between rounds
   cancels out.

Run: ``python -m benchmarks.sync_overhead`` (about a minute), ``--quick`` for a smoke run,
``--server emulator|sink`` for one server.
Numbers vary with the machine; the ratios are what to compare. No test asserts on timing.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from anyio.from_thread import start_blocking_portal

from benchmarks._common import RequestsAttach, start_pool, summary
from benchmarks._servers import ServerProcess
from bigmind_async import AsyncBigMind
from bigmind_sync import BigMind

UPLOAD = b"Findings: unremarkable.\n" + b"x" * (64 * 1024 - 24)  # 64 KiB of text/plain
assert len(UPLOAD) == 64 * 1024


@dataclass
class Server:
    base_url: str
    api_key: str
    customer_id: str
    study_uid: str
    #: The server's process id, for pinning it to a CPU (None: it cannot be pinned).
    pid: int | None = None

    @classmethod
    def from_info(cls, info: dict[str, Any], pid: int | None = None) -> Server:
        """The server a ``ServerProcess.info`` describes (``pid``: its process)."""
        return cls(**{field: info[key] for key, field in _INFO_FIELDS.items()}, pid=pid)

    @property
    def info(self) -> dict[str, Any]:
        """Where it listens, in the harness's terms (``ServerProcess.info``)."""
        return {key: getattr(self, field) for key, field in _INFO_FIELDS.items()}


#: ``ServerProcess.info``'s keys, and the ``Server`` fields they hold.
_INFO_FIELDS = {
    "base_url": "base_url",
    "api_key": "api_key",
    "customer": "customer_id",
    "study": "study_uid",
}


def _median_us(samples: list[float]) -> float:
    return statistics.median(samples) * 1e6


# -- CPU placement -------------------------------------------------------------------------------


def split_cpus(server_pid: int | None) -> tuple[int, int] | None:
    """(client CPU, server CPU) for a split run, or None where one cannot be set up
    (no ``sched_setaffinity``, fewer than two CPUs, or no server process to pin)."""
    if server_pid is None or not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    return (cpus[0], cpus[-1]) if len(cpus) >= 2 else None


def _pin(pid: int, cpus: set[int]) -> dict[int, set[int]]:
    """Pin every thread of ``pid`` to ``cpus`` (on Linux an affinity is per thread; threads
    started later inherit their creator's). Returns the previous masks, for ``_unpin``."""
    previous: dict[int, set[int]] = {}
    for name in os.listdir(f"/proc/{pid}/task"):
        tid = int(name)
        with suppress(ProcessLookupError):
            previous[tid] = os.sched_getaffinity(tid)
            os.sched_setaffinity(tid, cpus)
    return previous


def _unpin(previous: dict[int, set[int]]) -> None:
    for tid, cpus in previous.items():
        with suppress(ProcessLookupError, OSError):
            os.sched_setaffinity(tid, cpus)


@contextmanager
def split_placement(server_pid: int | None) -> Iterator[bool]:
    """Runs the block with this process on one CPU and the server on another; yields False
    (and pins nothing) where that cannot be done."""
    pair = split_cpus(server_pid)
    if pair is None or server_pid is None:
        yield False
        return
    client_cpu, server_cpu = pair
    theirs = _pin(server_pid, {server_cpu})
    mine = _pin(os.getpid(), {client_cpu})
    try:
        yield True
    finally:
        _unpin(mine)
        _unpin(theirs)


def wake_round_trip(cpus: tuple[int, int], calls: int, idle: float = 300e-6) -> float:
    """Median microseconds of one hand-off round trip between this thread (on ``cpus[0]``)
    and an event loop thread (on ``cpus[1]``): ``call_soon_threadsafe`` there, a lock
    released back here; ``idle`` seconds of sleep between trips let both CPUs go idle."""
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        os.sched_setaffinity(0, {cpus[1]})
        loop.call_soon(ready.set)
        loop.run_forever()

    previous = os.sched_getaffinity(0)
    thread = threading.Thread(target=serve, name="wake-round-trip", daemon=True)
    thread.start()
    ready.wait()
    os.sched_setaffinity(0, {cpus[0]})
    try:
        samples = []
        for i in range(calls + 100):
            lock = threading.Lock()
            lock.acquire()
            started = time.perf_counter()
            loop.call_soon_threadsafe(lock.release)
            lock.acquire()
            if i >= 100:
                samples.append(time.perf_counter() - started)
            time.sleep(idle)
        return _median_us(samples)
    finally:
        os.sched_setaffinity(0, previous)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


# -- 1. per-call overhead ------------------------------------------------------------------------


def async_get_latencies(server: Server, calls: int, warmup: int) -> list[float]:
    async def run() -> list[float]:
        async with AsyncBigMind(server.api_key, server.base_url, rate_limit=None) as client:
            for _ in range(warmup):
                await client.studies.get(server.customer_id, server.study_uid)
            samples = []
            for _ in range(calls):
                started = time.perf_counter()
                await client.studies.get(server.customer_id, server.study_uid)
                samples.append(time.perf_counter() - started)
            return samples

    return asyncio.run(run())


def sync_get_latencies(client: BigMind, server: Server, calls: int, warmup: int) -> list[float]:
    for _ in range(warmup):
        client.studies.get(server.customer_id, server.study_uid)
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        client.studies.get(server.customer_id, server.study_uid)
        samples.append(time.perf_counter() - started)
    return samples


def per_call_overhead(
    server: Server, calls: int, rounds: int, *, split: bool = False
) -> tuple[float, float]:
    """Median latency (us) of the async and the sync client, interleaved over ``rounds``;
    with ``split``, this process on one CPU and the server on another (see the module's
    docstring; raises RuntimeError where that cannot be set up)."""
    async_samples: list[float] = []
    sync_samples: list[float] = []
    with split_placement(server.pid if split else None) as pinned:
        if split and not pinned:
            raise RuntimeError("a split run needs sched_setaffinity, 2 CPUs and a server pid")
        # Built inside the placement: the portal thread inherits this thread's CPU.
        with BigMind(server.api_key, server.base_url, rate_limit=None) as client:
            for _ in range(rounds):
                async_samples += async_get_latencies(server, calls, warmup=100)
                sync_samples += sync_get_latencies(client, server, calls, warmup=100)
    return _median_us(async_samples), _median_us(sync_samples)


# -- 2. the hand-off alone -----------------------------------------------------------------------


def _timed(fn: Callable[[], object], calls: int) -> float:
    for _ in range(200):
        fn()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return _median_us(samples)


async def _nothing() -> None:
    return None


def hand_off_costs(server: Server, calls: int) -> dict[str, float]:
    results: dict[str, float] = {}
    with BigMind(server.api_key, server.base_url, rate_limit=None) as client:
        client._call_sync(lambda c: None)  # start the portal
        results["BigMind hand-off"] = _timed(lambda: client._call(lambda c: _nothing()), calls)
    with start_blocking_portal() as portal:
        results["anyio portal.call"] = _timed(lambda: portal.call(_nothing), calls)
        loop = portal.call(asyncio.get_running_loop)
        results["run_coroutine_threadsafe"] = _timed(
            lambda: asyncio.run_coroutine_threadsafe(_nothing(), loop).result(), calls
        )
    return results


# -- 3. 64 KiB upload throughput -----------------------------------------------------------------


def sync_uploads(server: Server, uploads: int, threads: int, *, pool: bool = False) -> float:
    """Uploads/s of one ``BigMind`` shared by ``threads`` plain threads (each looping over a
    shared counter), or, with ``pool``, by a ``ThreadPoolExecutor`` as in the requests run."""
    with BigMind(server.api_key, server.base_url, rate_limit=None) as client:
        client.studies.get(server.customer_id, server.study_uid)  # start the portal, connect

        def attach(i: int) -> None:
            client.reports.attach(
                server.customer_id, server.study_uid, UPLOAD, filename=f"s{i}.txt", silent=True
            )

        if pool:
            # every pool thread started, each warm with one upload (and its connection)
            with start_pool(threads, lambda: attach(0)) as executor:
                started = time.perf_counter()
                list(executor.map(attach, range(uploads)))
                return uploads / (time.perf_counter() - started)

        def work(counter: Iterator[int]) -> None:
            for i in counter:
                attach(i)

        def run_threads(count: int) -> float:
            counter = iter(range(count))
            workers = [threading.Thread(target=work, args=(counter,)) for _ in range(threads)]
            started = time.perf_counter()
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            return time.perf_counter() - started

        run_threads(threads)  # warm the connections
        return uploads / run_threads(uploads)


def async_uploads(server: Server, uploads: int, concurrency: int) -> float:
    async def run() -> float:
        async with AsyncBigMind(server.api_key, server.base_url, rate_limit=None) as client:
            counter = iter(range(uploads))

            async def worker() -> None:
                for i in counter:
                    await client.reports.attach(
                        server.customer_id,
                        server.study_uid,
                        UPLOAD,
                        filename=f"a{i}.txt",
                        silent=True,
                    )

            warm = iter(range(concurrency))
            await asyncio.gather(
                *(
                    client.reports.attach(
                        server.customer_id, server.study_uid, UPLOAD, filename=f"w{i}.txt"
                    )
                    for i in warm
                )
            )
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return uploads / (time.perf_counter() - started)

    return asyncio.run(run())


def requests_uploads(server: Server, uploads: int, threads: int) -> float:
    attach = RequestsAttach(server.info, timeout=30)
    fields = {"reportType": "other", "isPrimary": "false", "silent": "true"}

    def one(i: int) -> None:
        answer = attach.post((f"r{i}.txt", UPLOAD, "text/plain"), fields)
        if answer.status_code != 201:
            raise RuntimeError(f"upload failed: {answer.status_code} {answer.text[:200]}")

    try:
        # every pool thread started, each warm with one upload (its Session, its connection)
        with start_pool(threads, lambda: one(0)) as pool:
            started = time.perf_counter()
            list(pool.map(one, range(uploads)))
            elapsed = time.perf_counter() - started
    finally:
        attach.close()
    return uploads / elapsed


def interleaved_rates(rounds: int, runs: dict[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Every run of ``runs`` once per round, in an order that rotates from round to round (so
    drift on a busy machine lands on every run alike); each run's uploads/s, round by round."""
    names = list(runs)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        turn = i % len(names)
        for name in names[turn:] + names[:turn]:
            rates[name].append(runs[name]())
    return rates


def paired_ratio(mine: list[float], theirs: list[float]) -> dict[str, Any]:
    """``mine / theirs`` round by round: the median and range of the per-round ratios."""
    return summary([a / b for a, b in zip(mine, theirs, strict=True)])


@contextmanager
def server_process(name: str) -> Iterator[Server]:
    """``emulator`` or ``sink`` (see the module's docstring) in a child process."""
    with ServerProcess(SERVERS[name]) as process:
        yield Server.from_info(process.info, process.pid)


#: The servers, by name: their ``benchmarks._servers`` modes.
SERVERS = {"emulator": "uploads", "sink": "sink"}


def run(server: Server, args: argparse.Namespace) -> None:
    print("\n1. tiny GET (studies.get), median latency")
    pair = split_cpus(server.pid)
    placements = [("split", True), ("free", False)] if pair else [("free", False)]
    for label, split in placements:
        async_us, sync_us = per_call_overhead(server, args.calls, args.rounds, split=split)
        added = sync_us - async_us
        print(f"   {label}: AsyncBigMind {async_us:6.1f} us, BigMind {sync_us:6.1f} us")
        verdict = "OK" if added < 150 else "OVER"
        target = f" (target < 150 us: {verdict})" if split or pair is None else ""
        print(f"   {label}: added by the facade {added:6.1f} us per call{target}")
    if pair:
        client_cpu, server_cpu = pair
        same = wake_round_trip((client_cpu, client_cpu), args.calls // 2)
        cross = wake_round_trip((client_cpu, server_cpu), args.calls // 2)
        print("\n1b. one thread hand-off round trip (call_soon_threadsafe + lock), median")
        print(f"   both threads on one CPU   {same:8.1f} us")
        print(f"   on two CPUs               {cross:8.1f} us")

    print("\n2. the hand-off alone (a call that does nothing), median")
    for name, micros in hand_off_costs(server, args.calls).items():
        print(f"   {name:28s} {micros:8.1f} us")

    print(
        f"\n3. 64 KiB uploads, {args.uploads} per run, the four runs taking turns in "
        f"{args.rounds} rounds: median (min-max); ratios: median of the rounds' ratios"
    )
    rates = interleaved_rates(
        args.rounds,
        {
            "sync": lambda: sync_uploads(server, args.uploads, 8),
            "async": lambda: async_uploads(server, args.uploads, 8),
            "pooled": lambda: sync_uploads(server, args.uploads, 8, pool=True),
            "requests": lambda: requests_uploads(server, args.uploads, 8),
        },
    )
    for name, label in (
        ("sync", "BigMind, 8 threads, one client"),
        ("async", "AsyncBigMind, 8 tasks"),
        ("pooled", "BigMind + ThreadPoolExecutor(8)"),
        ("requests", "requests + ThreadPoolExecutor(8)"),
    ):
        rate = summary(rates[name])
        print(
            f"   {label:39s} {rate['median']:8.1f} uploads/s ({rate['min']:.0f}-{rate['max']:.0f})"
        )
    for label, mine, theirs, need in (
        ("sync / async (8 threads vs 8 tasks)", "sync", "async", 0.75),
        ("sync / requests (both on the pool)", "pooled", "requests", 1.5),
    ):
        ratio = paired_ratio(rates[mine], rates[theirs])
        verdict = "OK" if ratio["median"] >= need else "UNDER"
        print(
            f"   {label:35s} = {ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f}x; "
            f"target >= {need}x: {verdict})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.sync_overhead")
    parser.add_argument("--calls", type=int, default=1500, help="timed GETs per round and client")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=400, help="64 KiB uploads per run")
    parser.add_argument(
        "--server",
        choices=("emulator", "sink", "both"),
        default="both",
        help="the emulator (real request handling) and/or the near-free sink",
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run: few calls")
    args = parser.parse_args(argv)
    if args.quick:
        args.calls, args.rounds, args.uploads = 200, 1, 64
    names = ("emulator", "sink") if args.server == "both" else (args.server,)
    for name in names:
        with server_process(name) as server:
            print(f"\n=== {name}, in another process at {server.base_url}")
            run(server, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
