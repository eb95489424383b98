"""Shared bits: the report files, summaries of repeats, warm thread pools, progress output."""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

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


def files_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"bigmind-bench-files-{os.getpid()}"


def say(text: str) -> None:
    """Progress on stderr (stdout carries the table)."""
    print(text, file=sys.stderr, flush=True)
