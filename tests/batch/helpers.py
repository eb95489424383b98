"""Helpers for the batch tests: fast clients, tiny distinct report files, report counting."""

from __future__ import annotations

import collections
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from bigmind_async import AsyncBigMind, AttachJob, AttachOutcome
from bigmind_async._batch import attach_many
from bigmind_async._journal import Journal
from bigmind_async.emulator import Emulator, ThreadedEmulator


def fast_client(emu: Emulator | ThreadedEmulator, **overrides: Any) -> AsyncBigMind:
    """A client for fault tests: no limiter, no backoff sleeps, short timeouts, many retries."""
    kwargs: dict[str, Any] = {
        "api_key": emu.api_key,
        "base_url": emu.base_url,
        "rate_limit": None,
        "backoff_base": 0,
        "max_retries": 10,
        "timeout": 10,
    }
    kwargs.update(overrides)
    return AsyncBigMind(**kwargs)


def text_job(customer_id: str, study_uid: str, n: int, **fields: Any) -> AttachJob:
    """A tiny distinct TXT report sent from memory."""
    return AttachJob(
        customer_id=customer_id,
        study_uid=study_uid,
        file=f"report number {n}\n".encode(),
        filename=f"report-{n}.txt",
        title=fields.pop("title", f"Report {n}"),
        **fields,
    )


def write_reports(directory: Path, count: int, *, prefix: str = "report") -> list[Path]:
    """``count`` tiny distinct TXT files on disk."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for n in range(count):
        path = directory / f"{prefix}-{n:04d}.txt"
        path.write_text(f"{prefix} {n}: findings unremarkable.\n", encoding="utf-8")
        paths.append(path)
    return paths


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def stored_by_sha(emu: Emulator, customer_id: str) -> collections.Counter[str]:
    """How many stored reports the customer has per file sha256."""
    return collections.Counter(r["sha256"] for r in emu.reports(customer_id))


async def collect(client: AsyncBigMind, jobs: Any, **kwargs: Any) -> list[AttachOutcome]:
    """Every outcome of one ``attach_many`` run."""
    return [outcome async for outcome in run(client, jobs, **kwargs)]


def run(client: AsyncBigMind, jobs: Any, **kwargs: Any) -> AsyncIterator[AttachOutcome]:
    """``client.reports.attach_many``; the engine itself when a ``Journal`` object is passed
    (the public signature takes a path)."""
    if isinstance(kwargs.get("journal"), Journal):
        return attach_many(client.reports, jobs, **kwargs)
    return client.reports.attach_many(jobs, **kwargs)
