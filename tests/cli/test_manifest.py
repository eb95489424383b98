"""Manifest reading: streamed rows, line numbers, one bad row never hides the others."""

from __future__ import annotations

from pathlib import Path

import pytest

from bigmind_async import ReportType
from bigmind_async._manifest import ManifestError, read_manifest


def _write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4\n")
    path = tmp_path / "manifest.csv"
    path.write_text(text, encoding="utf-8")
    return path


class TestRows:
    def test_valid_row_becomes_a_job(self, tmp_path: Path) -> None:
        """Every column is parsed; a relative file is resolved against the manifest's dir."""
        path = _write(
            tmp_path,
            "customer_id,study_uid,file,title,report_type,is_primary,silent\n"
            "pc_1_2,1.2.3,a.pdf,Chest CT,Radiology,yes,0\n",
        )
        (row,) = list(read_manifest(path))
        assert row.error is None
        assert row.job is not None
        assert row.line == 2
        assert row.job.file == str(tmp_path / "a.pdf")
        assert (row.job.title, row.job.report_type) == ("Chest CT", ReportType.RADIOLOGY)
        assert (row.job.is_primary, row.job.silent) == (True, False)

    def test_defaults_and_bom(self, tmp_path: Path) -> None:
        """Optional columns may be absent or empty; an Excel BOM is ignored."""
        path = _write(tmp_path, "\ufeffFile,Customer_ID,Study_UID\na.pdf,pc_1,1.2\n")
        (row,) = list(read_manifest(path))
        assert row.job is not None
        assert (row.job.title, row.job.report_type) == (None, ReportType.OTHER)

    def test_bad_rows_name_their_line_and_column(self, tmp_path: Path) -> None:
        """Each bad row is reported with its line; blank lines and quoted newlines count."""
        path = _write(
            tmp_path,
            "customer_id,study_uid,file,title\n"
            'pc_1,1.2,a.pdf,"two\nlines"\n'
            "\n"
            "pc_1,1..2,a.pdf,x\n"
            "pc/1,1.2,a.pdf,x\n"
            "pc_1,1.2,nope.pdf,x\n"
            "pc_1,1.2,a.pdf\n"
            "pc_1,1.2,a.pdf,ok\n",
        )
        rows = list(read_manifest(path))
        assert [(r.line, r.error is None) for r in rows] == [
            (2, True), (5, False), (6, False), (7, False), (8, False), (9, True),
        ]  # fmt: skip
        errors = [r.error or "" for r in rows]
        assert "study_uid" in errors[1]
        assert "customer_id" in errors[2]
        assert "nope.pdf" in errors[3]
        assert "expected 4 fields, got 3" in errors[4]
        assert rows[1].placeholder_job().study_uid == "1..2"


class TestHeader:
    @pytest.mark.parametrize(
        ("header", "message"),
        [
            ("customer_id,study_uid\n", "missing column 'file'"),
            ("customer_id,study_uid,file,notes\n", "unknown column 'notes'"),
            ("customer_id,study_uid,file,file\n", "column 'file' appears twice"),
            ("", "empty"),
        ],
    )
    def test_bad_header(self, tmp_path: Path, header: str, message: str) -> None:
        """A bad header fails the whole manifest with one message naming the column."""
        path = _write(tmp_path, header)
        with pytest.raises(ManifestError, match=message):
            list(read_manifest(path))

    def test_missing_file(self, tmp_path: Path) -> None:
        """A manifest that does not exist is a ManifestError naming it."""
        with pytest.raises(ManifestError, match=r"nothere\.csv"):
            next(read_manifest(tmp_path / "nothere.csv"))
