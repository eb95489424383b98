"""``reports.attach_many``: many attaches at bounded concurrency, resumable with a journal.

Concurrency model
    One async generator pulls jobs lazily from any iterable or async iterable (a plain
    iterator's ``next()`` runs on a worker thread, never on the loop's) and keeps at most
    ``concurrency`` of them running as tasks (so at most ``concurrency`` jobs are ever held:
    a million-row manifest streams through in constant memory). Outcomes are yielded in the
    order jobs finish. Every request goes through the client, so its rate limiter and retry
    rules apply to the whole batch: at any concurrency the batch spends the client's one budget
    and no more. Closing the generator early (``break``, ``aclose()``, cancellation) cancels
    the running jobs and waits for them before it returns.

Failures
    A job's failure is its outcome (``error`` set) and never stops the others. A *fatal* error
    (:func:`is_fatal`: the key is missing, wrong or revoked, the partner's trial expired or its
    tier forbids the call, a bad client configuration, a journal that cannot be written) stops
    the batch: no new job starts, the running ones finish, and every job not yet started gets
    an outcome whose error is of the same class, saying it was not attempted.

Identical jobs
    The job key is (customer, study, file sha256, title, report type), where the title is the
    one the report will have: the one asked for, else the uploaded file's name (so the same
    bytes under two names, untitled, are two reports). Each job's file is checked and hashed
    once, before the job does anything else (``prepare_upload`` and ``Upload.digest``: in
    chunks, on a worker thread). Two jobs with the same key are never in flight together: the
    second waits for the first (serialize). Then, with a journal, the key is the job's identity
    and the second is skipped with the first's report (``skipped=True``); without a journal
    each job is one attach, so the second attaches its own copy. Serializing twins matters
    because an ambiguous failure is resolved by listing the study, and two identical uploads in
    flight at once could not be told apart there.

Journal (``journal=path`` or a :class:`~bigmind_async._journal.Journal`)
    Every client-side check of a job runs first; then, before its upload starts, its key is
    committed as ``in_flight``; after it, ``done`` with the report. A rerun skips done jobs
    (``skipped=True``, the recorded report). A job found ``in_flight`` (an earlier run
    crashed, or its upload failed: no error is taken as proof that nothing was created) is
    reconciled first: after its settle window, the study's reports are listed and one matching
    the upload (name, size, title, type, sha256), attached by this partner and not recorded for
    another job, is taken as this job's report; only when there is none is it uploaded again.
    Report ids recorded as done are added to the client's "already returned" set before any
    upload of that study, so no reconcile (the engine's or the client's own) can match them
    twice. So a SIGKILL at any moment followed by a rerun attaches every job exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
)
from typing import IO, TYPE_CHECKING, Any, cast

import attrs

from bigmind_async import _reports  # module, not names: _reports may import this module
from bigmind_async._journal import JobKey, Journal, JournalConflictError, JournalError
from bigmind_async._models import AttachJob, AttachOutcome, FileSource, Report, ReportType
from bigmind_async._multipart import Upload, prepare_upload
from bigmind_async._validation import (
    check_bool,
    check_id,
    check_report_type,
    check_study_uid,
    check_title,
)
from bigmind_async.errors import (
    AuthenticationError,
    BigMindError,
    ConfigurationError,
    ForbiddenError,
    PermissionDeniedError,
    ValidationError,
)

if TYPE_CHECKING:
    from bigmind_async._reports import AsyncReports

__all__ = ["OnProgress", "attach_many", "is_fatal"]

#: ``on_progress(outcome)``: called once per finished job, before the outcome is yielded.
OnProgress = Callable[[AttachOutcome], object]


def is_fatal(error: BaseException | None) -> bool:
    """Whether ``error`` dooms every other job of the batch too (so the batch stops).

    Authentication errors (missing, wrong or revoked key), permission errors of the partner
    (TRIAL_EXPIRED, CANNOT_SELL; not FORBIDDEN, which is about one report), a bad client
    configuration, and a journal that cannot be written.
    """
    if isinstance(error, (AuthenticationError, ConfigurationError)):
        return True
    if isinstance(error, PermissionDeniedError):
        return not isinstance(error, ForbiddenError)
    return isinstance(error, JournalError) and not isinstance(error, JournalConflictError)


def _rewind_point(fileobj: IO[bytes]) -> int:
    """Where a file object job starts; ValidationError when it cannot be read twice."""
    seekable = getattr(fileobj, "seekable", None)
    if seekable is None or not seekable():
        raise ValidationError(
            "file: attach_many needs a path, bytes or a seekable file object (to hash it and "
            "to send it again on a retry)",
            status=None,
        )
    return fileobj.tell()


async def _prepare(job: AttachJob) -> Upload:
    """The job's file checked (:func:`prepare_upload`) and hashed (:meth:`Upload.digest`, on a
    worker thread unless small and in memory), before anything else happens to the job."""
    file = job.file
    start: int | None = None
    if hasattr(file, "read"):
        start = _rewind_point(cast("IO[bytes]", file))
    upload = await prepare_upload(file, filename=job.filename)
    await upload.digest()
    if start is not None:
        cast("IO[bytes]", file).seek(start)  # the hash read it; the attach reads it again
    return upload


#: What ``next(iterator, _END)`` returns once a job iterator is exhausted.
_END = object()


async def _aiter_jobs(
    jobs: Iterable[AttachJob] | AsyncIterable[AttachJob],
) -> AsyncGenerator[Any, None]:
    """The jobs as an async generator. A plain iterator (a generator reading a CSV, writing
    files...) is advanced on a worker thread: it may block, or call the sync client whose loop
    runs this batch, without stalling the loop. A list or tuple is read inline."""
    if isinstance(jobs, AsyncIterable):
        async for job in jobs:
            yield job
    elif isinstance(jobs, (list, tuple)):
        for job in jobs:
            yield job
    else:
        iterator: Iterator[object] = iter(jobs)
        while (item := await asyncio.to_thread(next, iterator, _END)) is not _END:
            yield item


def _check(job: AttachJob) -> ReportType:
    """The checks ``attach`` makes of a job's arguments before its request (the file's are
    :func:`prepare_upload`'s), made first: a job the client refuses never reaches the journal."""
    check_id(job.customer_id, "customer_id")
    check_study_uid(job.study_uid)
    kind = check_report_type(job.report_type)
    check_title(job.title)
    check_bool(job.is_primary, "is_primary")
    check_bool(job.silent, "silent")
    return kind


