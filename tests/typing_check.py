"""Checked by ``mypy --strict tests/typing_check.py`` (nox typecheck), never run or collected.

It uses the public API the way users write it; a change that breaks their type checking
breaks this file.
"""

from __future__ import annotations

from pathlib import Path

from bigmind_async import (
    APIResponse,
    AsyncBigMind,
    AsyncPager,
    BigMindError,
    Page,
    Report,
    ReportDownload,
    ReportType,
    StorageFullError,
    Study,
    StudyDetail,
    Timeout,
)


async def workflow(customer_id: str, path: Path) -> None:
    async with AsyncBigMind(timeout=Timeout(connect=5, total=60), max_retries=2) as client:
        pager: AsyncPager[Study] = client.studies.list(customer_id, modality="CT", page_size=50)
        async for study in pager:
            uid: str = study.study_instance_uid
            detail: StudyDetail = await client.studies.get(customer_id, uid)
            count: int | None = detail.report_count
            del count
        page: Page[Study]
        async for page in pager.pages():
            total: int | None = page.pagination.total
            del total
        try:
            report: Report = await client.reports.attach(
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
        reports: list[Report] = await client.reports.list(customer_id, "1.2.3")
        got: ReportDownload = await client.reports.get(customer_id, report.report_id)
        url: str = got.download_url
        written: Path = await client.reports.download(customer_id, report.report_id, path.parent)
        raw: APIResponse[ReportDownload] = await client.with_raw_response.reports.get(
            customer_id, report.report_id
        )
        status: int = raw.status
        await client.with_options(max_retries=0, timeout=5).reports.detach(
            customer_id, report.report_id
        )
        del reports, url, written, status
