"""Streaming multipart parsing of an attach request, and report type sniffing.

The ``file`` part is read chunk by chunk into a temp file the caller names (and removes when
anything fails) while it is hashed and counted; reading stops as soon as the file is over the
limit. The type is decided
by content (partner-api.md): PDF starts with ``%PDF-``, DOC with the OLE2 signature, DOCX is a
ZIP holding a ``word/`` entry, TXT is non-empty valid UTF-8 with no NUL byte. A file name with an
extension must name one of those types, and one the content qualifies for.
"""

from __future__ import annotations

import codecs
import hashlib
import re
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from aiohttp import BodyPartReader, MultipartReader, StreamReader, web

from bigmind_async.emulator._state import REPORT_TYPES
from bigmind_async.emulator._wire import ApiError, validation_error

MAX_REPORT_BYTES = 26_214_400
CHUNK_SIZE = 64 * 1024
_FIELD_MAX_BYTES = 64 * 1024

PDF_MAGIC = b"%PDF-"
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")
ZIP_MAGIC = b"PK\x03\x04"

MIME_TYPES = {
    "pdf": "application/pdf",
    "doc": "application/msword",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "txt": "text/plain",
}
#: The order a file without an extension is judged in.
_KIND_ORDER = ("pdf", "doc", "docx", "txt")
_TRUE = {"true", "1"}
_FALSE = {"false", "0"}


@dataclass
class UploadRecord:
    """How one attach request's file part arrived.

    Attributes:
        upload_id: Sequence number of the upload since the emulator started.
        route_path: The request path.
        started: ``time.monotonic()`` when the request reached the handler.
        chunks: ``(time.monotonic(), size)`` for every chunk read from the socket.
        bytes_received: File bytes read so far (the file's size once it is all read).
        finished: Whether the handler is done with this upload.
        outcome: ``"stored"`` or the error code that ended it (``None`` while running).
        report_id: The stored report's id, when stored.
    """

    upload_id: int
    route_path: str
    started: float
    chunks: list[tuple[float, int]] = field(default_factory=list)
    bytes_received: int = 0
    finished: bool = False
    outcome: str | None = None
    report_id: str | None = None


@dataclass(frozen=True)
class ReportFile:
    """What a received report file is, with the API's defaults applied (see ``classify``).

    Attributes:
        file_name: The sent name's last path component; ``report.<kind>`` when it is empty.
        kind: ``"pdf"``, ``"doc"``, ``"docx"`` or ``"txt"``.
        mime_type: The kind's MIME type.
        title: The title given, or else ``file_name``.
    """

    file_name: str
    kind: str
    mime_type: str
    title: str


@dataclass
class ParsedUpload:
    """A fully received, type-checked report file sitting in the caller's temp file."""

    file: ReportFile
    size: int
    sha256: str
    report_type: str
    is_primary: bool
    silent: bool


def base_name(file_name: str) -> str:
    """The last path component, whatever the separator (a browser may send ``C:\\x\\a.pdf``)."""
    return re.split(r"[/\\]", file_name)[-1].strip()


def extension_kind(file_name: str) -> str | None:
    """``"pdf"`` for ``a.PDF``; ``""`` for an unknown extension; ``None`` when there is none."""
    name = base_name(file_name)
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        return None
    ext = ext.lower()
    return ext if ext in MIME_TYPES else ""


class Sniffer:
    """Watches the chunks go by and says which report types the content qualifies for."""

    def __init__(self) -> None:
        self.head = b""
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text_ok = True

    def feed(self, chunk: bytes) -> None:
        if len(self.head) < 8:
            self.head = (self.head + chunk)[:8]
        if self._text_ok:
            if b"\x00" in chunk:
                self._text_ok = False
                return
            try:
                self._decoder.decode(chunk)
            except UnicodeDecodeError:
                self._text_ok = False

    def kinds(self, path: Path) -> list[str]:
        """Every type the content qualifies for, in ``_KIND_ORDER``."""
        found: list[str] = []
        if self.head.startswith(PDF_MAGIC):
            found.append("pdf")
        if self.head.startswith(OLE2_MAGIC):
            found.append("doc")
        if self.head.startswith(ZIP_MAGIC) and _zip_has_word_part(path):
            found.append("docx")
        if self._text_ok and self.head:
            try:
                self._decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                self._text_ok = False
            else:
                found.append("txt")
        return found