def _not_attempted(job: AttachJob, fatal: BigMindError) -> AttachOutcome:
    error = type(fatal)(
        f"not attempted: the batch stopped after a fatal error: {fatal.message}",
        code=fatal.code,
        status=fatal.status,
        details=fatal.details,
        request_id=fatal.request_id,
    )
    return AttachOutcome(job=job, error=error)


def _unexpected(exc: Exception) -> BigMindError:
    error = BigMindError(f"unexpected {type(exc).__name__}: {exc}", code="UNEXPECTED_ERROR")
    error.__cause__ = exc
    return error


class _Gate:
    """Serializes the jobs of one key (a twin finds the first's report in the journal)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class _Runner:
    """Runs one batch's jobs: the key gates, the journal, the reconcile before re-upload."""

    def __init__(self, reports: AsyncReports, journal: Journal | None) -> None:
        self.reports = reports
        self.core = reports._core
        self.options = reports._options
        self.journal = journal
        self._gates: dict[str, _Gate] = {}
        self._excluded_studies: set[tuple[str, str]] = set()

    async def run(self, job: AttachJob) -> AttachOutcome:
        """The job's outcome; never raises (except cancellation)."""
        try:
            return await self._run(job)
        except BigMindError as exc:
            return AttachOutcome(job=job, error=exc)
        except Exception as exc:  # one job's bug or OS error must not stop the batch
            return AttachOutcome(job=job, error=_unexpected(exc))

    async def _run(self, job: AttachJob) -> AttachOutcome:
        if not isinstance(job, AttachJob):
            raise ValidationError(
                f"jobs: expected AttachJob items, got {type(job).__name__}", status=None
            )
        kind = _check(job)
        upload = await _prepare(job)
        # What the report will look like: untitled, it is titled with the file name.
        fingerprint = _reports.UploadFingerprint.of(upload, title=job.title, report_type=kind)
        key = JobKey(
            customer_id=job.customer_id,
            study_uid=job.study_uid,
            sha256=await upload.digest(),  # computed by _prepare
            title=fingerprint.title,
            report_type=fingerprint.report_type,
        )
        digest = key.digest
        gate = self._gates.get(digest)
        if gate is None:
            gate = self._gates[digest] = _Gate()
        gate.users += 1
        try:
            async with gate.lock:
                # The attach sends the Upload prepared above (prepare_upload takes one as it is)
                # instead of preparing the file again; outcomes keep the job as given.
                prepared = attrs.evolve(job, file=cast("FileSource", upload))
                if self.journal is None:
                    return AttachOutcome(job=job, report=await self.reports.attach_job(prepared))
                return await self._run_journaled(job, prepared, key, fingerprint)
        finally:
            gate.users -= 1
            if gate.users == 0:
                del self._gates[digest]

    async def _run_journaled(
        self,
        job: AttachJob,
        prepared: AttachJob,
        key: JobKey,
        fingerprint: _reports.UploadFingerprint,
    ) -> AttachOutcome:
        journal = self.journal
        assert journal is not None
        await self._exclude_recorded(journal, key)
        entry = await journal.get(key)
        if entry is not None and entry.state == "done" and entry.report is not None:
            report = self.core.structure(dict(entry.report), Report)
            self.core.returned_report_ids.add(report.report_id)
            return AttachOutcome(job=job, report=report, skipped=True)
        if entry is not None and entry.state == "in_flight":
            if entry.started_at < journal.run_started_at:
                # Left by an earlier run: its last request may still be finishing server-side.
                wait = entry.started_at + journal.settle_seconds - time.time()
                if wait > 0:
                    await asyncio.sleep(min(wait, journal.settle_seconds))
            found = await _reports.reconcile_attach(
                self.core, job.customer_id, job.study_uid, fingerprint, self.options
            )
            if found is not None:
                await self._record_done(journal, key, found)
                return AttachOutcome(job=job, report=found, skipped=True)
        # Every client-side check has passed (_check, prepare_upload): whatever fails from here
        # on leaves the row in flight, and the next run lists the study before uploading.
        await journal.mark_in_flight(
            key, file_name=fingerprint.file_name, size_bytes=fingerprint.size
        )
        report = await self.reports.attach_job(prepared)
        await self._record_done(journal, key, report)
        return AttachOutcome(job=job, report=report)

    async def _record_done(self, journal: Journal, key: JobKey, report: Report) -> None:
        wire = self.core.converter.unstructure(report)
        await journal.mark_done(key, report.report_id, wire)

    async def _exclude_recorded(self, journal: Journal, key: JobKey) -> None:
        """Put the study's reports recorded as done into the client's "already returned" set."""
        study = (key.customer_id, key.study_uid)
        if study in self._excluded_studies:
            return
        recorded = await journal.done_report_ids(*study)
        self.core.returned_report_ids.update(recorded)
        self._excluded_studies.add(study)


