"""A batch process killed with SIGKILL mid-run, rerun with its journal: one report per job."""

from __future__ import annotations

import asyncio
import collections
import csv
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .helpers import sha256_of, write_reports

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")

JOBS = 30


def _journal_counts(path: Path) -> dict[str, int]:
    if not path.exists():
        return {}
    try:
        conn = sqlite3.connect(path, timeout=1.0)
        try:
            rows = conn.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state").fetchall()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return {}
    return dict(rows)


def _write_manifest(path: Path, customer: str, studies: list[str], files: list[Path]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["customer_id", "study_uid", "file", "title", "report_type"])
        for n, file in enumerate(files):
            relative = file.relative_to(path.parent).as_posix()
            writer.writerow([customer, studies[n % len(studies)], relative, f"R{n}", "lab"])


#: Runs the ``bigmind`` CLI in a fresh interpreter, with the journal's "done" write slowed down
#: (a slow disk): that widens the window in which the server has committed an upload that the
#: journal still records as in flight, the moment a crash is most dangerous.
_WORKER = """
import sys, time
from bigmind_async import _journal
slow = float(sys.argv.pop(1))
original = _journal.Journal._mark_done_sync
def slow_done(self, *args):
    time.sleep(slow)
    return original(self, *args)
_journal.Journal._mark_done_sync = slow_done
from bigmind_async._cli import main
main(sys.argv[1:])
"""


async def _start_batch(
    emu: Any, manifest: Path, journal: Path, *, slow_done: float = 0.0
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-c", _WORKER, str(slow_done),
        "--base-url", emu.base_url, "--api-key", emu.api_key, "--rate-limit", "0",
        "batch", "attach", str(manifest), "--journal", str(journal),
        "--concurrency", "4", "--settle", "0.3",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "COLUMNS": "160"},
    )  # fmt: skip


async def _kill_when(
    process: asyncio.subprocess.Process,
    journal: Path,
    *,
    done_at_least: int,
    stored: Callable[[], int] | None = None,
) -> dict[str, int]:
    """SIGKILL the batch once ``done_at_least`` jobs are done and some are in flight (and,
    with ``stored``, once the server holds more reports than the journal records as done)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = await asyncio.to_thread(_journal_counts, journal)
        done = counts.get("done", 0)
        unrecorded = stored is None or stored() > done
        if done >= done_at_least and counts.get("in_flight", 0) >= 1 and unrecorded:
            process.send_signal(signal.SIGKILL)
            await process.wait()
            return counts
        if process.returncode is not None:
            break
        await asyncio.sleep(0.01)
    if process.returncode is None:
        process.kill()
    out, err = await process.communicate()
    pytest.fail(
        f"the batch never reached {done_at_least} done with some in flight: "
        f"{(out + err).decode(errors='replace')}"
    )


class TestSigkillAndRerun:
    async def test_killed_twice_then_completed(self, emulator: Any, tmp_path: Path) -> None:
        """Killed while uploads are in flight (twice), the rerun attaches each job once."""
        emu = emulator.emu
        # Slow uploads, so jobs are in flight when the kill lands.
        emu.faults.inject("delay", route="attach_report", delay=0.15, times=None)
        files = write_reports(tmp_path / "files", JOBS)
        manifest = tmp_path / "manifest.csv"
        _write_manifest(manifest, emulator.customer_id, emulator.study_uids, files)
        journal = tmp_path / "journal.sqlite"

        def stored() -> int:
            return len(emu.reports(emulator.customer_id))

        first = await _start_batch(emu, manifest, journal, slow_done=0.2)
        at_first_kill = await _kill_when(first, journal, done_at_least=6, stored=stored)
        assert first.returncode == -signal.SIGKILL
        # Uploads the server committed that the journal only knows as "in flight".
        assert stored() > _journal_counts(journal)["done"]
        second = await _start_batch(emu, manifest, journal, slow_done=0.1)
        at_second_kill = await _kill_when(
            second, journal, done_at_least=at_first_kill["done"] + at_first_kill["in_flight"] + 4
        )
        assert second.returncode == -signal.SIGKILL
        assert at_second_kill["done"] < JOBS

        emu.faults.clear()
        third = await _start_batch(emu, manifest, journal)
        out, err = await asyncio.wait_for(third.communicate(), timeout=60)
        assert third.returncode == 0, (out + err).decode()

        per_sha = collections.Counter(r["sha256"] for r in emu.reports(emulator.customer_id))
        expected = {sha256_of(f.read_bytes()) for f in files}
        assert set(per_sha) == expected
        assert max(per_sha.values()) == 1
        assert _journal_counts(journal) == {"done": JOBS}
        assert "Skipped" in out.decode()
        assert emu.stats.requests_by_route["list_reports"] >= 1  # in-flight rows reconciled
