"""``client.reports``: attach, list, get, download and detach a study's reports.

Attach is the one call the server cannot make idempotent (there is no idempotency key). The
rule (sdk-design.md): it is retried blindly only when no report can have been created (a 429,
or a body that never fully went out); after an ambiguous failure (a timeout, a reset, a 5xx
after the whole body was sent) :func:`reconcile_attach` lists the study's reports first and
returns the one this upload created, if it is there, instead of attaching it twice. The match
(:func:`find_attached_match`) uses file name, size, title, type and sha256 (when the server
gives one), never timestamps, and skips reports this client already returned.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterable, AsyncIterator, Callable, Collection, Iterable
from pathlib import Path

import aiofiles.os
import attrs

from bigmind_async._core import Core, Resource
from bigmind_async._download import DownloadURLExpired, stream_to_file
from bigmind_async._models import (
    AttachJob,
    AttachOutcome,
    FileSource,
    Report,
    ReportDownload,
    ReportType,
)
from bigmind_async._multipart import MultipartBody, ProgressCallback, Upload, prepare_upload
from bigmind_async._response import APIResponse
from bigmind_async._transport import Answer, CallOptions, Deadline, Transport, path_for
from bigmind_async._validation import (
    check_bool,
    check_id,
    check_report_type,
    check_study_uid,
    check_title,
    invalid,
    safe_file_name,
)
from bigmind_async.errors import InvalidResponseError

__all__ = [
    "AsyncReports",
    "AsyncReportsRaw",
    "UploadFingerprint",
    "find_attached_match",
    "reconcile_attach",
]

#: Refetch the download URL when less than this many seconds of its lifetime are left.
_EXPIRY_MARGIN = 5.0


@attrs.frozen(kw_only=True)
class UploadFingerprint:
    """What an attached report must look like to be the one an upload created.

    Attributes:
        file_name: The name sent (the server keeps its last path component).
        size: Bytes sent.
        title: The title the server will have stored (the file name when none was given).
        report_type: The type sent.
        sha256: The file's digest, when known.
    """

    file_name: str
    size: int
    title: str
    report_type: str
    sha256: str | None = None

    @classmethod
    def of(cls, upload: Upload, *, title: str | None, report_type: ReportType) -> UploadFingerprint:
        """The fingerprint of ``upload`` sent with ``title`` and ``report_type``."""
        return cls(
            file_name=upload.file_name,
            size=upload.size,
            title=(title or "").strip() or upload.file_name,
            report_type=report_type.value,
            sha256=upload.sha256,
        )


def find_attached_match(
    reports: Iterable[Report],
    fingerprint: UploadFingerprint,
    *,
    exclude: Collection[str] = (),
    own_key_ids: Collection[str] = (),
) -> Report | None:
    """The report among ``reports`` that ``fingerprint``'s upload created, or None.

    A candidate was attached through the Partner API (by one of ``own_key_ids`` when this
    client knows its key id), is not in ``exclude`` (reports already returned to another call),
    and has the same file name, size, title and type, and the same sha256 when both sides know
    it. Among several, the one the server lists last (the newest, by the server's own order,
    never by comparing clocks) wins.
    """
    found: Report | None = None
    for report in reports:
        key_id = report.attached_by_partner_key_id
        if key_id is None or (own_key_ids and key_id not in own_key_ids):
            continue
        if report.report_id in exclude:
            continue
        report_type = report.report_type
        type_value = report_type.value if isinstance(report_type, ReportType) else report_type
        if (
            report.file_name != fingerprint.file_name
            or report.size_bytes != fingerprint.size
            or (report.title or "") != fingerprint.title
            or (type_value or ReportType.OTHER.value) != fingerprint.report_type
        ):
            continue
        if (
            fingerprint.sha256 is not None
            and report.sha256 is not None
            and report.sha256.lower() != fingerprint.sha256.lower()
        ):
            continue
        found = report
    return found


async def list_reports(
    core: Core, customer_id: str, study_uid: str, options: CallOptions, deadline: Deadline | None
) -> tuple[Answer, list[Report]]:
    """GET the study's reports (through the client's limiter and retries)."""
    path = path_for("customers", customer_id, "dicom-studies", study_uid, "reports")
    answer = await core.transport.request("GET", path, options=options, deadline=deadline)
    data = answer.data
    if not isinstance(data, dict):
        raise InvalidResponseError(
            "list reports: data is not an object",
            status=answer.status,
            request_id=answer.request_id,
        )
    return answer, core.structure(data.get("reports", []), list[Report], answer)


async def reconcile_attach(
    core: Core,
    customer_id: str,
    study_uid: str,
    fingerprint: UploadFingerprint,
    options: CallOptions,
    deadline: Deadline | None = None,
) -> Report | None:
    """After an ambiguous attach failure: the report it created, if the server has it.

    Lists the study's reports (one budgeted request, retried like any GET) and claims the match
    for this call, so no other call of this client can return it too.
    """
    _, reports = await list_reports(core, customer_id, study_uid, options, deadline)
    match = find_attached_match(
        reports, fingerprint, exclude=core.returned_report_ids, own_key_ids=core.own_key_ids
    )
    if match is not None:
        core.returned_report_ids.add(match.report_id)  # no await since the check: atomic
    return match


def _bool(value: object, argument: str) -> str:
    """``value`` checked as a bool, as the form field's ``"true"`` / ``"false"``."""
    return "true" if check_bool(value, argument) else "false"


