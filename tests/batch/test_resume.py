"""attach_many with a journal: skip done jobs, reconcile in-flight ones, never match twice."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

from bigmind_async import AttachJob, InvalidReportTypeError, StudyNotFoundError
from bigmind_async._journal import JobKey, Journal
from bigmind_async.emulator import Emulator

from .helpers import collect, fast_client, sha256_of, text_job


def _key(job: AttachJob) -> JobKey:
    assert isinstance(job.file, bytes)
    return JobKey(
        customer_id=job.customer_id,
        study_uid=job.study_uid,
        sha256=sha256_of(job.file),
        title=job.title,
        report_type=str(job.report_type),
    )


def _age_rows(path: Path, seconds: float) -> None:
    """Make every row look like an earlier run's (started ``seconds`` ago)."""
    conn = sqlite3.connect(path)
    conn.execute("UPDATE jobs SET started_at = started_at - ?", (seconds,))
    conn.commit()
    conn.close()


class TestRerun:
    async def test_rerun_skips_done_jobs(self, emulator: Any, tmp_path: Path) -> None:
        """A second run with the same journal attaches nothing and returns the same reports."""
        journal = tmp_path / "j.sqlite"
        jobs = [text_job(emulator.customer_id, emulator.study_uid, n) for n in range(10)]
        async with fast_client(emulator.emu) as client:
            first = await collect(client, jobs, journal=journal)
        async with fast_client(emulator.emu) as client:
            second = await collect(client, jobs, journal=journal)
        assert all(o.ok and not o.skipped for o in first)
        assert all(o.ok and o.skipped for o in second)
        ids = {o.report.report_id for o in first if o.report}
        assert {o.report.report_id for o in second if o.report} == ids
        assert emulator.emu.stats.attach_count == 10
        assert not [t for t in threading.enumerate() if t.name.startswith("bigmind-journal")]

    async def test_open_journal_object_is_left_open(self, emulator: Any, tmp_path: Path) -> None:
        """A Journal passed in is used as is and not closed by the batch."""
        job = text_job(emulator.customer_id, emulator.study_uid, 1)
        async with Journal(tmp_path / "j.sqlite") as journal, fast_client(emulator.emu) as client:
            (outcome,) = await collect(client, [job], journal=journal)
            entry = await journal.get(_key(job))
        assert entry is not None
        assert outcome.report is not None
        assert (entry.state, entry.report_id) == ("done", outcome.report.report_id)

    async def test_refused_before_sending_is_forgotten(self, emulator: Any, tmp_path: Path) -> None:
        """A job refused by the client-side checks leaves no row; a server refusal stays
        in flight (the next run lists the study before trying again)."""
        path = tmp_path / "j.sqlite"
        bad_type = AttachJob(customer_id=emulator.customer_id, study_uid=emulator.study_uid,
                             file=b"\x00bin", filename="a.bin")  # fmt: skip
        unknown_study = text_job(emulator.customer_id, "1.2.3.4.5", 1)
        async with fast_client(emulator.emu) as client:
            outcomes = await collect(client, [bad_type, unknown_study], journal=path)
        errors = {type(o.error) for o in outcomes}
        assert errors == {InvalidReportTypeError, StudyNotFoundError}
        async with Journal(path) as journal:
            assert await journal.counts() == {"done": 0, "in_flight": 1}


class TestInFlightReconcile:
    async def test_committed_upload_is_found_not_repeated(
        self, emulator: Any, tmp_path: Path
    ) -> None:
        """In flight in the journal and attached on the server: the rerun takes that report."""
        path = tmp_path / "j.sqlite"
        job = text_job(emulator.customer_id, emulator.study_uid, 1)
        async with fast_client(emulator.emu) as client:
            crashed = await client.reports.attach_job(job)  # the upload the crash interrupted
        async with Journal(path) as journal:
            await journal.mark_in_flight(_key(job), file_name="report-1.txt", size_bytes=17)
        _age_rows(path, 60)
        async with fast_client(emulator.emu) as client:
            (outcome,) = await collect(client, [job], journal=path)
        assert outcome.ok
        assert outcome.skipped
        assert outcome.report is not None
        assert outcome.report.report_id == crashed.report_id
        assert emulator.emu.stats.attach_count == 1
        assert len(emulator.emu.reports(emulator.customer_id)) == 1

    async def test_uncommitted_upload_is_sent_once(self, emulator: Any, tmp_path: Path) -> None:
        """In flight in the journal, absent on the server: uploaded again, once."""
        path = tmp_path / "j.sqlite"
        job = text_job(emulator.customer_id, emulator.study_uid, 1)
        async with Journal(path) as journal:
            await journal.mark_in_flight(_key(job), file_name="report-1.txt", size_bytes=17)
        _age_rows(path, 60)
        async with fast_client(emulator.emu) as client:
            (outcome,) = await collect(client, [job], journal=path)
        assert outcome.ok
        assert not outcome.skipped
        assert len(emulator.emu.reports(emulator.customer_id)) == 1
        assert emulator.emu.stats.requests_by_route["list_reports"] == 1

    async def test_recorded_reports_are_never_matched_twice(self, tmp_path: Path) -> None:
        """Without server sha256, two look-alike jobs (same name, size, title, type): the
        in-flight one never takes the report the journal recorded for the other."""
        path = tmp_path / "j.sqlite"
        async with Emulator(rate_limit=None, include_sha256=False) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            first = AttachJob(customer_id=customer, study_uid=study, file=b"AAAA\n",
                              filename="same.txt", title="Same")  # fmt: skip
            second = AttachJob(customer_id=customer, study_uid=study, file=b"BBBB\n",
                               filename="same.txt", title="Same")  # fmt: skip
            async with fast_client(emu) as client:
                (done,) = await collect(client, [first], journal=path)
            assert done.report is not None
            async with Journal(path) as journal:
                await journal.mark_in_flight(_key(second), file_name="same.txt", size_bytes=5)
            _age_rows(path, 60)
            async with fast_client(emu) as client:
                outcomes = await collect(client, [first, second], journal=path)
            by_file = {o.job.file: o for o in outcomes}
            assert by_file[b"AAAA\n"].skipped
            assert by_file[b"BBBB\n"].ok
            assert not by_file[b"BBBB\n"].skipped
            second_report = by_file[b"BBBB\n"].report
            assert second_report is not None
            assert second_report.report_id != done.report.report_id
            assert len(emu.reports(customer)) == 2

    async def test_recent_in_flight_waits_for_the_settle_window(
        self, emulator: Any, tmp_path: Path
    ) -> None:
        """An in-flight row a crashed run left a moment ago is listed only after it settles."""
        path = tmp_path / "j.sqlite"
        job = text_job(emulator.customer_id, emulator.study_uid, 1)
        started = time.monotonic()  # before the row's started_at: the wait counts from there
        async with Journal(path) as journal:
            await journal.mark_in_flight(_key(job), file_name="report-1.txt", size_bytes=17)
            entry = await journal.get(_key(job))
        assert entry is not None
        async with (
            Journal(path, settle_seconds=0.6) as journal,
            fast_client(emulator.emu) as client,
        ):
            assert entry.started_at < journal.run_started_at  # the row is an earlier run's
            (outcome,) = await collect(client, [job], journal=journal)
        elapsed = time.monotonic() - started
        assert outcome.ok
        assert elapsed >= 0.6  # no upper bound: a hang is pytest-timeout's to catch
