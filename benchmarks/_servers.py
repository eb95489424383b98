"""The servers the client stacks talk to, each in ANOTHER process, on loopback.

Two kinds:

- ``sink``: a minimal HTTP/1.1 server on a bare ``asyncio.Protocol`` that reads each upload
  body as it streams in (``Content-Length``, chunked, ``Expect: 100-continue``), checks that
  the multipart body ends with its closing boundary, throws the bytes away, and answers the
  API's 201 envelope with a report. It costs the machine a few microseconds per request, so
  the upload throughput it sees is the CLIENT's: the upload scenarios use it.
- ``uploads`` / ``listing``: the emulator (the real request handling: multipart parsing, type
  sniffing, hashing, storage). ``listing`` seeds ``studies`` indexed studies.

``ServerProcess(mode)`` starts ``python -m benchmarks._servers MODE`` and reads back one
JSON line (base URL, key, customer, study). The emulator runs with no rate limit, a customer
with a huge quota, and report storage in a tmpfs-backed temp dir (``/dev/shm`` when there is
one). Commands go over the child's stdin, one per line, each answered with one JSON line:

- ``clear``: remove every stored report (and its file), the comments and the counters, so
  the disk never fills between runs and each run starts from the same state;
- ``stats``: the emulator's counters (``requestsByRoute``, ``rateLimited``...).

``ServerProcess("listing", studies=10_000)`` seeds that many indexed studies for one customer.
Closing stdin stops the server (and removes its storage dir).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._common import JsonLinesProcess


def scratch_dir() -> str:
    """A directory on tmpfs when the machine has one: report files never touch the disk."""
    shm = Path("/dev/shm")  # noqa: S108 - tmpfs on Linux, used only for scratch files
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else tempfile.gettempdir()


class ServerProcess(JsonLinesProcess):
    """A server in a child process; ``info`` holds ``base_url``, ``api_key``, ``customer``,
    ``study`` (and, for the emulator, ``side_url``)."""

    name = "the benchmark server"

    def __init__(self, mode: str = "uploads", *, studies: int = 0) -> None:
        super().__init__("benchmarks._servers", mode, str(studies))
        self.info: dict[str, Any] = self.hello

    def command(self, name: str) -> dict[str, Any]:
        """Send one command (``clear``, ``stats``) and return its answer."""
        return self.ask(name)


# --- the sink ----------------------------------------------------------------------------------

_HEAD_LIMIT = 64 * 1024
_REPORT = {
    "studyInstanceUid": "1.2.826.0.1.3680043.8.498.1",
    "entityId": "ent_1",
    "title": "report.pdf",
    "reportType": "other",
    "isPrimary": False,
    "fileName": "report.pdf",
    "mimeType": "application/pdf",
    "createdAt": "2026-01-01T00:00:00.000Z",
    "attachedByPartnerKeyId": "pk_1_1",
}


_STUDY_DETAIL = json.dumps(
    {
        "success": True,
        "data": {
            "study": {
                "studyInstanceUid": _REPORT["studyInstanceUid"],
                "entityId": "ent_1",
                "patientName": "DOE^JANE",
                "patientId": "P1",
                "studyDescription": "CT CHEST",
                "studyDate": "2026-01-01",
                "modality": "CT",
                "bodyPart": "CHEST",
                "indexedAt": "2026-01-01T00:00:00.000Z",
                "reportCount": 0,
            },
            "entity": {"id": "ent_1", "type": "patient", "name": "DOE^JANE"},
            "reportCount": 0,
        },
    }
).encode()


class SinkProtocol(asyncio.Protocol):
    """One keep-alive connection of the sink: request heads parsed, bodies counted and dropped.

    States: ``head`` (collecting up to the blank line), ``body`` (``_left`` bytes to go),
    ``chunk-size`` / ``chunk-data`` / ``chunk-end`` / ``trailer`` for chunked bodies.
    """

    seq = 0

    def __init__(self, stats: dict[str, int]) -> None:
        self._stats = stats
        self._buffer = bytearray()
        self._state = "head"
        self._left = 0
        self._size = 0
        self._tail = b""
        self._transport: asyncio.Transport | None = None
        self._keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._stats["connections"] += 1

    def data_received(self, data: bytes) -> None:
        if self._state == "body" and not self._buffer and len(data) <= self._left:
            # The hot path for big bodies: count the bytes, keep only the tail.
            self._count(data)
            self._left -= len(data)
            if self._left == 0:
                self._finish()
            return
        self._buffer += data
        self._drain()

    def _count(self, data: bytes | bytearray | memoryview) -> None:
        self._size += len(data)
        self._tail = (self._tail + bytes(data[-8:]))[-8:]

    def _drain(self) -> None:
        buf = self._buffer
        while buf:
            state = self._state
            if state == "head":
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    if len(buf) > _HEAD_LIMIT:
                        self._answer(431, b"{}", close=True)
                    return
                head = bytes(buf[:end])
                del buf[: end + 4]
                self._start(head)
            elif state == "body":
                take = min(self._left, len(buf))
                self._count(memoryview(buf)[:take])
                del buf[:take]
                self._left -= take
                if self._left == 0:
                    self._finish()
            elif state in ("chunk-size", "chunk-end", "trailer"):
                end = buf.find(b"\r\n")
                if end < 0:
                    return
                line = bytes(buf[:end])
                del buf[: end + 2]
                if state == "chunk-size":
                    self._left = int(line.split(b";", 1)[0], 16)
                    self._state = "chunk-data" if self._left else "trailer"
                elif state == "chunk-end":
                    self._state = "chunk-size"
                elif not line:  # the blank line that ends the trailers
                    self._finish()
            else:  # chunk-data
                take = min(self._left, len(buf))
                self._count(memoryview(buf)[:take])
                del buf[:take]
                self._left -= take
                if self._left == 0:
                    self._state = "chunk-end"

    def _start(self, head: bytes) -> None:
        lines = head.split(b"\r\n")
        method = lines[0].split(b" ", 1)[0]
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        self._keep_alive = headers.get(b"connection", b"").lower() != b"close"
        self._size = 0
        self._tail = b""
        self._stats["requests"] += 1
        if headers.get(b"expect", b"").lower() == b"100-continue":
            assert self._transport is not None
            self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            self._state = "chunk-size"
        else:
            self._left = int(headers.get(b"content-length", b"0"))
            self._state = "body"
            if self._left == 0:
                self._finish(method)

    def _finish(self, method: bytes = b"POST") -> None:
        self._state = "head"
        if method != b"POST":  # any GET: one study, as ``studies.get`` expects it
            self._stats["gets"] += 1
            self._answer(200, _STUDY_DETAIL)
            return
        if not self._tail.endswith(b"--\r\n"):
            self._stats["bad_bodies"] += 1
            self._answer(400, b'{"success":false,"error":{"code":"VALIDATION_ERROR"}}')
            return
        SinkProtocol.seq += 1
        self._stats["uploads"] += 1
        self._stats["bytes"] += self._size
        report = {"reportId": f"alf_{SinkProtocol.seq:026d}", **_REPORT, "sizeBytes": self._size}
        self._answer(201, json.dumps({"success": True, "data": report}).encode())

    def _answer(self, status: int, body: bytes, *, close: bool = False) -> None:
        assert self._transport is not None
        reason = {200: b"OK", 201: b"Created", 400: b"Bad Request"}.get(status, b"Error")
        close = close or not self._keep_alive
        self._transport.write(
            b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
            b"Connection: %s\r\n\r\n%s"
            % (status, reason, len(body), b"close" if close else b"keep-alive", body)
        )
        if close:
            self._transport.close()


async def _serve_sink() -> None:
    stats = dict.fromkeys(("connections", "requests", "uploads", "gets", "bytes", "bad_bodies"), 0)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SinkProtocol(stats), "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}/api/partner/v1"
    print(
        json.dumps(
            {
                "base_url": base,
                "api_key": "sk_live_" + "0" * 32,
                "customer": "pc_1_1",
                "study": "1.2.826.0.1.3680043.8.498.1",
            }
        ),
        flush=True,
    )
    async with server:
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            answer: dict[str, Any] = dict(stats)
            if line.strip() == "clear":
                stats.update(dict.fromkeys(stats, 0))
            print(json.dumps(answer), flush=True)


# --- the emulator ------------------------------------------------------------------------------


async def _serve(mode: str, studies: int) -> None:
    if mode == "sink":
        await _serve_sink()
        return
    from bigmind_async.emulator import Emulator

    storage = tempfile.mkdtemp(prefix="bigmind-bench-", dir=scratch_dir())
    emu = Emulator(rate_limit=None, storage_dir=storage, random_seed=7)
    async with emu:
        customer = emu.add_customer(quota_bytes=10**15)
        seeded = [
            emu.add_study(customer, modality="MR" if n % 3 else "CT", indexed_at=1.7e9 + n)
            for n in range(studies)
        ]
        study = seeded[0] if seeded else emu.add_study(customer)
        state = emu._state  # the benchmark's private reach: drop reports between runs
        print(
            json.dumps(
                {
                    "base_url": emu.base_url,
                    "api_key": emu.api_key,
                    "customer": customer,
                    "study": study,
                    "side_url": emu.origin + "/_emulator",
                    "storage": storage,
                }
            ),
            flush=True,
        )
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                break
            command = line.strip()
            if command == "clear":
                for report in list(state.reports.values()):
                    state.remove_report(report)
                state.comments.clear()
                emu.stats.reset()
                gc.collect()
                answer: dict[str, Any] = {"ok": True}
            elif command == "stats":
                answer = emu.stats.to_json()
                answer.pop("uploads", None)
            else:
                answer = {"error": f"unknown command {command!r}"}
            print(json.dumps(answer), flush=True)
    import shutil

    shutil.rmtree(storage, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(_serve(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
