"""The batch journal: a SQLite file that makes ``attach_many`` resumable and exactly-once.

One row per job key (customer, study, file sha256, title, report type; the title is the one the
report will have: the one asked for, else the uploaded file's name), in one of two states:

- ``in_flight``: written and COMMITTED before the upload starts. Found on a rerun, it means an
  earlier run may or may not have attached the report (it crashed, or the upload failed in a way
  that leaves the server's state unknown), so the engine reconciles it by listing the study's
  reports before it uploads again.
- ``done``: the upload (or a reconcile) returned this report; a rerun skips the job and hands
  back the recorded report. A report id is recorded for at most one job (a unique index), so a
  reconcile never matches one report to two jobs.

The engine makes every client-side check of a job before it writes the job's row, so a job
the client refuses has none. Any failure after the row is written leaves it ``in_flight``: the
next run lists the study before trying again, which costs one request and never guesses wrong.

Every SQLite call runs on ONE dedicated worker thread that owns the connection, so the event loop
never blocks on disk and the connection is never shared between threads. The file is in WAL mode
with ``synchronous=FULL``: a commit survives a SIGKILL of the process (and a power cut) the moment
the call returns. Several processes may open one journal (SQLite serializes writers; the busy
timeout waits), but two runs working the same jobs at once are not supported.

Schema (version 2)::

    meta(key TEXT PRIMARY KEY, value TEXT)           -- schema_version
    jobs(job_key TEXT PRIMARY KEY,                   -- sha256 of the canonical key
         customer_id, study_uid, file_sha256, title, report_type,
         file_name, size_bytes,
         state TEXT CHECK (state IN ('in_flight', 'done')),
         report_id TEXT UNIQUE, report_json TEXT,    -- set when done
         attempts INTEGER,                           -- uploads started for this key
         started_at REAL, updated_at REAL)           -- wall-clock seconds (local clock only)

Version 1 keyed an untitled job on ``title = None``, so the same bytes under two file names were
one job (the second was skipped with the first's report). Opening a version 1 file re-keys its
rows on the effective title (the file name recorded with the row) and marks it version 2; a
file of a newer version than this SDK knows is refused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hashlib
import json
import os
import sqlite3
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from bigmind_async.errors import BigMindError

__all__ = ["JobKey", "Journal", "JournalConflictError", "JournalEntry", "JournalError"]

T = TypeVar("T")

SCHEMA_VERSION = 2
JobState = Literal["in_flight", "done"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    job_key TEXT PRIMARY KEY,
    customer_id TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    file_sha256 TEXT NOT NULL,
    title TEXT,
    report_type TEXT NOT NULL,
    file_name TEXT,
    size_bytes INTEGER,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    report_id TEXT UNIQUE,
    report_json TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    started_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_study ON jobs (customer_id, study_uid, state);
"""


class JournalError(BigMindError):
    """The journal file cannot be used (not a journal, a newer schema, unreadable, closed).

    A batch stops at this error: without its journal it cannot promise exactly-once.
    """

    default_code = "JOURNAL_ERROR"


class JournalConflictError(JournalError):
    """A report id is already recorded for another job (it is never matched to two jobs)."""

    default_code = "JOURNAL_CONFLICT"


