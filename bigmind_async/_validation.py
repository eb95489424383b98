"""Checks on arguments, made before any request is sent.

Every failure is a typed error with ``status=None`` whose message names the argument:
:class:`~bigmind_async.errors.ValidationError` for ids, UIDs, ``report_type``, flags, titles
and file names (built by :func:`invalid`, so ``details`` and ``.fields`` name the argument as
the server's errors do); :class:`~bigmind_async.errors.FileTooLargeError` and
:class:`~bigmind_async.errors.InvalidReportTypeError` for report files.

The file-type rule is the server's (partner-api.md), judged on the leading bytes: PDF starts
with ``%PDF-``, DOC with the OLE2 signature, DOCX with a ZIP header, TXT is non-empty UTF-8
with no NUL. A file name with an extension must name one of those types and one the content
qualifies for; a name without one is judged by content alone. The server stays the authority
(it also checks that a DOCX's ZIP holds ``word/``).
"""

from __future__ import annotations

import codecs
import re
import unicodedata

from bigmind_async._models import ReportType
from bigmind_async.errors import FileTooLargeError, InvalidReportTypeError, ValidationError

__all__ = [
    "MAX_REPORT_BYTES",
    "MAX_UID_LENGTH",
    "MIME_TYPES",
    "SNIFF_BYTES",
    "check_bool",
    "check_file_kind",
    "check_file_name",
    "check_id",
    "check_optional_str",
    "check_report_type",
    "check_size",
    "check_study_uid",
    "check_title",
    "content_kinds",
    "extension_of",
    "invalid",
    "safe_file_name",
]

MAX_REPORT_BYTES = 26_214_400
MAX_UID_LENGTH = 64
#: Leading bytes enough to tell the types apart (and to judge UTF-8 text).
SNIFF_BYTES = 8192

MIME_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain",
}

_PDF = b"%PDF-"
_OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")
_ZIP = b"PK\x03\x04"
#: Control, format, surrogate (not encodable) and separator characters.
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp", "Zs"})
_UID = re.compile(r"[0-9]+(?:\.[0-9]+)*")


def invalid(argument: str, message: str) -> ValidationError:
    """The ValidationError for ``argument``: ``"<argument>: <message>"``, ``status=None``, and
    ``details`` naming the field (what :attr:`~bigmind_async.errors.ValidationError.fields`
    reads)."""
    return ValidationError(
        f"{argument}: {message}",
        status=None,
        details=[{"field": argument, "message": message}],
    )


def check_study_uid(value: object, argument: str = "study_uid") -> str:
    """A DICOM UID: digits and dots, at most 64 characters, no empty component."""
    if not isinstance(value, str):
        raise invalid(argument, f"must be a str, got {type(value).__name__}")
    if not value:
        raise invalid(argument, "must not be empty")
    if len(value) > MAX_UID_LENGTH:
        raise invalid(argument, f"must be at most {MAX_UID_LENGTH} characters, got {len(value)}")
    if _UID.fullmatch(value) is None:
        raise invalid(argument, "must be digits separated by single dots (e.g. 1.2.840.10008.1)")
    return value


def check_id(value: object, argument: str) -> str:
    """An id used as a path segment: non-empty, no ``/``, no whitespace or control characters."""
    if not isinstance(value, str):
        raise invalid(argument, f"must be a str, got {type(value).__name__}")
    if not value:
        raise invalid(argument, "must not be empty")
    if "/" in value or "\\" in value:
        raise invalid(argument, "must not contain a slash")
    if value in (".", ".."):
        raise invalid(argument, "must not be '.' or '..'")
    if value.isascii():  # the usual id: in ASCII, only controls are unprintable, only " " a space
        clean = value.isprintable() and " " not in value
    else:
        clean = not any(
            char.isspace() or unicodedata.category(char) in _BAD_CATEGORIES for char in value
        )
    if not clean:
        raise invalid(argument, "must not contain whitespace or control characters")
    return value


def check_report_type(value: object, argument: str = "report_type") -> ReportType:
    """A :class:`ReportType`, or its string value (``"radiology"``...)."""
    if isinstance(value, ReportType):
        return value
    if isinstance(value, str):
        try:
            return ReportType(value)
        except ValueError:
            pass
    allowed = ", ".join(member.value for member in ReportType)
    raise invalid(argument, f"must be one of {allowed}; got {value!r}")


