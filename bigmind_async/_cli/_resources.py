"""``bigmind studies list|get`` and ``bigmind reports attach|list|get|download|detach``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from bigmind_async._cli._app import CliState, run_async
from bigmind_async._cli._output import (
    human_size,
    report_detail_table,
    report_table,
    study_detail_table,
    study_table,
    to_wire,
)
from bigmind_async._models import Report, ReportDownload, ReportType, Study, StudyDetail
from bigmind_async._multipart import sha256_of

__all__ = ["reports", "studies"]

_REPORT_TYPES = click.Choice([member.value for member in ReportType], case_sensitive=False)
_FILE = click.Path(exists=True, dir_okay=False, readable=True, path_type=Path)


def _state() -> CliState:
    state = click.get_current_context().find_object(CliState)
    assert state is not None
    return state


# -- studies -------------------------------------------------------------------------------


@click.group()
def studies() -> None:
    """Find a customer's DICOM studies."""


@studies.command("list")
@click.argument("customer_id")
@click.option("--modality", help="e.g. CT, MR, CR.")
@click.option("--body-part", help="e.g. CHEST, HEAD.")
@click.option("-q", "--query", "q", help="Free text over patient name, patient id, description.")
@click.option(
    "--from", "indexed_from", type=click.DateTime(), help="Indexed at or after (ISO 8601)."
)
@click.option("--to", "indexed_to", type=click.DateTime(), help="Indexed at or before (ISO 8601).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=50,
    show_default=True,
    help="Show at most this many studies.",
)
@click.option("--all", "show_all", is_flag=True, help="Every matching study (overrides --limit).")
def studies_list(
    customer_id: str,
    modality: str | None,
    body_part: str | None,
    q: str | None,
    indexed_from: datetime | None,
    indexed_to: datetime | None,
    limit: int,
    show_all: bool,
) -> None:
    """List CUSTOMER_ID's studies, most recently indexed first."""
    state = _state()

    async def go() -> list[Study]:
        found: list[Study] = []
        async with state.client() as client:
            pager = client.studies.list(
                customer_id,
                modality=modality,
                body_part=body_part,
                q=q,
                indexed_from=indexed_from,
                indexed_to=indexed_to,
                page_size=None if show_all else min(limit, 200),
            )
            async for study in pager:
                found.append(study)
                if not show_all and len(found) >= limit:
                    break
        return found

    found = run_async(go())
    if state.json:
        state.print_json(to_wire(found))
        return
    if not found:
        state.out.print("No studies match.")
        return
    state.out.print(study_table(found, title=f"Studies of {customer_id}"))
    more = "" if show_all or len(found) < limit else " (more may match: --all or --limit)"
    state.out.print(f"{len(found)} studies{more}")


@studies.command("get")
@click.argument("customer_id")
@click.argument("study_uid")
def studies_get(customer_id: str, study_uid: str) -> None:
    """Show one study, its AI Lens entity and its report count."""
    state = _state()

    async def go() -> StudyDetail:
        async with state.client() as client:
            return await client.studies.get(customer_id, study_uid)

    detail = run_async(go())
    if state.json:
        state.print_json(to_wire(detail))
    else:
        state.out.print(study_detail_table(detail))


# -- reports -------------------------------------------------------------------------------


@click.group()
def reports() -> None:
    """Attach, list, fetch, download and detach a study's reports."""


@reports.command("attach")
@click.argument("customer_id")
@click.argument("study_uid")
@click.argument("file", type=_FILE)
@click.option("--title", help="The report's title [default: the file name].")
@click.option(
    "--type",
    "report_type",
    type=_REPORT_TYPES,
    default="other",
    show_default=True,
    help="The report type.",
)
@click.option("--primary", "is_primary", is_flag=True, help="Make it the study's primary report.")
@click.option("--silent", is_flag=True, help="Skip the AI Lens timeline comment.")
def reports_attach(
    customer_id: str,
    study_uid: str,
    file: Path,
    title: str | None,
    report_type: str,
    is_primary: bool,
    silent: bool,
) -> None:
    """Attach FILE (PDF, DOC, DOCX or TXT, at most 25 MiB) to a study."""
    state = _state()

    async def go() -> Report:
        async with state.client() as client:
            return await client.reports.attach(
                customer_id,
                study_uid,
                file,
                title=title,
                report_type=report_type.lower(),
                is_primary=is_primary,
                silent=silent,
            )

    report = run_async(go())
    if state.json:
        state.print_json(to_wire(report))
        return
    state.out.print(f"[green]Attached[/] {report.report_id}")
    state.out.print(report_detail_table(report))


@reports.command("list")
@click.argument("customer_id")
@click.argument("study_uid")
def reports_list(customer_id: str, study_uid: str) -> None:
    """List the reports attached to a study (partner- and user-uploaded)."""
    state = _state()

    async def go() -> list[Report]:
        async with state.client() as client:
            return list(await client.reports.list(customer_id, study_uid))

    found = run_async(go())
    if state.json:
        state.print_json(to_wire(found))
        return
    if not found:
        state.out.print("No reports attached.")
        return
    state.out.print(report_table(found, title=f"Reports of {study_uid}"))


@reports.command("get")
@click.argument("customer_id")
@click.argument("report_id")
def reports_get(customer_id: str, report_id: str) -> None:
    """Show a report and a fresh presigned download URL (valid 5 minutes)."""
    state = _state()

    async def go() -> ReportDownload:
        async with state.client() as client:
            return await client.reports.get(customer_id, report_id)

    report = run_async(go())
    if state.json:
        state.print_json(to_wire(report))
    else:
        state.out.print(report_detail_table(report))


@reports.command("download")
@click.argument("customer_id")
@click.argument("report_id")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="File or directory to write [default: the report's file name, here].",
)
def reports_download(customer_id: str, report_id: str, output: Path | None) -> None:
    """Download a report's bytes through its presigned URL."""
    state = _state()

    async def go() -> Path:
        async with state.client() as client:
            written = await client.reports.download(
                customer_id, report_id, output if output is not None else Path.cwd()
            )
            return Path(written)

    written = run_async(go())
    with written.open("rb") as handle:
        digest = sha256_of(handle)
        size = handle.tell()
    if state.json:
        state.print_json({"reportId": report_id, "path": str(written), "sizeBytes": size,
                          "sha256": digest})  # fmt: skip
        return
    state.out.print(f"[green]Downloaded[/] {report_id} to {written} ({human_size(size)})")
    state.out.print(f"sha256 {digest}")


@reports.command("detach")
@click.argument("customer_id")
@click.argument("report_id")
def reports_detach(customer_id: str, report_id: str) -> None:
    """Detach a report this partner attached (a user-uploaded one is FORBIDDEN)."""
    state = _state()

    async def go() -> None:
        async with state.client() as client:
            await client.reports.detach(customer_id, report_id)

    run_async(go())
    if state.json:
        state.print_json({"reportId": report_id, "detached": True})
    else:
        state.out.print(f"[green]Detached[/] {report_id}")