def _zip_has_word_part(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.startswith("word/") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def decide_kind(file_name: str, kinds: list[str]) -> str:
    """Apply the content-and-extension rule; raise INVALID_REPORT_TYPE when it fails."""
    if not kinds:
        raise ApiError(
            400,
            "INVALID_REPORT_TYPE",
            "Report must be a PDF, DOC, DOCX or TXT file",
        )
    ext = extension_kind(file_name)
    if ext is None:
        return kinds[0]
    if ext == "" or ext not in kinds:
        raise ApiError(
            400,
            "INVALID_REPORT_TYPE",
            "The file name's extension does not match the report's content",
        )
    return ext


def classify(file_name: str, title: str, sniffer: Sniffer, path: Path) -> ReportFile:
    """Decide the kind of the file at ``path`` (``decide_kind``) and fill in the defaults.

    The one place the API's naming rules live, for attach requests and the seeder alike.
    Raises ``ApiError`` INVALID_REPORT_TYPE like ``decide_kind``.
    """
    name = base_name(file_name)
    kind = decide_kind(name, sniffer.kinds(path))
    name = name or f"report.{kind}"
    return ReportFile(name, kind, MIME_TYPES[kind], title.strip() or name)


def parse_bool(value: str) -> bool | None:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


async def _read_field(part: BodyPartReader, name: str) -> str:
    data = bytearray()
    while True:
        chunk = await part.read_chunk(CHUNK_SIZE)
        if not chunk:
            break
        data.extend(chunk)
        if len(data) > _FIELD_MAX_BYTES:
            raise validation_error([(name, "is too long")])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise validation_error([(name, "must be UTF-8 text")]) from None


class _Pushback:
    """The request body stream, with its own push-back buffer.

    aiohttp's multipart reader pushes look-ahead bytes back with ``StreamReader.unread_data``,
    which warns ``DeprecationWarning`` on one of its paths (a short network read before the
    boundary check); under ``-W error`` that would crash an upload. This wrapper keeps the
    pushed-back bytes itself, so the stream's method is never called.
    """

    def __init__(self, inner: StreamReader) -> None:
        self._inner = inner
        self._pending = bytearray()

    async def read(self, n: int = -1) -> bytes:
        if self._pending:
            size = len(self._pending) if n < 0 else min(n, len(self._pending))
            data = bytes(self._pending[:size])
            del self._pending[:size]
            return data
        return await self._inner.read(n)

    async def readline(self, **kwargs: Any) -> bytes:
        if not self._pending:
            return await self._inner.readline(**kwargs)
        end = self._pending.find(b"\n")
        if end >= 0:
            line = bytes(self._pending[: end + 1])
            del self._pending[: end + 1]
            return line
        head = bytes(self._pending)
        self._pending.clear()
        return head + await self._inner.readline(**kwargs)

    def at_eof(self) -> bool:
        return not self._pending and self._inner.at_eof()

    def unread_data(self, data: bytes) -> None:
        self._pending[0:0] = data


def _check_content_type(request: web.Request) -> None:
    if request.content_type != "multipart/form-data":
        raise validation_error([("body", "must be multipart/form-data")])
    if "boundary=" not in request.headers.get("Content-Type", ""):
        raise validation_error([("body", "multipart boundary is missing")])


async def parse_attach(
    request: web.Request,
    temp_path: Path,
    record: UploadRecord,
    *,
    max_bytes: int = MAX_REPORT_BYTES,
) -> ParsedUpload:
    """Read the attach form, writing the file to ``temp_path``; raise ``ApiError`` if it fails.

    The caller owns ``temp_path``: it must remove it when this raises (the file may be there,
    whole or in part) and commit or remove it otherwise.
    """
    _check_content_type(request)
    try:
        reader = MultipartReader(request.headers, cast(StreamReader, _Pushback(request.content)))
    except (ValueError, AssertionError, KeyError):
        raise validation_error([("body", "malformed multipart body")]) from None
    return await _parse(reader, temp_path, record, max_bytes)


async def _parse(
    reader: MultipartReader,
    temp_path: Path,
    record: UploadRecord,
    max_bytes: int,
) -> ParsedUpload:
    fields: dict[str, str] = {}
    errors: list[tuple[str, str]] = []
    file_result: tuple[str, str, Sniffer] | None = None
    while True:
        try:
            part = await reader.next()
        except (ValueError, AssertionError, RuntimeError):
            raise validation_error([("body", "malformed multipart body")]) from None
        if part is None:
            break
        if not isinstance(part, BodyPartReader):
            raise validation_error([("body", "nested multipart is not supported")])
        name = part.name or ""
        if name == "file":
            if file_result is not None:
                raise validation_error([("file", "only one file may be sent")])
            if errors:
                raise validation_error(errors)
            file_result = await _receive_file(part, temp_path, record, max_bytes)
        elif name in ("title", "reportType", "isPrimary", "silent"):
            value = await _read_field(part, name)
            _check_field(name, value, errors)
            fields[name] = value
        else:
            await part.release()
    if file_result is None:
        errors.append(("file", "is required"))
    if errors:
        raise validation_error(errors)
    assert file_result is not None
    file_name, digest, sniffer = file_result
    return ParsedUpload(
        file=classify(file_name, fields.get("title", ""), sniffer, temp_path),
        size=record.bytes_received,
        sha256=digest,
        report_type=fields.get("reportType", "other"),
        is_primary=parse_bool(fields.get("isPrimary", "false")) or False,
        silent=parse_bool(fields.get("silent", "false")) or False,
    )


def _check_field(name: str, value: str, errors: list[tuple[str, str]]) -> None:
    if name == "reportType":
        if value not in REPORT_TYPES:
            raise ApiError(
                400,
                "INVALID_REPORT_TYPE",
                "reportType must be one of " + ", ".join(REPORT_TYPES),
                [{"field": "reportType", "message": "must be one of " + "|".join(REPORT_TYPES)}],
            )
    elif name in ("isPrimary", "silent") and parse_bool(value) is None:
        errors.append((name, "must be a boolean: true, false, 1 or 0"))


async def _receive_file(
    part: BodyPartReader, temp_path: Path, record: UploadRecord, max_bytes: int
) -> tuple[str, str, Sniffer]:
    """Write the file part to ``temp_path``; ``record.bytes_received`` ends as its size."""
    hasher = hashlib.sha256()
    sniffer = Sniffer()
    with temp_path.open("wb") as handle:
        while True:
            chunk = await part.read_chunk(CHUNK_SIZE)
            if not chunk:
                break
            record.chunks.append((time.monotonic(), len(chunk)))
            record.bytes_received += len(chunk)
            if record.bytes_received > max_bytes:
                raise ApiError(
                    400,
                    "FILE_TOO_LARGE",
                    f"Report is over the {max_bytes} byte limit",
                    {"maxBytes": max_bytes},
                )
            hasher.update(chunk)
            sniffer.feed(chunk)
            handle.write(chunk)
    return part.filename or "", hasher.hexdigest(), sniffer
