"""``client.studies`` / ``client.reports`` (and their raw twins) for the sync client.

Each method is a typed one-line forward to the async method of the same name, run on the
client's portal; the docstrings are the async ones. No HTTP, retry, pagination or validation
code lives here: arguments are checked by the async core, on the loop, before any request.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import AsyncIterable, Callable, Generator, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from bigmind_async import (
    APIResponse,
    AsyncBigMind,
    AsyncPager,
    AsyncReports,
    AsyncReportsRaw,
    AsyncStudies,
    AsyncStudiesRaw,
    AttachJob,
    AttachOutcome,
    FileSource,
    Page,
    Report,
    ReportDownload,
    ReportType,
    Study,
    StudyDetail,
)
from bigmind_async._multipart import ProgressCallback
from bigmind_async._studies import Moment
from bigmind_sync._mirror import mirrors
from bigmind_sync._pagination import Pager

if TYPE_CHECKING:
    from bigmind_sync._client import BigMind

__all__ = ["Reports", "ReportsRaw", "Studies", "StudiesRaw"]


class _Resource:
    def __init__(self, client: BigMind) -> None:
        self._client = client

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Studies(_Resource):
    """``client.studies``: a customer's DICOM studies."""

    @mirrors(AsyncStudies.list)
    def list(
        self,
        customer_id: str,
        *,
        modality: str | None = None,
        body_part: str | None = None,
        q: str | None = None,
        indexed_from: Moment | None = None,
        indexed_to: Moment | None = None,
        page_size: int | None = None,
    ) -> Pager[Study]:
        def open_pager(c: AsyncBigMind) -> AsyncPager[Study]:
            return c.studies.list(
                customer_id,
                modality=modality,
                body_part=body_part,
                q=q,
                indexed_from=indexed_from,
                indexed_to=indexed_to,
                page_size=page_size,
            )

        # Built once now, on the loop, so bad arguments raise here as they do in async.
        first = self._client._call_sync(open_pager)
        return Pager(self._client, open_pager, page_size=first.page_size)

    @mirrors(AsyncStudies.get)
    def get(self, customer_id: str, study_uid: str) -> StudyDetail:
        return self._client._call(lambda c: c.studies.get(customer_id, study_uid))


class Reports(_Resource):
    """``client.reports``: a study's reports."""

    @mirrors(AsyncReports.attach)
    def attach(
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
        return self._client._call(
            lambda c: c.reports.attach(
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
        )

    @mirrors(AsyncReports.list)
    def list(self, customer_id: str, study_uid: str) -> builtins.list[Report]:
        return self._client._call(lambda c: c.reports.list(customer_id, study_uid))

    @mirrors(AsyncReports.get)
    def get(self, customer_id: str, report_id: str) -> ReportDownload:
        return self._client._call(lambda c: c.reports.get(customer_id, report_id))

    @mirrors(AsyncReports.download)
    def download(
        self, customer_id: str, report_id: str, destination: str | os.PathLike[str]
    ) -> Path:
        return self._client._call(lambda c: c.reports.download(customer_id, report_id, destination))

    @mirrors(AsyncReports.detach)
    def detach(self, customer_id: str, report_id: str) -> None:
        self._client._call(lambda c: c.reports.detach(customer_id, report_id))

    @mirrors(AsyncReports.attach_many)
    def attach_many(
        self,
        jobs: Iterable[AttachJob] | AsyncIterable[AttachJob],
        *,
        concurrency: int = 8,
        journal: str | os.PathLike[str] | None = None,
        on_progress: Callable[[AttachOutcome], object] | None = None,
    ) -> Generator[AttachOutcome, None, None]:
        return self._client._iterate(
            lambda c: c.reports.attach_many(
                jobs, concurrency=concurrency, journal=journal, on_progress=on_progress
            )
        )

    @mirrors(AsyncReports.attach_job)
    def attach_job(self, job: AttachJob, *, on_progress: ProgressCallback | None = None) -> Report:
        return self._client._call(lambda c: c.reports.attach_job(job, on_progress=on_progress))


class StudiesRaw(_Resource):
    """``client.with_raw_response.studies``: same calls, returning APIResponse."""

    @mirrors(AsyncStudiesRaw.list)
    def list(
        self,
        customer_id: str,
        *,
        modality: str | None = None,
        body_part: str | None = None,
        q: str | None = None,
        indexed_from: Moment | None = None,
        indexed_to: Moment | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> APIResponse[Page[Study]]:
        return self._client._call(
            lambda c: c.with_raw_response.studies.list(
                customer_id,
                modality=modality,
                body_part=body_part,
                q=q,
                indexed_from=indexed_from,
                indexed_to=indexed_to,
                page=page,
                page_size=page_size,
            )
        )

    @mirrors(AsyncStudiesRaw.get)
    def get(self, customer_id: str, study_uid: str) -> APIResponse[StudyDetail]:
        return self._client._call(lambda c: c.with_raw_response.studies.get(customer_id, study_uid))


class ReportsRaw(_Resource):
    """``client.with_raw_response.reports``: same calls, returning APIResponse."""

    @mirrors(AsyncReportsRaw.attach)
    def attach(
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
        return self._client._call(
            lambda c: c.with_raw_response.reports.attach(
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
        )

    @mirrors(AsyncReportsRaw.list)
    def list(self, customer_id: str, study_uid: str) -> APIResponse[builtins.list[Report]]:
        return self._client._call(
            lambda c: c.with_raw_response.reports.list(customer_id, study_uid)
        )

    @mirrors(AsyncReportsRaw.get)
    def get(self, customer_id: str, report_id: str) -> APIResponse[ReportDownload]:
        return self._client._call(lambda c: c.with_raw_response.reports.get(customer_id, report_id))

    @mirrors(AsyncReportsRaw.download)
    def download(
        self,
        customer_id: str,
        report_id: str,
        destination: str | os.PathLike[str],
    ) -> APIResponse[Path]:
        return self._client._call(
            lambda c: c.with_raw_response.reports.download(customer_id, report_id, destination)
        )

    @mirrors(AsyncReportsRaw.detach)
    def detach(self, customer_id: str, report_id: str) -> APIResponse[None]:
        return self._client._call(
            lambda c: c.with_raw_response.reports.detach(customer_id, report_id)
        )