@attrs.frozen(kw_only=True)
class JobKey:
    """What makes two jobs "the same report": the journal's and the batch's dedupe key.

    Attributes:
        customer_id: The customer.
        study_uid: The study.
        sha256: Hex SHA-256 of the file's bytes.
        title: The title the report will have: the one asked for, else the uploaded file's
            name (the server's rule; ``attach_many`` never leaves it ``None``).
        report_type: The report type's string value.
    """

    customer_id: str
    study_uid: str
    sha256: str
    title: str | None
    report_type: str

    @property
    def digest(self) -> str:
        """A stable hex id of the key (sha256 of its canonical JSON)."""
        canonical = json.dumps(
            [self.customer_id, self.study_uid, self.sha256, self.title, self.report_type],
            separators=(",", ":"),
            ensure_ascii=False,
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


@attrs.frozen(kw_only=True)
class JournalEntry:
    """One job's row in the journal.

    Attributes:
        key: The job's key.
        state: ``"in_flight"`` (an upload may have happened) or ``"done"``.
        report_id: The attached report, when done.
        report: The report as the API sent it (camelCase JSON), when done.
        file_name: The name the file was uploaded under.
        size_bytes: The file's size.
        attempts: Uploads started for this key, over every run.
        started_at: When the last upload started (local wall clock, seconds).
        updated_at: When the row last changed.
    """

    key: JobKey
    state: JobState
    report_id: str | None = None
    report: Mapping[str, Any] | None = None
    file_name: str | None = None
    size_bytes: int | None = None
    attempts: int = 0
    started_at: float = 0.0
    updated_at: float = 0.0


class Journal:
    """A batch journal on disk. Open it with ``async with Journal(path) as journal:``.

    Args:
        path: The SQLite file; created (with its directory) when missing.
        settle_seconds: How old an ``in_flight`` row left by another run must be before the engine
            reconciles it. A crashed client's last upload may still be finishing on the server
            for a moment after the crash; listing the study before it commits would miss it and
            upload the report again. The engine waits out the rest of this window (only for rows
            younger than it) before listing.
    """

    def __init__(self, path: str | os.PathLike[str], *, settle_seconds: float = 10.0) -> None:
        if settle_seconds < 0:
            raise ValueError("settle_seconds must be >= 0")
        self.path = Path(path)
        self.settle_seconds = settle_seconds
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self.run_started_at = 0.0

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> Journal:
        """Open (and create or migrate) the file; idempotent."""
        if self._executor is not None:
            return self
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="bigmind-journal"
        )
        try:
            await self._call(self._open_sync)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise
        self.run_started_at = time.time()
        return self

    async def aclose(self) -> None:
        """Let queued writes finish, close the connection and stop the worker thread."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        future = executor.submit(self._close_sync)
        try:
            await asyncio.shield(asyncio.wrap_future(future))
        finally:
            # Every write was submitted before the close, and the worker runs them in order.
            await asyncio.to_thread(executor.shutdown, True)

    async def __aenter__(self) -> Journal:
        return await self.open()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- queries and writes ----------------------------------------------------------------

    async def get(self, key: JobKey) -> JournalEntry | None:
        """The job's row, or ``None`` when the journal has never seen the key."""
        return await self._call(self._get_sync, key)

    async def mark_in_flight(
        self, key: JobKey, *, file_name: str | None, size_bytes: int | None
    ) -> None:
        """Record (and commit) that an upload of this job is about to start."""
        await self._write(self._mark_in_flight_sync, key, file_name, size_bytes)

    async def mark_done(self, key: JobKey, report_id: str, report: Mapping[str, Any]) -> None:
        """Record (and commit) the report the job ended with.

        Raises:
            JournalError: the report id is already recorded for another job.
        """
        await self._write(self._mark_done_sync, key, report_id, dict(report))

    async def forget(self, key: JobKey) -> None:
        """Remove a job that failed in a way that proves no report was created."""
        await self._write(self._forget_sync, key)

    async def done_report_ids(self, customer_id: str, study_uid: str) -> set[str]:
        """Report ids recorded as done for jobs of this study (never to be matched again)."""
        return await self._call(self._done_ids_sync, customer_id, study_uid)

    async def counts(self) -> dict[str, int]:
        """How many rows are in each state: ``{"done": n, "in_flight": m}``."""
        return await self._call(self._counts_sync)

    async def journal_mode(self) -> str:
        """SQLite's journal mode for the file (``"wal"``)."""
        return await self._call(self._pragma_sync, "journal_mode")

    # -- the worker thread's side ----------------------------------------------------------

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise JournalError(f"the journal {str(self.path)!r} is not open")
        try:
            return await asyncio.wrap_future(self._executor.submit(fn, *args))
        except sqlite3.Error as exc:
            raise JournalError(f"the journal {str(self.path)!r} failed: {exc}") from exc

    async def _write(self, fn: Callable[..., T], *args: Any) -> T:
        # A write, once asked for, happens even if the caller is cancelled meanwhile (the worker
        # runs it before the close that follows it in its queue).
        if self._executor is None:
            raise JournalError(f"the journal {str(self.path)!r} is not open")
        try:
            return await asyncio.shield(asyncio.wrap_future(self._executor.submit(fn, *args)))
        except sqlite3.Error as exc:
            raise JournalError(f"the journal {str(self.path)!r} failed: {exc}") from exc

    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError(f"the journal {str(self.path)!r} is not open")
        return self._conn

    def _open_sync(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {str(self.path)!r}: {exc}") from exc
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise JournalError(
                    f"the journal {str(self.path)!r} cannot use WAL mode (got {mode!r})"
                )
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("BEGIN IMMEDIATE")
            for statement in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                conn.execute(statement)
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
            if row is None:
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('schema_version', ?)",
                    (str(SCHEMA_VERSION),),
                )
            elif int(row[0]) > SCHEMA_VERSION:
                raise JournalError(
                    f"the journal {str(self.path)!r} has schema version {row[0]}; this SDK "
                    f"reads up to {SCHEMA_VERSION}"
                )
            elif int(row[0]) < SCHEMA_VERSION:
                _rekey_untitled(conn)
                conn.execute(
                    "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                    (str(SCHEMA_VERSION),),
                )
            conn.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(f"{str(self.path)!r} is not a usable journal: {exc}") from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _close_sync(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _get_sync(self, key: JobKey) -> JournalEntry | None:
        row = (
            self._db()
            .execute(
                "SELECT state, report_id, report_json, file_name, size_bytes, attempts, "
                "started_at, updated_at FROM jobs WHERE job_key = ?",
                (key.digest,),
            )
            .fetchone()
        )
        if row is None:
            return None
        state, report_id, report_json, file_name, size_bytes, attempts, started, updated = row
        return JournalEntry(
            key=key,
            state=state,
            report_id=report_id,
            report=json.loads(report_json) if report_json else None,
            file_name=file_name,
            size_bytes=size_bytes,
            attempts=attempts,
            started_at=started,
            updated_at=updated,
        )

    def _mark_in_flight_sync(self, key: JobKey, file_name: str | None, size: int | None) -> None:
        now = time.time()
        self._db().execute(
            "INSERT INTO jobs (job_key, customer_id, study_uid, file_sha256, title, report_type, "
            "file_name, size_bytes, state, attempts, started_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'in_flight', 1, ?, ?) "
            "ON CONFLICT (job_key) DO UPDATE SET state = 'in_flight', report_id = NULL, "
            "report_json = NULL, file_name = excluded.file_name, "
            "size_bytes = excluded.size_bytes, attempts = attempts + 1, "
            "started_at = excluded.started_at, updated_at = excluded.updated_at",
            (
                key.digest,
                key.customer_id,
                key.study_uid,
                key.sha256,
                key.title,
                key.report_type,
                file_name,
                size,
                now,
                now,
            ),
        )

    def _mark_done_sync(self, key: JobKey, report_id: str, report: dict[str, Any]) -> None:
        now = time.time()
        payload = json.dumps(report, separators=(",", ":"), default=str)
        try:
            self._db().execute(
                "INSERT INTO jobs (job_key, customer_id, study_uid, file_sha256, title, "
                "report_type, state, report_id, report_json, attempts, started_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, 'done', ?, ?, 0, ?, ?) "
                "ON CONFLICT (job_key) DO UPDATE SET state = 'done', "
                "report_id = excluded.report_id, report_json = excluded.report_json, "
                "updated_at = excluded.updated_at",
                (
                    key.digest,
                    key.customer_id,
                    key.study_uid,
                    key.sha256,
                    key.title,
                    key.report_type,
                    report_id,
                    payload,
                    now,
                    now,
                ),
            )
        except sqlite3.IntegrityError as exc:
            raise JournalConflictError(
                f"report {report_id} is already recorded for another job in {str(self.path)!r}"
            ) from exc

    def _forget_sync(self, key: JobKey) -> None:
        self._db().execute(
            "DELETE FROM jobs WHERE job_key = ? AND state = 'in_flight'", (key.digest,)
        )

    def _done_ids_sync(self, customer_id: str, study_uid: str) -> set[str]:
        rows = self._db().execute(
            "SELECT report_id FROM jobs WHERE customer_id = ? AND study_uid = ? "
            "AND state = 'done' AND report_id IS NOT NULL",
            (customer_id, study_uid),
        )
        return {row[0] for row in rows}

    def _counts_sync(self) -> dict[str, int]:
        counts = {"done": 0, "in_flight": 0}
        for state, n in self._db().execute("SELECT state, COUNT(*) FROM jobs GROUP BY state"):
            counts[state] = n
        return counts

    def _pragma_sync(self, name: str) -> str:
        if name not in {"journal_mode", "synchronous"}:
            raise ValueError(name)
        return str(self._db().execute(f"PRAGMA {name}").fetchone()[0])


def _rekey_untitled(conn: sqlite3.Connection) -> None:
    """Version 1 -> 2: key every row on the title its report has (the file name if untitled).

    A row whose file name is unknown, or whose new key another row already holds, keeps its old
    key: no job will match it, but its report id still keeps reconciles from claiming it.
    """
    rows = conn.execute(
        "SELECT job_key, customer_id, study_uid, file_sha256, title, report_type, file_name, "
        "report_json FROM jobs"
    ).fetchall()
    for job_key, customer_id, study_uid, sha256, title, report_type, name, report in rows:
        if not name and report:
            name = json.loads(report).get("fileName")
        effective = (title or "").strip() or name  # UploadFingerprint.of's rule
        if not effective:
            continue
        key = JobKey(
            customer_id=customer_id,
            study_uid=study_uid,
            sha256=sha256,
            title=effective,
            report_type=report_type,
        )
        conn.execute(
            "UPDATE OR IGNORE jobs SET job_key = ?, title = ? WHERE job_key = ?",
            (key.digest, effective, job_key),
        )
