"""One client stack in its own process: ``python -m benchmarks._worker``.

The harness starts one worker per stack (a fresh interpreter, so stacks never share a heap,
a loop or a connection pool) and sends it JSON commands on stdin, one per line; each answer is
one JSON line on stdout. Imports happen before any timing.

Commands (``op``):

- ``upload``: ``count`` uploads of ``path`` at ``concurrency`` with ``stack``; returns the
  seconds they took, the uploads that got HTTP 201 and the CPU seconds the client spent
  (this process plus its children: curl).
- ``memory``: warm the stack up, take RSS as the baseline, then run ``count`` uploads of
  ``path`` at once while a thread samples RSS every 2 ms; returns the peak growth in bytes.
- ``list``: walk every study of the customer at ``limit`` per page; returns items and seconds.
- ``overhead``: the sync facade's per-call overhead, from ``benchmarks.sync_overhead``
  (``count`` calls per round and client, ``rounds`` rounds; ``server_pid`` to pin the server).
- ``rate_budget``: every scenario of ``benchmarks.rate_budget``.

Before ``upload`` or ``memory`` starts its clock or takes its RSS baseline, a stack has
opened its client and sent one warm-up upload; the thread stacks have also started every
thread of their pool (``requests``: each with its ``Session``) and send that upload from it.

Stacks: ``bigmind_async``, ``bigmind_sync``, ``aiohttp`` (FormData with an open file, a fresh
file object per request), ``httpx`` (``AsyncClient``, ``files=``), ``requests`` (a thread pool,
one ``Session`` per thread, ``files=``) and ``curl`` (one ``curl -F file=@path`` process per
upload, as the API docs show).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks._common import JsonLinesProcess, RequestsAttach, attach_url, auth, start_pool

FIELDS = (("reportType", "other"), ("isPrimary", "false"), ("silent", "false"))
MIME = "application/pdf"

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """This process's resident set size, in bytes (from /proc: no psutil overhead)."""
    with open("/proc/self/statm", "rb") as handle:
        return int(handle.read().split()[1]) * _PAGE