class AsyncReportsRaw(Resource):
    """``client.with_raw_response.reports``: same calls, returning APIResponse."""

    async def attach(
        self,
        customer_id: str,
        study_uid: str,
        file: FileSource,
        *,
        title: str | None = None,
        report_type: ReportType | str = ReportType.OTHER,
        is_primary: bool = False,
        silent: bool = False,
        filename: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> APIResponse[Report]:
        """Attach a report; see :meth:`AsyncReports.attach`."""
        check_id(customer_id, "customer_id")
        check_study_uid(study_uid)
        kind = check_report_type(report_type)
        fields: list[tuple[str, str]] = []
        clean_title = check_title(title)
        if clean_title is not None and clean_title.strip():
            fields.append(("title", clean_title))
        fields.append(("reportType", kind.value))
        fields.append(("isPrimary", _bool(is_primary, "is_primary")))
        fields.append(("silent", _bool(silent, "silent")))
        if on_progress is not None and not callable(on_progress):
            raise invalid("on_progress", "must be callable")
        upload = await prepare_upload(file, filename=filename)
        body = MultipartBody(upload, fields, on_progress=on_progress)
        core = self._core
        options = self._options

        async def reconcile(deadline: Deadline) -> Report | None:
            await upload.digest()  # hashed only now: a clean upload never pays for it
            fingerprint = UploadFingerprint.of(upload, title=clean_title, report_type=kind)
            return await reconcile_attach(
                core, customer_id, study_uid, fingerprint, options, deadline
            )

        path = path_for("customers", customer_id, "dicom-studies", study_uid, "reports")
        answer = await core.transport.request(
            "POST", path, options=options, body=body, reconcile=reconcile
        )
        if answer.reconciled:
            report = answer.data
        else:
            report = core.structure(answer.data, Report, answer)
            core.returned_report_ids.add(report.report_id)
        if report.attached_by_partner_key_id:
            core.own_key_ids.add(report.attached_by_partner_key_id)
        return answer.to_response(report, "POST", path)

    async def list(self, customer_id: str, study_uid: str) -> APIResponse[list[Report]]:
        """The study's reports; see :meth:`AsyncReports.list`."""
        check_id(customer_id, "customer_id")
        check_study_uid(study_uid)
        answer, reports = await list_reports(
            self._core, customer_id, study_uid, self._options, None
        )
        path = path_for("customers", customer_id, "dicom-studies", study_uid, "reports")
        return answer.to_response(reports, "GET", path)

    async def get(self, customer_id: str, report_id: str) -> APIResponse[ReportDownload]:
        """A report with a fresh download URL; see :meth:`AsyncReports.get`."""
        check_id(customer_id, "customer_id")
        check_id(report_id, "report_id")
        return await self._get(customer_id, report_id, None)

    async def _get(
        self, customer_id: str, report_id: str, deadline: Deadline | None
    ) -> APIResponse[ReportDownload]:
        """:meth:`get` within ``deadline`` (``None``: a deadline of its own)."""
        path = path_for("customers", customer_id, "reports", report_id)
        answer = await self._core.transport.request(
            "GET", path, options=self._options, deadline=deadline
        )
        report = self._core.structure(answer.data, ReportDownload, answer)
        return answer.to_response(report, "GET", path)

    async def download(
        self,
        customer_id: str,
        report_id: str,
        destination: str | os.PathLike[str],
    ) -> APIResponse[Path]:
        """Download a report; the metadata is that of the API's ``get`` answer."""
        check_id(customer_id, "customer_id")
        check_id(report_id, "report_id")
        if not isinstance(destination, (str, os.PathLike)):
            raise invalid("destination", f"must be a path, got {type(destination).__name__}")
        dest = Path(destination)
        is_dir = await aiofiles.os.path.isdir(dest)
        if not is_dir and not await aiofiles.os.path.isdir(dest.parent):
            raise invalid("destination", f"the directory {dest.parent} does not exist")
        transport: Transport = self._core.transport
        deadline = Deadline(self._options.timeout.total)  # the API calls and the fetch share it
        info = await self._get(customer_id, report_id, deadline)
        refetched = False
        while True:
            report = info.parsed
            if report.is_expired(margin=_EXPIRY_MARGIN) and not refetched:
                refetched = True
                info = await self._get(customer_id, report_id, deadline)
                continue
            target = (
                dest / safe_file_name(report.file_name, fallback=report.report_id)
                if is_dir
                else dest
            )
            session = await transport.session()
            try:
                await stream_to_file(
                    session,
                    report.download_url,
                    target,
                    timeout=self._options.timeout,
                    deadline=deadline,
                    policy=self._options.retry,
                    expected_size=report.size_bytes,
                    expected_sha256=report.sha256,
                )
            except DownloadURLExpired:
                if refetched:
                    raise InvalidResponseError(
                        "the presigned download URL was refused (403) twice, even fresh",
                        status=403,
                    ) from None
                refetched = True
                info = await self._get(customer_id, report_id, deadline)
                continue
            return info.with_parsed(target)

    async def detach(self, customer_id: str, report_id: str) -> APIResponse[None]:
        """Detach a report; see :meth:`AsyncReports.detach`."""
        check_id(customer_id, "customer_id")
        check_id(report_id, "report_id")
        path = path_for("customers", customer_id, "reports", report_id)
        answer = await self._core.transport.request(
            "DELETE",
            path,
            options=self._options,
            ok_on_retry_codes=frozenset({"REPORT_NOT_FOUND"}),
        )
        return answer.to_response(None, "DELETE", path)


class AsyncReports(Resource):
    """``client.reports``: a study's reports."""

    def __init__(self, core: Core, options: CallOptions) -> None:
        super().__init__(core, options)
        self._raw = AsyncReportsRaw(core, options)

    async def attach(
        self,
        customer_id: str,
        study_uid: str,
        file: FileSource,
        *,
        title: str | None = None,
        report_type: ReportType | str = ReportType.OTHER,
        is_primary: bool = False,
        silent: bool = False,
        filename: str | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Report:
        """Attach a report file to an indexed study; returns the stored :class:`Report`.

        ``file`` is a path, bytes or a binary file object (read in chunks, never whole for a
        path; a file object is rewound to where it stood for each attempt). Its type is
        decided by its leading bytes (PDF, DOC, DOCX, TXT) and must agree with the file
        name's extension. ``filename`` overrides the name sent (default: the path's name, a
        file object's ``name``, else ``report.<type>``); ``title`` defaults, on the server, to
        the file name. ``on_progress(bytes_sent, total)`` is called as the file's bytes go out
        (from 0 again if an attempt is retried).

        Never attaches twice by itself: after an ambiguous failure it first looks for the
        report among the study's reports (see the module docs).

        Raises, before any request: ValidationError (ids, UID, report_type, missing file),
        FileTooLargeError (over 26,214,400 bytes), InvalidReportTypeError (content or
        extension). From the server: StudyNotFoundError (unknown or not indexed),
        StorageFullError (``.storage``), and the rest of the tree.
        """
        response = await self._raw.attach(
            customer_id,
            study_uid,
            file,
            title=title,
            report_type=report_type,
            is_primary=is_primary,
            silent=silent,
            filename=filename,
            on_progress=on_progress,
        )
        return response.parsed

    async def list(self, customer_id: str, study_uid: str) -> list[Report]:
        """The study's reports, partner- and user-uploaded (``attached_by_partner_key_id`` is
        None for the latter)."""
        return (await self._raw.list(customer_id, study_uid)).parsed

    async def get(self, customer_id: str, report_id: str) -> ReportDownload:
        """A report's metadata with a presigned ``download_url`` valid for a few minutes
        (``expires_at``; fetch it without the API key, or just use :meth:`download`)."""
        return (await self._raw.get(customer_id, report_id)).parsed

    async def download(
        self, customer_id: str, report_id: str, destination: str | os.PathLike[str]
    ) -> Path:
        """Stream a report to ``destination`` and return the path written.

        ``destination`` is a directory (the report's file name, sanitized, is used) or a file
        path (replaced). The bytes stream to a temp file that is renamed into place once the
        size and sha256 (when the API gives them) check out. The presigned URL gets no API key
        and costs no rate budget; an expired URL is replaced by a fresh one, once.
        """
        return (await self._raw.download(customer_id, report_id, destination)).parsed

    async def detach(self, customer_id: str, report_id: str) -> None:
        """Detach (delete) a report this partner attached.

        A user-uploaded report gives ForbiddenError. Safe to retry: a REPORT_NOT_FOUND on a
        retry means the first attempt already detached it, and is success.
        """
        await self._raw.detach(customer_id, report_id)

    def attach_many(
        self,
        jobs: Iterable[AttachJob] | AsyncIterable[AttachJob],
        *,
        concurrency: int = 8,
        journal: str | os.PathLike[str] | None = None,
        on_progress: Callable[[AttachOutcome], object] | None = None,
    ) -> AsyncIterator[AttachOutcome]:
        """Attach many reports concurrently; an async iterator of :class:`AttachOutcome`.

        ``jobs`` (an iterable or async iterable of :class:`AttachJob`) is pulled lazily; at
        most ``concurrency`` jobs run at once and outcomes come in the order jobs finish. One
        failed job never stops the others; a fatal error (bad key...) stops the batch with an
        outcome for every job left. All requests share this client's rate limit and retries.
        With ``journal`` (an SQLite file path) a rerun skips the jobs already attached, and a
        crash at any moment followed by a rerun attaches every job exactly once.
        ``on_progress(outcome)`` is called as each job ends. Close the iterator
        (``aclose()``) to stop early: running jobs are cancelled and awaited.
        """
        from bigmind_async._batch import attach_many  # _batch imports this module

        return attach_many(
            self, jobs, concurrency=concurrency, journal=journal, on_progress=on_progress
        )

    async def attach_job(
        self, job: AttachJob, *, on_progress: ProgressCallback | None = None
    ) -> Report:
        """Attach one :class:`AttachJob` (the unit ``attach_many`` runs)."""
        return await self.attach(
            job.customer_id,
            job.study_uid,
            job.file,
            title=job.title,
            report_type=job.report_type,
            is_primary=job.is_primary,
            silent=job.silent,
            filename=job.filename,
            on_progress=on_progress,
        )
