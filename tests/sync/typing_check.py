"""Checked by ``mypy --strict tests/sync/typing_check.py``, never run or collected.

The sync facade used the way users write it: plain values, ``Pager[Study]``, plain iterators.
"""

from __future__ import annotations

from pathlib import Path

from bigmind_sync import (
    APIResponse,
    AttachJob,
    AttachOutcome,
    BigMind,
    BigMindError,
    Page,
    Pager,
    Report,
    ReportDownload,
    ReportType,
    StorageFullError,
    Study,
    StudyDetail,
    Timeout,
)


def workflow(customer_id: str, path: Path) -> None:
    with BigMind(timeout=Timeout(connect=5, total=60), max_retries=2) as client:
        pager: Pager[Study] = client.studies.list(customer_id, modality="CT", page_size=50)
        for study in pager:
            uid: str = study.study_instance_uid
            detail: StudyDetail = client.studies.get(customer_id, uid)
            count: int | None = detail.report_count
            del count
        page: Page[Study]
        for page in pager.pages():
            total: int | None = page.pagination.total
            del total
        everything: list[Study] = pager.to_list()
        try:
            report: Report = client.reports.attach(
                customer_id, "1.2.3", path, title="CT", report_type=ReportType.RADIOLOGY,
                on_progress=lambda sent, total: None,
            )  # fmt: skip
        except StorageFullError as exc:
            quota = exc.storage.quota_gb if exc.storage else None
            del quota
            return
        except BigMindError as exc:
            request_id: str | None = exc.request_id
            del request_id
            raise
        reports: list[Report] = client.reports.list(customer_id, "1.2.3")
        got: ReportDownload = client.reports.get(customer_id, report.report_id)
        url: str = got.download_url
        written: Path = client.reports.download(customer_id, report.report_id, path.parent)
        raw: APIResponse[ReportDownload] = client.with_raw_response.reports.get(
            customer_id, report.report_id
        )
        status: int = raw.status
        nothing: None = client.with_options(max_retries=0, timeout=5).reports.detach(
            customer_id, report.report_id
        )
        jobs = [AttachJob(customer_id=customer_id, study_uid="1.2.3", file=path)]
        outcome: AttachOutcome
        for outcome in client.reports.attach_many(jobs, concurrency=4):
            ok: bool = outcome.ok
            del ok
        del everything, reports, url, written, status, nothing
