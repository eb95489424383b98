"""Batch manifests: a CSV of reports to attach, read lazily, one row at a time.

Columns (a header row is required; order is free; names are case-insensitive)::

    customer_id, study_uid, file, title, report_type, is_primary, silent

``customer_id``, ``study_uid`` and ``file`` are required in every row; ``title`` empty means
"the file name"; ``report_type`` empty means ``other``; ``is_primary`` and ``silent`` take
``true/false``, ``yes/no``, ``1/0`` or empty (false). A relative ``file`` is resolved against
the manifest's own directory, so a manifest and its reports can move together.

A header that is missing a required column or names an unknown one is an error for the whole
file (:class:`ManifestError`); a bad row becomes a :class:`ManifestRow` with ``error`` set and
its line number, and the rows after it are still read.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

import attrs

from bigmind_async._models import AttachJob, ReportType
from bigmind_async._validation import check_id, check_report_type, check_study_uid
from bigmind_async.errors import BigMindError

__all__ = [
    "COLUMNS",
    "REQUIRED_COLUMNS",
    "ManifestError",
    "ManifestRow",
    "count_rows",
    "read_manifest",
]

COLUMNS = ("customer_id", "study_uid", "file", "title", "report_type", "is_primary", "silent")
REQUIRED_COLUMNS = ("customer_id", "study_uid", "file")

_TRUE = frozenset({"true", "yes", "y", "1", "t"})
_FALSE = frozenset({"false", "no", "n", "0", "f", ""})


class ManifestError(Exception):
    """The manifest as a whole cannot be read (missing, not CSV, bad header)."""


@attrs.frozen(kw_only=True)
class ManifestRow:
    """One data row of a manifest.

    Attributes:
        line: The line number the row starts on (the header is line 1).
        job: The job, when the row is valid.
        error: What is wrong with the row (naming the column), when it is not.
        values: The row's cells by column name, as read.
    """

    line: int
    job: AttachJob | None = None
    error: str | None = None
    values: dict[str, str] = attrs.field(factory=dict)

    def placeholder_job(self) -> AttachJob:
        """A job carrying whatever the row had, for reporting a row that is not valid."""
        if self.job is not None:
            return self.job
        return AttachJob(
            customer_id=self.values.get("customer_id", ""),
            study_uid=self.values.get("study_uid", ""),
            file=self.values.get("file", ""),
            title=self.values.get("title") or None,
            report_type=self.values.get("report_type") or ReportType.OTHER,
        )


def _boolean(value: str, column: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{column}: expected true/false, yes/no or 1/0, got {value!r}")


def _parse_row(values: dict[str, str], base_dir: Path) -> AttachJob:
    try:
        customer_id = check_id(values.get("customer_id", "").strip(), "customer_id")
        study_uid = check_study_uid(values.get("study_uid", "").strip(), "study_uid")
        report_type = check_report_type(
            values.get("report_type", "").strip().lower() or "other", "report_type"
        )
    except BigMindError as exc:
        raise ValueError(exc.message) from None
    file_cell = values.get("file", "").strip()
    if not file_cell:
        raise ValueError("file: must not be empty")
    path = Path(os.path.expanduser(file_cell))
    if not path.is_absolute():
        path = base_dir / path
    if not path.is_file():
        raise ValueError(f"file: {file_cell!r} does not exist or is not a file")
    title = values.get("title", "").strip() or None
    return AttachJob(
        customer_id=customer_id,
        study_uid=study_uid,
        file=str(path),
        title=title,
        report_type=report_type,
        is_primary=_boolean(values.get("is_primary", ""), "is_primary"),
        silent=_boolean(values.get("silent", ""), "silent"),
    )


def _open(manifest: Path) -> TextIO:
    """The manifest as text for csv: UTF-8, an Excel BOM skipped, newlines left to csv."""
    return manifest.open(newline="", encoding="utf-8-sig")


def _blank(cells: list[str]) -> bool:
    """A blank line (or one of empty cells) is not a row."""
    return not any(cell.strip() for cell in cells)


def count_rows(path: str | os.PathLike[str]) -> int | None:
    """How many rows :func:`read_manifest` will yield (streamed; ``None`` when the file
    cannot be read as CSV: the count is only a progress bar's total)."""
    try:
        with _open(Path(path)) as handle:
            reader = csv.reader(handle)
            next(reader, None)
            return sum(1 for cells in reader if not _blank(cells))
    except (OSError, csv.Error, UnicodeDecodeError):
        return None


def read_manifest(path: str | os.PathLike[str]) -> Iterator[ManifestRow]:
    """Yield the manifest's data rows one at a time (the file is never read whole).

    Raises:
        ManifestError: the file cannot be opened, or its header is wrong (raised on the first
            ``next()``).
    """
    manifest = Path(path)
    base_dir = manifest.resolve().parent
    try:
        handle = _open(manifest)
    except OSError as exc:
        raise ManifestError(f"manifest {str(manifest)!r}: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(handle)
        try:
            header = next(reader)
        except StopIteration:
            raise ManifestError(f"manifest {str(manifest)!r} is empty (no header row)") from None
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ManifestError(f"manifest {str(manifest)!r}, line 1: {exc}") from None
        columns = [name.strip().lower() for name in header]
        unknown = [name for name in columns if name not in COLUMNS]
        if unknown:
            raise ManifestError(
                f"manifest {str(manifest)!r}, line 1: unknown column {unknown[0]!r} "
                f"(expected {', '.join(COLUMNS)})"
            )
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise ManifestError(
                f"manifest {str(manifest)!r}, line 1: missing column {missing[0]!r} "
                f"(required: {', '.join(REQUIRED_COLUMNS)})"
            )
        duplicated = sorted({name for name in columns if columns.count(name) > 1})
        if duplicated:
            raise ManifestError(
                f"manifest {str(manifest)!r}, line 1: column {duplicated[0]!r} appears twice"
            )
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except UnicodeDecodeError:
                yield ManifestRow(line=line, error="not UTF-8 text; the rest is not read")
                return
            except csv.Error as exc:
                yield ManifestRow(line=line, error=f"not valid CSV: {exc}")
                continue
            if _blank(cells):
                continue
            values = dict(zip(columns, cells, strict=False))
            if len(cells) != len(columns):
                yield ManifestRow(
                    line=line,
                    error=f"expected {len(columns)} fields, got {len(cells)}",
                    values=values,
                )
                continue
            try:
                job = _parse_row(values, base_dir)
            except ValueError as exc:
                yield ManifestRow(line=line, error=str(exc), values=values)
            else:
                yield ManifestRow(line=line, job=job, values=values)