def cpu_seconds() -> float:
    """User + system CPU of this process and its reaped children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


# --- async stacks: a factory opens the client and returns (upload_one, close) ------------------

AsyncUpload = Callable[[str], Awaitable[bool]]


async def open_bigmind_async(server: dict[str, Any]) -> tuple[AsyncUpload, Callable[[], Any]]:
    from bigmind_async import AsyncBigMind

    client = AsyncBigMind(server["api_key"], server["base_url"], rate_limit=None, timeout=900)
    customer, study = server["customer"], server["study"]

    async def upload(path: str) -> bool:
        await client.reports.attach(customer, study, path)
        return True

    return upload, client.aclose


async def open_aiohttp(server: dict[str, Any]) -> tuple[AsyncUpload, Callable[[], Any]]:
    import aiohttp

    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100),
        timeout=aiohttp.ClientTimeout(total=900),
        headers=auth(server),
    )
    url = attach_url(server)

    async def upload(path: str) -> bool:
        with open(path, "rb") as handle:  # noqa: ASYNC230 - what aiohttp's docs show
            form = aiohttp.FormData()
            for name, value in FIELDS:
                form.add_field(name, value)
            form.add_field("file", handle, filename=Path(path).name, content_type=MIME)
            async with session.post(url, data=form) as resp:
                await resp.read()
                return resp.status == 201

    return upload, session.close


async def open_httpx(server: dict[str, Any]) -> tuple[AsyncUpload, Callable[[], Any]]:
    import httpx

    client = httpx.AsyncClient(
        headers=auth(server),
        timeout=900,
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
    )
    url = attach_url(server)

    async def upload(path: str) -> bool:
        with open(path, "rb") as handle:  # noqa: ASYNC230 - what httpx's docs show
            resp = await client.post(
                url, data=dict(FIELDS), files={"file": (Path(path).name, handle, MIME)}
            )
        return resp.status_code == 201

    return upload, client.aclose


async def open_curl(server: dict[str, Any]) -> tuple[AsyncUpload, Callable[[], Any]]:
    url = attach_url(server)
    header = "Authorization: Bearer " + server["api_key"]
    fields = [arg for name, value in FIELDS for arg in ("-F", f"{name}={value}")]

    async def upload(path: str) -> bool:
        proc = await asyncio.create_subprocess_exec(
            "curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", header,
            "-F", f"file=@{path};type={MIME}", *fields, url,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, _ = await proc.communicate()
        return out.strip() == b"201"

    async def close() -> None:
        return None

    return upload, close


ASYNC_STACKS = {
    "bigmind_async": open_bigmind_async,
    "aiohttp": open_aiohttp,
    "httpx": open_httpx,
    "curl": open_curl,
}


# --- thread stacks: a factory returns (upload_one, close, setup_thread); upload_one is ---------
# --- thread-safe, setup_thread readies the calling thread (run once in each pool thread) -------

SyncUpload = Callable[[str], bool]
ThreadStack = tuple[SyncUpload, Callable[[], Any], Callable[[], object]]


def open_bigmind_sync(server: dict[str, Any]) -> ThreadStack:
    from bigmind_sync import BigMind

    client = BigMind(server["api_key"], server["base_url"], rate_limit=None, timeout=900)
    customer, study = server["customer"], server["study"]

    def upload(path: str) -> bool:
        client.reports.attach(customer, study, path)
        return True

    return upload, client.close, lambda: None  # one client for every thread


def open_requests(server: dict[str, Any]) -> ThreadStack:
    attach = RequestsAttach(server, timeout=900)

    def upload(path: str) -> bool:
        with open(path, "rb") as handle:
            resp = attach.post((Path(path).name, handle, MIME), dict(FIELDS))
        return resp.status_code == 201

    return upload, attach.close, attach.session


THREAD_STACKS = {"bigmind_sync": open_bigmind_sync, "requests": open_requests}
#: Display order: ours, then the ceiling, then what users would otherwise write.
STACKS = ("bigmind_async", "bigmind_sync", "aiohttp", "httpx", "requests", "curl")


# --- running uploads ---------------------------------------------------------------------------


async def _async_batch(upload: AsyncUpload, path: str, count: int, lanes: int) -> int:
    left = count
    ok = 0

    async def lane() -> None:
        nonlocal left, ok
        while left > 0:
            left -= 1
            done = await upload(path)  # never `ok += await ...`: that reads ok before waiting
            ok += done

    await asyncio.gather(*(lane() for _ in range(lanes)))
    return ok


def _thread_batch(
    pool: ThreadPoolExecutor, upload: SyncUpload, path: str, count: int, lanes: int
) -> int:
    """``count`` uploads from ``lanes`` threads of ``pool`` (started beforehand: see
    ``start_pool``), each taking the next upload until none is left."""
    lock = threading.Lock()
    left = count
    ok = 0

    def lane() -> None:
        nonlocal left, ok
        while True:
            with lock:
                if left <= 0:
                    return
                left -= 1
            done = upload(path)
            with lock:
                ok += done

    for future in [pool.submit(lane) for _ in range(lanes)]:
        future.result()
    return ok


class Sampler:
    """Samples RSS every 2 ms on a thread and keeps the peak."""

    def __init__(self) -> None:
        self.baseline = rss()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss())
            time.sleep(0.002)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss())


@contextlib.contextmanager
def _measured(result: dict[str, Any], *, memory: bool) -> Iterator[None]:
    """Times the block into ``result`` (``seconds``, client ``cpu``); with ``memory``, samples
    RSS through it too (``growth``): the baseline is taken here, so whatever was set up
    before the block is not counted."""
    sampler = Sampler() if memory else None
    with sampler if sampler is not None else contextlib.nullcontext():
        cpu, started = cpu_seconds(), time.perf_counter()
        yield
        result.update(seconds=time.perf_counter() - started, cpu=cpu_seconds() - cpu)
    if sampler is not None:
        result["growth"] = sampler.peak - sampler.baseline


def run_uploads(cmd: dict[str, Any]) -> dict[str, Any]:
    """``upload`` and ``memory``: warm up with one small upload, then the measured batch."""
    stack, server = cmd["stack"], cmd["server"]
    path, count, concurrency = cmd["path"], cmd["count"], cmd["concurrency"]
    memory = cmd["op"] == "memory"
    warm = cmd["warmup_path"]
    lanes = min(concurrency, count)
    result: dict[str, Any] = {}
    if stack in ASYNC_STACKS:

        async def go() -> None:
            upload, close = await ASYNC_STACKS[stack](server)
            try:
                if not await upload(warm):
                    raise RuntimeError(f"{stack}: the warm-up upload failed")
                with _measured(result, memory=memory):
                    result["ok"] = await _async_batch(upload, path, count, lanes)
            finally:
                await close()

        asyncio.run(go())
    else:
        upload, close, setup_thread = THREAD_STACKS[stack](server)
        try:
            with start_pool(lanes, setup_thread) as pool:
                if not pool.submit(upload, warm).result():
                    raise RuntimeError(f"{stack}: the warm-up upload failed")
                with _measured(result, memory=memory):
                    result["ok"] = _thread_batch(pool, upload, path, count, lanes)
        finally:
            close()
    return result


# --- listing -----------------------------------------------------------------------------------


async def _list_bigmind(server: dict[str, Any], limit: int) -> tuple[int, float]:
    from bigmind_async import AsyncBigMind

    async with AsyncBigMind(
        server["api_key"], server["base_url"], rate_limit=None, timeout=900
    ) as client:
        await client.studies.get(server["customer"], server["study"])  # warm up
        started = time.perf_counter()
        count = 0
        async for _study in client.studies.list(server["customer"], page_size=limit):
            count += 1
        return count, time.perf_counter() - started


async def _list_aiohttp(server: dict[str, Any], limit: int) -> tuple[int, float]:
    import aiohttp

    url = f"{server['base_url']}/customers/{server['customer']}/dicom-studies"
    async with aiohttp.ClientSession(headers=auth(server)) as session:
        async with session.get(f"{url}/{server['study']}") as resp:  # warm up
            await resp.read()
        started = time.perf_counter()
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"page": str(page), "limit": str(limit)}
            async with session.get(url, params=params) as resp:
                body = json.loads(await resp.read())
            data = body["data"]
            items.extend(data["studies"])
            if page >= data["pagination"]["totalPages"]:
                break
            page += 1
        return len(items), time.perf_counter() - started


def run_listing(cmd: dict[str, Any]) -> dict[str, Any]:
    walker = _list_bigmind if cmd["stack"] == "bigmind_async" else _list_aiohttp
    items, seconds = asyncio.run(walker(cmd["server"], cmd["limit"]))
    return {"items": items, "seconds": seconds}


# --- the sync facade's per-call overhead -------------------------------------------------------


def run_overhead(cmd: dict[str, Any]) -> dict[str, Any]:
    """Per-call overhead of the sync facade: ``benchmarks.sync_overhead.per_call_overhead``
    (the sync facade's own benchmark) with this process and the server on separate CPUs
    (the figure the target is judged on) and with free placement, plus the machine's cost of
    one thread hand-off on one CPU and across two."""
    from benchmarks import sync_overhead  # imports bigmind_sync: only when asked

    count, rounds = cmd["count"], cmd["rounds"]
    target = sync_overhead.Server.from_info(cmd["server"], cmd.get("server_pid"))
    answer: dict[str, Any] = {"source": "sync_overhead.py"}
    free_async, free_sync = sync_overhead.per_call_overhead(target, count, rounds)
    answer["free"] = {"async_us": free_async, "sync_us": free_sync}
    pair = sync_overhead.split_cpus(target.pid)
    if pair is None:
        answer.update(placement="free", async_us=free_async, sync_us=free_sync)
        return answer
    split_async, split_sync = sync_overhead.per_call_overhead(target, count, rounds, split=True)
    client_cpu, server_cpu = pair
    answer.update(
        placement="split",
        async_us=split_async,
        sync_us=split_sync,
        wake_same_cpu_us=sync_overhead.wake_round_trip((client_cpu, client_cpu), count),
        wake_two_cpus_us=sync_overhead.wake_round_trip((client_cpu, server_cpu), count),
    )
    return answer


def run_rate_budget(cmd: dict[str, Any]) -> dict[str, Any]:
    """Every scenario of ``benchmarks.rate_budget`` (the batch engine's own benchmark)."""
    from benchmarks import rate_budget

    results = [
        asyncio.run(rate_budget.run_scenario(name, cmd["uploads"], cmd["rate"], cmd["concurrency"]))
        for name in rate_budget.SCENARIOS
    ]
    return {"scenarios": results}


OPS = {
    "rate_budget": run_rate_budget,
    "upload": run_uploads,
    "memory": run_uploads,
    "list": run_listing,
    "overhead": run_overhead,
}


def main() -> None:
    # Import every library up front so no timing pays for an import.
    import aiohttp  # noqa: F401
    import httpx  # noqa: F401
    import requests  # noqa: F401

    import bigmind_async  # noqa: F401

    with contextlib.suppress(ImportError):
        import bigmind_sync  # noqa: F401
    print(json.dumps({"ready": True, "pid": os.getpid()}), flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        try:
            answer = OPS[cmd["op"]](cmd)
        except Exception as exc:  # report, do not die: the harness records the failure
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()


class Worker(JsonLinesProcess):
    """The parent's handle on one worker process (see the module docs)."""

    name = "a benchmark worker"
    close_timeout = 60.0

    def __init__(self) -> None:
        super().__init__("benchmarks._worker")

    def call(self, **cmd: Any) -> dict[str, Any]:
        """Run one command; its answer (``error`` set when it failed)."""
        return self.ask(json.dumps(cmd))
