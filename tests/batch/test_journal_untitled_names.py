"""With a journal, an untitled job's key holds the title the server will store: the file name.

Two untitled jobs with the same bytes under different names are two reports (each titled by
its own name), not one job seen twice; a journal written before the key said so (schema 1)
is re-keyed when it is opened, so its done jobs are still skipped.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

from bigmind_async import AttachJob
from bigmind_async._journal import SCHEMA_VERSION, JobKey, Journal

from .helpers import collect, fast_client

CONSENT = b"Consent form, signed.\n"


def _untitled(env: Any, name: str) -> AttachJob:
    return AttachJob(
        customer_id=env.customer_id, study_uid=env.study_uid, file=CONSENT, filename=name
    )


class TestUntitledJobsWithAJournal:
    async def test_same_bytes_other_name_is_attached(self, emulator: Any, tmp_path: Path) -> None:
        """consent-a.txt and consent-b.txt (same bytes, no title): both attached, each under
        its own name; a rerun skips both, each with its own report."""
        journal = tmp_path / "j.sqlite"
        jobs = [_untitled(emulator, "consent-a.txt"), _untitled(emulator, "consent-b.txt")]
        async with fast_client(emulator.emu) as client:
            first = await collect(client, jobs, journal=journal)
            second = await collect(client, jobs, journal=journal)
        by_name = {
            o.job.filename: (o.skipped, o.report.file_name if o.report else None) for o in first
        }
        assert {
            "consent-a.txt": (False, "consent-a.txt"),
            "consent-b.txt": (False, "consent-b.txt"),
        } == by_name
        assert 2 == emulator.emu.stats.attach_count
        ids = {o.job.filename: o.report.report_id for o in first if o.report}
        assert {(n, True, i) for n, i in ids.items()} == {
            (o.job.filename, o.skipped, o.report.report_id if o.report else None) for o in second
        }

    async def test_schema_1_journal_is_rekeyed(self, emulator: Any, tmp_path: Path) -> None:
        """A done untitled job recorded by the previous schema is still skipped; the same
        bytes under another name are attached."""
        path = tmp_path / "j.sqlite"
        async with fast_client(emulator.emu) as client:
            done = await client.reports.attach(
                emulator.customer_id, emulator.study_uid, CONSENT, filename="consent-a.txt"
            )
            old_key = JobKey(  # schema 1 keyed an untitled job on title None
                customer_id=emulator.customer_id,
                study_uid=emulator.study_uid,
                sha256=hashlib.sha256(CONSENT).hexdigest(),
                title=None,
                report_type="other",
            )
            async with Journal(path) as journal:
                await journal.mark_in_flight(old_key, file_name="consent-a.txt", size_bytes=22)
                await journal.mark_done(
                    old_key, done.report_id, client._core.converter.unstructure(done)
                )
            conn = sqlite3.connect(path)
            conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
            conn.commit()
            conn.close()

            jobs = [_untitled(emulator, "consent-a.txt"), _untitled(emulator, "consent-b.txt")]
            outcomes = await collect(client, jobs, journal=path)
        by_name = {o.job.filename: o for o in outcomes}
        assert by_name["consent-a.txt"].skipped
        assert by_name["consent-a.txt"].report == done
        assert by_name["consent-b.txt"].ok
        assert not by_name["consent-b.txt"].skipped
        assert 2 == emulator.emu.stats.attach_count
        conn = sqlite3.connect(path)
        try:
            (version,) = conn.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchone()
        finally:
            conn.close()
        assert str(SCHEMA_VERSION) == version
