"""Argument checks made before any request: UIDs, ids, report types, file types and sizes."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bigmind_async import FileTooLargeError, InvalidReportTypeError, ReportType, ValidationError
from bigmind_async._validation import (
    check_file_kind,
    check_id,
    check_report_type,
    check_size,
    check_study_uid,
    content_kinds,
    safe_file_name,
)

BAD = {"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"}
components = st.integers(min_value=0, max_value=10**12).map(str)
valid_uids = (
    st.lists(components, min_size=1, max_size=12).map(".".join).filter(lambda u: len(u) <= 64)
)


class TestStudyUid:
    @given(valid_uids)
    def test_valid_uids_pass(self, uid: str) -> None:
        """Digits separated by single dots, up to 64 characters."""
        assert uid == check_study_uid(uid)

    @given(st.text(max_size=80))
    def test_anything_else_is_a_validation_error(self, text: str) -> None:
        """Any string is either a well-formed UID or a ValidationError naming study_uid."""
        well_formed = 0 < len(text) <= 64 and all(
            part.isascii() and part.isdigit() for part in text.split(".")
        )
        if well_formed:
            assert text == check_study_uid(text)
        else:
            with pytest.raises(ValidationError) as info:
                check_study_uid(text)
            assert (None, ["study_uid"]) == (info.value.status, info.value.fields)

    @pytest.mark.parametrize("uid", ["", "1..2", ".1", "1.", "1.2.a", "1" * 65, " 1.2", "1.2\n"])
    def test_examples(self, uid: str) -> None:
        """Empty components, letters, whitespace and length are refused."""
        with pytest.raises(ValidationError):
            check_study_uid(uid)

    def test_leading_zero_is_allowed(self) -> None:
        """The SDK does not enforce DICOM's no-leading-zero rule."""
        assert "1.02.3" == check_study_uid("1.02.3")


class TestIds:
    @given(st.text(min_size=1, max_size=40))
    def test_ids(self, text: str) -> None:
        """No slash, no whitespace or control characters, not empty."""
        bad = (
            "/" in text or "\\" in text or text in (".", "..")
            or any(c.isspace() or unicodedata.category(c) in BAD for c in text)
        )  # fmt: skip
        if bad:
            with pytest.raises(ValidationError):
                check_id(text, "report_id")
        else:
            assert text == check_id(text, "report_id")

    @pytest.mark.parametrize("value", ["", "a/b", "a b", "a\tb", "\x00", None, 5])
    def test_bad_ids_name_the_argument(self, value: object) -> None:
        """The message starts with the argument's name."""
        with pytest.raises(ValidationError) as info:
            check_id(value, "customer_id")
        assert info.value.message.startswith("customer_id")


class TestReportType:
    def test_enum_and_string(self) -> None:
        """ReportType members and their values are accepted."""
        assert [ReportType.LAB, ReportType.LAB] == [
            check_report_type(ReportType.LAB),
            check_report_type("lab"),
        ]

    @pytest.mark.parametrize("value", ["LAB", "xray", "", None, 1])
    def test_others_refused(self, value: object) -> None:
        """Anything else is a ValidationError on report_type."""
        with pytest.raises(ValidationError, match="report_type"):
            check_report_type(value)


class TestFileKind:
    @pytest.mark.parametrize(
        ("head", "name", "kind"),
        [
            (b"%PDF-1.7", "a.pdf", "pdf"),
            (b"%PDF-1.7", None, "pdf"),
            (bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00", "a.DOC", "doc"),
            (b"PK\x03\x04rest", "a.docx", "docx"),
            (b"hello", "a.TXT", "txt"),
            (b"%PDF-1.7 ascii", "a.txt", "txt"),
            ("héllo".encode(), None, "txt"),
        ],
    )
    def test_accepted(self, head: bytes, name: str | None, kind: str) -> None:
        """Content decides; an extension must be one the content qualifies for."""
        assert kind == check_file_kind(head, complete=True, file_name=name, argument="file")

    @pytest.mark.parametrize(
        ("head", "name"),
        [(b"\x89PNG\r\n", None), (b"hello", "a.pdf"), (b"%PDF-1", "a.exe"),
         (b"a\x00b", "a.txt"), (b"", "a.txt"), (b"\xff\xfe", None)],
    )  # fmt: skip
    def test_refused(self, head: bytes, name: str | None) -> None:
        """Not a report type, or an extension that disagrees: InvalidReportTypeError."""
        with pytest.raises(InvalidReportTypeError) as info:
            check_file_kind(head, complete=True, file_name=name, argument="file")
        assert info.value.status is None

    def test_multibyte_char_cut_at_the_sniff_boundary(self) -> None:
        """A UTF-8 character split by the sniff window is still text (not when complete)."""
        head = "ab€".encode()[:-1]
        assert ["txt"] == content_kinds(head, complete=False)
        assert [] == content_kinds(head, complete=True)


class TestSize:
    def test_exactly_25_mib_is_allowed(self) -> None:
        """26,214,400 bytes passes; one more is FileTooLargeError."""
        check_size(26_214_400)
        with pytest.raises(FileTooLargeError) as info:
            check_size(26_214_401)
        assert info.value.status is None


class TestSafeFileName:
    @pytest.mark.parametrize(
        ("name", "expected"),
        [("../../etc/passwd", "passwd"), ("a/b\\c.pdf", "c.pdf"), ("..", "alf_1"),
         ("x\x00y.pdf", "x_y.pdf"), (None, "alf_1")],
    )  # fmt: skip
    def test_sanitized(self, name: str | None, expected: str) -> None:
        """Never a path outside the directory."""
        assert expected == safe_file_name(name, "alf_1")
