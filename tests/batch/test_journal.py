"""The batch journal: states, durability across reopen, WAL, one report per job, many writers."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from bigmind_async._journal import JobKey, Journal, JournalEntry, JournalError


def _key(n: int = 1, *, study: str = "1.2.3") -> JobKey:
    return JobKey(
        customer_id="pc_1_1",
        study_uid=study,
        sha256=f"{n:064x}",
        title=f"report {n}",
        report_type="radiology",
    )


class TestJournalStates:
    async def test_unknown_key_is_none(self, tmp_path: Path) -> None:
        """A key the journal has never seen has no row."""
        async with Journal(tmp_path / "j.sqlite") as journal:
            assert await journal.get(_key()) is None

    async def test_in_flight_then_done_survives_reopen(self, tmp_path: Path) -> None:
        """Both states are committed: a new Journal on the same file reads them back."""
        path = tmp_path / "j.sqlite"
        async with Journal(path) as journal:
            await journal.mark_in_flight(_key(1), file_name="a.pdf", size_bytes=10)
            await journal.mark_in_flight(_key(2), file_name="b.pdf", size_bytes=11)
            await journal.mark_done(_key(2), "alf_2", {"reportId": "alf_2", "title": "report 2"})
        async with Journal(path) as journal:
            first = await journal.get(_key(1))
            second = await journal.get(_key(2))
            assert first is not None
            assert second is not None
            assert (
                first.state,
                first.report_id,
                first.file_name,
                first.size_bytes,
                first.attempts,
            ) == ("in_flight", None, "a.pdf", 10, 1)
            assert (
                second.state,
                second.report_id,
                second.report,
            ) == ("done", "alf_2", {"reportId": "alf_2", "title": "report 2"})
            assert await journal.counts() == {"done": 1, "in_flight": 1}

    async def test_attempts_count_every_upload(self, tmp_path: Path) -> None:
        """Marking a key in flight again counts one more attempt."""
        async with Journal(tmp_path / "j.sqlite") as journal:
            for _ in range(3):
                await journal.mark_in_flight(_key(), file_name="a.pdf", size_bytes=1)
            entry = await journal.get(_key())
            assert entry is not None
            assert entry.attempts == 3

    async def test_forget_removes_only_in_flight(self, tmp_path: Path) -> None:
        """A job that provably created nothing is forgotten; a done one never is."""
        async with Journal(tmp_path / "j.sqlite") as journal:
            await journal.mark_in_flight(_key(1), file_name="a.pdf", size_bytes=1)
            await journal.mark_done(_key(2), "alf_2", {"reportId": "alf_2"})
            await journal.forget(_key(1))
            await journal.forget(_key(2))
            assert await journal.get(_key(1)) is None
            entry = await journal.get(_key(2))
            assert entry is not None
            assert entry.state == "done"

    async def test_report_id_is_recorded_once(self, tmp_path: Path) -> None:
        """One report id can be the result of one job only."""
        async with Journal(tmp_path / "j.sqlite") as journal:
            await journal.mark_done(_key(1), "alf_1", {"reportId": "alf_1"})
            with pytest.raises(JournalError, match="alf_1"):
                await journal.mark_done(_key(2), "alf_1", {"reportId": "alf_1"})

    async def test_done_report_ids_per_study(self, tmp_path: Path) -> None:
        """The ids a reconcile must exclude are the study's done ones."""
        async with Journal(tmp_path / "j.sqlite") as journal:
            await journal.mark_done(_key(1), "alf_1", {"reportId": "alf_1"})
            await journal.mark_done(_key(2), "alf_2", {"reportId": "alf_2"})
            await journal.mark_done(_key(3, study="9.9"), "alf_3", {"reportId": "alf_3"})
            await journal.mark_in_flight(_key(4), file_name="d.pdf", size_bytes=1)
            assert {"alf_1", "alf_2"} == await journal.done_report_ids("pc_1_1", "1.2.3")

    def test_key_digest_is_stable_and_distinct(self) -> None:
        """The digest depends on every key field and on nothing else."""
        assert _key(1).digest == _key(1).digest
        assert _key(1).digest != _key(2).digest
        untitled = JobKey(
            customer_id="pc_1_1",
            study_uid="1.2.3",
            sha256="0" * 64,
            title=None,
            report_type="other",
        )
        empty = JobKey(
            customer_id="pc_1_1",
            study_uid="1.2.3",
            sha256="0" * 64,
            title="",
            report_type="other",
        )
        assert untitled.digest != empty.digest


class TestJournalFile:
    async def test_wal_mode_and_full_sync(self, tmp_path: Path) -> None:
        """The file is in WAL mode (checked from a plain sqlite3 connection too), and the
        journal's own connection commits with ``synchronous=FULL`` (2): that setting is per
        connection, so only the journal's connection can show it."""
        path = tmp_path / "j.sqlite"
        async with Journal(path) as journal:
            assert await journal.journal_mode() == "wal"
            assert await journal._call(journal._pragma_sync, "synchronous") == "2"
        conn = sqlite3.connect(path)
        try:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            conn.close()

    async def test_calls_run_on_one_worker_thread(self, tmp_path: Path) -> None:
        """SQLite runs on a dedicated thread, never on the event loop's."""
        seen: set[str] = set()
        async with Journal(tmp_path / "j.sqlite") as journal:
            original = journal._get_sync

            def spy(key: JobKey) -> JournalEntry | None:
                seen.add(threading.current_thread().name)
                return original(key)

            journal._get_sync = spy  # type: ignore[method-assign]
            await asyncio.gather(*(journal.get(_key(n)) for n in range(20)))
        assert len(seen) == 1
        assert threading.current_thread().name not in seen
        assert next(iter(seen)).startswith("bigmind-journal")

    async def test_not_a_journal(self, tmp_path: Path) -> None:
        """A file that is not SQLite is a JournalError naming it."""
        path = tmp_path / "notes.txt"
        path.write_bytes(b"hello, this is not a database" * 100)
        with pytest.raises(JournalError, match=r"notes\.txt"):
            await Journal(path).open()

    async def test_newer_schema_is_refused(self, tmp_path: Path) -> None:
        """A journal written by a newer SDK is not silently misread."""
        path = tmp_path / "j.sqlite"
        async with Journal(path):
            pass
        conn = sqlite3.connect(path)
        conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
        conn.commit()
        conn.close()
        with pytest.raises(JournalError, match="schema version 99"):
            await Journal(path).open()

    async def test_closed_journal_refuses_calls(self, tmp_path: Path) -> None:
        """Using a journal after close is a clear error, not a hang."""
        journal = await Journal(tmp_path / "j.sqlite").open()
        await journal.aclose()
        await journal.aclose()
        with pytest.raises(JournalError, match="not open"):
            await journal.get(_key())

    async def test_concurrent_writers(self, tmp_path: Path) -> None:
        """Four journals on one file, writing at once, lose no row."""
        path = tmp_path / "j.sqlite"
        journals = [await Journal(path).open() for _ in range(4)]
        try:

            async def write(w: int, journal: Journal) -> None:
                for n in range(50):
                    key = _key(w * 1000 + n)
                    await journal.mark_in_flight(key, file_name="x.txt", size_bytes=n)
                    await journal.mark_done(key, f"alf_{w}_{n}", {"reportId": f"alf_{w}_{n}"})

            await asyncio.gather(*(write(w, j) for w, j in enumerate(journals)))
            assert await journals[0].counts() == {"done": 200, "in_flight": 0}
        finally:
            for journal in journals:
                await journal.aclose()