def check_bool(value: object, argument: str) -> bool:
    """A real ``bool`` (not 0/1, not ``"false"``)."""
    if not isinstance(value, bool):
        raise invalid(argument, f"must be a bool, got {value!r}")
    return value


def check_optional_str(value: object, argument: str) -> str | None:
    """``None`` or a str."""
    if value is not None and not isinstance(value, str):
        raise invalid(argument, f"must be a str, got {type(value).__name__}")
    return value


def check_title(value: object, argument: str = "title") -> str | None:
    """``None`` or a str without line breaks or NUL (it becomes a multipart form field)."""
    title = check_optional_str(value, argument)
    if title is not None and any(c in title for c in "\r\n\x00"):
        raise invalid(argument, "must not contain line breaks or NUL")
    return title


def check_file_name(value: object, argument: str = "filename") -> str:
    """The name a report is sent under: the last component of ``value`` (after ``/`` or
    ``\\``), stripped; non-empty, without control characters. The same rule holds for a name
    given as ``filename=`` and one taken from a path or a file object's ``name``."""
    if not isinstance(value, str):
        raise invalid(argument, f"must be a str, got {type(value).__name__}")
    base = re.split(r"[/\\]", value)[-1].strip()
    if not base:
        raise invalid(argument, "must be a non-empty file name")
    if any(unicodedata.category(c) == "Cc" for c in base):
        raise invalid(argument, f"the file name {base!r} contains control characters")
    return base


def check_size(size: int, argument: str = "file") -> None:
    """At most 26,214,400 bytes (exactly 25 MiB is allowed)."""
    if size > MAX_REPORT_BYTES:
        raise FileTooLargeError(
            f"{argument}: {size} bytes is over the {MAX_REPORT_BYTES} byte (25 MiB) limit",
            status=None,
            details={"sizeBytes": size, "maxBytes": MAX_REPORT_BYTES},
        )


def content_kinds(head: bytes, *, complete: bool) -> list[str]:
    """Every type the leading bytes qualify for, in the server's order (pdf, doc, docx, txt):
    the first is the type of a file whose name has no extension.

    ``complete`` says ``head`` is the whole file; otherwise a multi-byte UTF-8 character cut at
    the end of ``head`` does not disqualify it as text.
    """
    kinds: list[str] = []
    if head.startswith(_PDF):
        kinds.append("pdf")
    if head.startswith(_OLE2):
        kinds.append("doc")
    if head.startswith(_ZIP):
        kinds.append("docx")
    if head and b"\x00" not in head:
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            decoder.decode(head, final=complete)
        except UnicodeDecodeError:
            pass
        else:
            kinds.append("txt")
    return kinds


def extension_of(file_name: str) -> str | None:
    """The lowercased extension (``"pdf"``), ``""`` for ``name.`` or None when there is none."""
    stem, dot, ext = file_name.rpartition(".")
    if not dot or not stem:
        return None
    return ext.lower()


def check_file_kind(head: bytes, *, complete: bool, file_name: str | None, argument: str) -> str:
    """The report's type from its leading bytes and name; InvalidReportTypeError when wrong."""
    if complete and not head:
        raise InvalidReportTypeError(f"{argument}: the file is empty", status=None)
    kinds = content_kinds(head, complete=complete)
    if not kinds:
        raise InvalidReportTypeError(
            f"{argument}: the content is not a PDF, DOC, DOCX or TXT file (judged by its "
            "leading bytes)",
            status=None,
        )
    ext = extension_of(file_name) if file_name else None
    if ext is None:
        return kinds[0]
    if ext not in MIME_TYPES:
        raise InvalidReportTypeError(
            f"{argument}: the file name {file_name!r} has extension .{ext}; a report must be "
            ".pdf, .doc, .docx or .txt",
            status=None,
        )
    if ext not in kinds:
        raise InvalidReportTypeError(
            f"{argument}: the file name {file_name!r} says .{ext} but the content is "
            f"{' or '.join(kinds).upper()}",
            status=None,
        )
    return ext


_UNSAFE_NAME_CHARS = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]')


def safe_file_name(name: str | None, fallback: str) -> str:
    """A file name safe to create in a directory: no separators, no control characters."""
    base = re.split(r"[/\\]", name or "")[-1]
    cleaned = _UNSAFE_NAME_CHARS.sub("_", base).strip().strip(".")
    if not cleaned or cleaned in (".", ".."):
        cleaned = _UNSAFE_NAME_CHARS.sub("_", fallback) or "report"
    return cleaned[:255]
