"""How the CLI shows models: rich tables for people, the API's camelCase JSON for ``--json``."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any

from rich.table import Table

from bigmind_async._models import Report, ReportDownload, Study, StudyDetail
from bigmind_async._serialization import make_converter

__all__ = [
    "human_size",
    "report_detail_table",
    "report_table",
    "study_detail_table",
    "study_table",
    "to_wire",
]


def to_wire(value: Any) -> Any:
    """A model (or a list of them) as the API's JSON: camelCase keys, ISO 8601 timestamps.

    The converter is made for the call (a command prints once), by the factory every client
    uses: there is no module-level converter.
    """
    return make_converter().unstructure(value)


def human_size(size: int | None) -> str:
    """``48213`` -> ``47.1 KiB``."""
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover - the loop always returns


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S %Z").strip()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def study_table(
    studies: Iterable[Study], *, title: str | None = None, compact: bool = False
) -> Table:
    """Studies as a table: UID, patient, description, date, modality, body part, indexed,
    reports (``compact`` leaves out the date and the report count)."""
    table = Table(title=title, title_justify="left")
    table.add_column("Study UID", overflow="fold", style="cyan", no_wrap=True)
    table.add_column("Patient")
    table.add_column("Description")
    if not compact:
        table.add_column("Date")
    table.add_column("Mod.")
    table.add_column("Body part")
    table.add_column("Indexed")
    if not compact:
        table.add_column("Reports", justify="right")
    for study in studies:
        cells = [
            study.study_instance_uid,
            _text(study.patient_name),
            _text(study.study_description),
            _text(study.study_date),
            _text(study.modality),
            _text(study.body_part),
            "yes" if study.is_indexed else "[yellow]not yet[/]",
            _text(study.report_count),
        ]
        if compact:
            del cells[7], cells[3]
        table.add_row(*cells)
    return table


def study_detail_table(detail: StudyDetail) -> Table:
    """One study and its entity as a two-column table."""
    study = detail.study
    table = Table(show_header=False, title="Study", title_justify="left")
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    rows = [
        ("Study UID", study.study_instance_uid),
        ("Patient", f"{_text(study.patient_name)} ({_text(study.patient_id)})"),
        ("Description", _text(study.study_description)),
        ("Study date", _text(study.study_date)),
        ("Modality / body part", f"{_text(study.modality)} / {_text(study.body_part)}"),
        ("Indexed at", _text(study.indexed_at)),
        ("Entity", _text(detail.entity.id if detail.entity else None)),
        ("Reports", _text(detail.report_count)),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def report_table(reports: Iterable[Report], *, title: str | None = None) -> Table:
    """Reports as a table: id, title, type, file, size, attached by, created."""
    table = Table(title=title, title_justify="left")
    table.add_column("Report id", overflow="fold", style="cyan", no_wrap=True)
    table.add_column("Title", overflow="fold")
    table.add_column("Type")
    table.add_column("File", overflow="fold")
    table.add_column("Size", justify="right")
    table.add_column("Primary")
    table.add_column("Attached by")
    table.add_column("Created")
    for report in reports:
        table.add_row(
            report.report_id,
            _text(report.title),
            _text(report.report_type),
            _text(report.file_name),
            human_size(report.size_bytes),
            "yes" if report.is_primary else "",
            report.attached_by_partner_key_id or "[dim]user[/]",
            _text(report.created_at),
        )
    return table


def report_detail_table(report: Report) -> Table:
    """One report (and its download URL, for a ``ReportDownload``) as a two-column table."""
    table = Table(show_header=False, title="Report", title_justify="left")
    table.add_column("Field", style="bold")
    table.add_column("Value", overflow="fold")
    rows: list[tuple[str, str]] = [
        ("Report id", report.report_id),
        ("Study UID", _text(report.study_instance_uid)),
        ("Title", _text(report.title)),
        ("Type", _text(report.report_type)),
        ("File", f"{_text(report.file_name)} ({_text(report.mime_type)})"),
        ("Size", f"{human_size(report.size_bytes)} ({_text(report.size_bytes)} bytes)"),
        ("SHA-256", _text(report.sha256)),
        ("Primary", "yes" if report.is_primary else "no"),
        ("Attached by", report.attached_by_partner_key_id or "a user (not detachable)"),
        ("Created", _text(report.created_at)),
    ]
    if isinstance(report, ReportDownload):
        rows.append(("Download URL", report.download_url))
        rows.append(("URL expires", _text(report.expires_at)))
    for name, value in rows:
        table.add_row(name, value)
    return table
