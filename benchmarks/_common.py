"""Shared bits: the report files, summaries of repeats, warm thread pools, progress output,
and the parent's handle on a child process (the servers, the workers)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    import requests

ROOT = Path(__file__).resolve().parent.parent

KIB = 1024
MIB = 1024 * 1024
SIZES = {"64 KiB": 64 * KIB, "1 MiB": MIB, "25 MiB": 25 * MIB}


def summary(values: Sequence[float]) -> dict[str, Any]:
    """Median with min and max over repeats (and the raw values, for the JSON)."""
    clean = [v for v in values if v is not None]
    if not clean:
        return {"median": None, "min": None, "max": None, "values": []}
    return {
        "median": statistics.median(clean),
        "min": min(clean),
        "max": max(clean),
        "values": list(clean),
    }


def make_files(directory: Path) -> dict[str, str]:
    """One PDF-like report per size (a PDF header, then random bytes), plus a tiny warm-up one.

    They live on the real disk (the temp dir), as users' reports do, and were just written, so
    they sit in the page cache: every stack reads them at memory speed.
    """
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for label, size in {**SIZES, "warm-up": KIB}.items():
        path = directory / f"report-{label.replace(' ', '').lower()}.pdf"
        with open(path, "wb") as handle:
            head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
            handle.write(head)
            left = size - len(head)
            while left > 0:
                block = os.urandom(min(left, MIB))
                handle.write(block)
                left -= len(block)
        files[label] = str(path)
    return files


def start_pool(threads: int, setup: Callable[[], object] = lambda: None) -> ThreadPoolExecutor:
    """A ``ThreadPoolExecutor`` whose ``threads`` threads are all started and have each run
    ``setup`` once (e.g. made their own ``requests.Session``): a barrier holds every start-up
    task until all are running, so no thread runs two and none is left to start later, inside
    a timed run."""
    pool = ThreadPoolExecutor(max_workers=threads)
    barrier = threading.Barrier(threads)

    def start() -> None:
        barrier.wait(timeout=60)
        setup()

    try:
        for future in [pool.submit(start) for _ in range(threads)]:
            future.result()
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise
    return pool


def attach_url(server: dict[str, Any]) -> str:
    """The attach endpoint of the server's study (``server``: a server's ``info``)."""
    study = f"{server['base_url']}/customers/{server['customer']}/dicom-studies/{server['study']}"
    return study + "/reports"


def auth(server: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": "Bearer " + server["api_key"]}


class RequestsAttach:
    """Attaching a report with ``requests``, as users write it: one ``Session`` per thread
    (a ``Session`` is not thread-safe), ``files=`` and ``data=``, the key in a header."""

    def __init__(self, server: dict[str, Any], *, timeout: float) -> None:
        self._url = attach_url(server)
        self._headers = auth(server)
        self._timeout = timeout
        self._local = threading.local()
        self._sessions: list[requests.Session] = []

    def session(self) -> requests.Session:
        """The calling thread's session (made on its first call)."""
        import requests

        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
            self._sessions.append(session)
        return session

    def post(self, file: tuple[str, Any, str], fields: dict[str, str]) -> requests.Response:
        """POST one report: ``file`` is ``(file name, bytes or open file, MIME type)``."""
        return self.session().post(
            self._url,
            headers=self._headers,
            data=fields,
            files={"file": file},
            timeout=self._timeout,
        )

    def close(self) -> None:
        for session in self._sessions:
            session.close()


def files_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"bigmind-bench-files-{os.getpid()}"


def say(text: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(text, file=sys.stderr, flush=True)


def child_env() -> dict[str, str]:
    """The environment for benchmark children: this checkout on ``PYTHONPATH``."""
    path = os.environ.get("PYTHONPATH", "")
    return {**os.environ, "PYTHONPATH": str(ROOT) + (os.pathsep + path if path else "")}


_Child = TypeVar("_Child", bound="JsonLinesProcess")


class JsonLinesProcess:
    """``python -m MODULE ARGS...`` in a child process that speaks JSON lines: it announces
    itself with one JSON line on stdout (``hello``), then answers each line written to its
    stdin with one JSON line. Closing its stdin stops it."""

    #: Who it is, in the error raised when it dies.
    name = "a benchmark child process"
    #: Seconds ``close`` waits for it to exit before killing it.
    close_timeout = 30.0

    def __init__(self, module: str, *args: str) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=child_env(),
            cwd=str(ROOT),
        )
        self.pid = self._proc.pid
        try:
            self.hello = self._read()
        except BaseException:
            self.close()
            raise

    def _read(self) -> dict[str, Any]:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited before answering")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def ask(self, line: str) -> dict[str, Any]:
        """Write one line, return the child's answer."""
        assert self._proc.stdin is not None
        self._proc.stdin.write(line + "\n")
        self._proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        """Close its stdin and wait for it to exit (kill it after ``close_timeout``)."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=self.close_timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()

    def __enter__(self: _Child) -> _Child:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
