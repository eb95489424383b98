"""The multipart body: exact Content-Length, re-readable per attempt, progress and hashing."""

from __future__ import annotations

import email
import email.policy
import hashlib
import io
from pathlib import Path

import pytest

from bigmind_async._multipart import CHUNK_SIZE, MultipartBody, prepare_upload

PDF = b"%PDF-1.7\n" + bytes(range(256)) * 4000  # ~1 MiB: several chunks


async def _collect(body: MultipartBody) -> bytes:
    return b"".join([bytes(chunk) async for chunk in body.stream()])


async def _parse(body: MultipartBody, data: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Parse the form back with the standard library's MIME parser (an independent reader)."""
    message = email.message_from_bytes(
        f"Content-Type: {body.content_type}\r\n\r\n".encode() + data, policy=email.policy.HTTP
    )
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        parts[str(name)] = (part.get_filename(), payload)
    return parts


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)


class TestBody:
    @pytest.mark.parametrize("source", ["path", "bytes", "fileobj"])
    async def test_length_parts_and_rewind(self, source: str, tmp_path: Path) -> None:
        """Content-Length is exact, the form parses back, and a second stream is identical."""
        path = tmp_path / "r.pdf"
        _write(path, PDF)
        file = {"path": path, "bytes": PDF, "fileobj": io.BytesIO(PDF)}[source]
        upload = await prepare_upload(file, filename=None if source == "path" else "r.pdf")
        body = MultipartBody(upload, [("title", "T"), ("reportType", "lab")])
        first = await _collect(body)
        assert body.complete
        second = await _collect(body)
        assert (len(first), first) == (body.content_length, second)
        parts = await _parse(body, first)
        assert {
            "title": (None, b"T"),
            "reportType": (None, b"lab"),
            "file": ("r.pdf", PDF),
        } == parts
        assert hashlib.sha256(PDF).hexdigest() == upload.sha256

    async def test_progress_is_incremental(self) -> None:
        """on_progress sees growing counts ending at the total."""
        calls: list[tuple[int, int]] = []
        upload = await prepare_upload(PDF, filename="r.pdf")
        body = MultipartBody(upload, [], on_progress=lambda s, t: calls.append((s, t)))
        await _collect(body)
        assert len(calls) == -(-len(PDF) // CHUNK_SIZE)
        assert (len(PDF), len(PDF)) == calls[-1]

    async def test_small_file_is_one_write(self, tmp_path: Path) -> None:
        """A report of one chunk or less is sent as a single buffer, hashed up front."""
        path = tmp_path / "s.txt"
        _write(path, b"short report")
        upload = await prepare_upload(path, filename=None)
        body = MultipartBody(upload, [])
        chunks = [chunk async for chunk in body.stream()]
        assert 1 == len(chunks)
        assert hashlib.sha256(b"short report").hexdigest() == upload.sha256

    async def test_unicode_file_name(self) -> None:
        """A non-ASCII name travels (filename* too) and parses back."""
        upload = await prepare_upload(b"text", filename="résumé.txt")
        body = MultipartBody(upload, [])
        parts = await _parse(body, await _collect(body))
        assert "résumé.txt" == parts["file"][0]

    async def test_text_mode_file_is_refused(self, tmp_path: Path) -> None:
        """A file opened in text mode is a ValidationError."""
        from bigmind_async import ValidationError

        with pytest.raises(ValidationError, match="binary"):
            await prepare_upload(io.StringIO("x"), filename="a.txt")