async def attach_many(
    reports: AsyncReports,
    jobs: Iterable[AttachJob] | AsyncIterable[AttachJob],
    *,
    concurrency: int = 8,
    journal: str | os.PathLike[str] | Journal | None = None,
    on_progress: OnProgress | None = None,
) -> AsyncIterator[AttachOutcome]:
    """Attach ``jobs`` through ``reports`` (a client's ``reports`` resource); see module docs.

    Args:
        reports: ``client.reports`` of the client whose session, limiter and retries to use.
        jobs: :class:`AttachJob` items, from an iterable or an async iterable, pulled lazily.
        concurrency: Jobs in flight at once (>= 1).
        journal: A SQLite file path (opened and closed here) or an open :class:`Journal`.
        on_progress: Called with each outcome as its job finishes.

    Yields:
        One :class:`AttachOutcome` per job, in the order they finish.
    """
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(f"concurrency: must be an int >= 1, got {concurrency!r}", status=None)
    if on_progress is not None and not callable(on_progress):
        raise ValidationError("on_progress: must be callable", status=None)
    owned: Journal | None = None
    if journal is None or isinstance(journal, Journal):
        opened = journal
    else:
        owned = opened = Journal(journal)
    source = _aiter_jobs(jobs)
    pending: set[asyncio.Task[AttachOutcome]] = set()
    try:
        if opened is not None:
            await opened.open()
        runner = _Runner(reports, opened)
        fatal: BigMindError | None = None
        exhausted = False
        while True:
            while not exhausted and fatal is None and len(pending) < concurrency:
                try:
                    job = await anext(source)
                except StopAsyncIteration:
                    exhausted = True
                    break
                pending.add(asyncio.create_task(runner.run(job)))
            if not pending:
                break
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                outcome = task.result()
                if fatal is None and outcome.error is not None and is_fatal(outcome.error):
                    fatal = outcome.error
                if on_progress is not None:
                    on_progress(outcome)
                yield outcome
        if fatal is not None and not exhausted:
            async for job in source:
                outcome = _not_attempted(job, fatal)
                if on_progress is not None:
                    on_progress(outcome)
                yield outcome
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            await source.aclose()
        if owned is not None:
            await owned.aclose()
