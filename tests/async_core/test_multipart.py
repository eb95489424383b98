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
        assert hashlib.sha256(PDF).hexdigest() == await upload.digest()

    @pytest.mark.parametrize("source", ["path", "bytes", "fileobj"])
    async def test_digest_is_computed_on_demand(self, source: str, tmp_path: Path) -> None:
        """Preparing and sending a file does not hash it; digest() does, once."""
        path = tmp_path / "r.pdf"
        _write(path, PDF)
        file = {"path": path, "bytes": PDF, "fileobj": io.BytesIO(PDF)}[source]
        upload = await prepare_upload(file, filename=None if source == "path" else "r.pdf")
        await _collect(MultipartBody(upload, []))
        assert None is upload.sha256
        expected = hashlib.sha256(PDF).hexdigest()
        assert expected == await upload.digest()
        assert expected == upload.sha256

    async def test_progress_is_incremental(self) -> None:
        """on_progress sees growing counts ending at the total."""
        calls: list[tuple[int, int]] = []
        upload = await prepare_upload(PDF, filename="r.pdf")
        body = MultipartBody(upload, [], on_progress=lambda s, t: calls.append((s, t)))
        await _collect(body)
        assert len(calls) == -(-len(PDF) // CHUNK_SIZE)
        assert (len(PDF), len(PDF)) == calls[-1]

    async def test_small_file_is_one_write(self, tmp_path: Path) -> None:
        """A small report is sent as a single buffer; its digest is there on demand."""
        path = tmp_path / "s.txt"
        _write(path, b"short report")
        upload = await prepare_upload(path, filename=None)
        body = MultipartBody(upload, [])
        chunks = [chunk async for chunk in body.stream()]
        assert 1 == len(chunks)
        assert None is upload.sha256
        assert hashlib.sha256(b"short report").hexdigest() == await upload.digest()

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


class TestPathReads:
    """A path is read in CHUNK_SIZE buffers: from the page cache in the loop's thread where the
    OS allows it, on a worker thread when that would block or is not supported."""

    async def _chunks(self, path: Path) -> list[bytes]:
        upload = await prepare_upload(path, filename=None)
        return [bytes(chunk) async for chunk in upload.chunks()]

    async def test_chunks_are_whole_buffers(self, tmp_path: Path) -> None:
        """Every buffer but the last is CHUNK_SIZE bytes; together they are the file."""
        path = tmp_path / "r.pdf"
        _write(path, PDF)
        chunks = await self._chunks(path)
        assert PDF == b"".join(chunks)
        assert {CHUNK_SIZE} == {len(c) for c in chunks[:-1]}

    @pytest.mark.parametrize(
        "failure", [BlockingIOError(11, "EAGAIN"), OSError(95, "EOPNOTSUPP"), None]
    )
    async def test_falls_back_to_a_thread(
        self, failure: OSError | None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """EAGAIN (not cached), EOPNOTSUPP (tmpfs) or no RWF_NOWAIT at all: same bytes, read on
        a worker thread."""
        import bigmind_async._multipart as multipart

        path = tmp_path / "r.pdf"
        _write(path, PDF)
        calls: list[int] = []

        def preadv(fd: int, buffers: list[memoryview], offset: int, flags: int = 0) -> int:
            calls.append(offset)
            assert failure is not None
            raise failure

        monkeypatch.setattr(multipart.os, "preadv", preadv, raising=False)
        if failure is None:
            monkeypatch.setattr(multipart, "_RWF_NOWAIT", None)
        else:
            monkeypatch.setattr(multipart, "_RWF_NOWAIT", 8)
        assert PDF == b"".join(await self._chunks(path))
        if isinstance(failure, BlockingIOError):
            assert len(calls) == -(-len(PDF) // CHUNK_SIZE)  # tried again for every buffer
        elif failure is not None:
            assert 1 == len(calls)  # not supported: never tried again for this file
        else:
            assert [] == calls

    async def test_cached_and_uncached_chunks_mix(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Chunks read from the page cache and chunks read by aiofiles interleave: same bytes."""
        import os

        import bigmind_async._multipart as multipart

        real_preadv = os.preadv
        path = tmp_path / "r.pdf"
        _write(path, PDF)

        def preadv(fd: int, buffers: list[memoryview], offset: int, flags: int = 0) -> int:
            if (offset // CHUNK_SIZE) % 2:
                raise BlockingIOError(11, "EAGAIN")
            return real_preadv(fd, buffers, offset)

        monkeypatch.setattr(multipart.os, "preadv", preadv, raising=False)
        monkeypatch.setattr(multipart, "_RWF_NOWAIT", 8)
        assert PDF == b"".join(await self._chunks(path))

    async def test_file_that_shrinks_is_an_error(self, tmp_path: Path) -> None:
        """A file cut short while it is being sent raises ValidationError, never sends short."""
        from bigmind_async import ValidationError

        path = tmp_path / "r.pdf"
        _write(path, PDF)
        upload = await prepare_upload(path, filename=None)
        stream = upload.chunks()
        await stream.__anext__()
        path.write_bytes(PDF[: CHUNK_SIZE + 10])
        with pytest.raises(ValidationError, match="shrank"):
            async for _chunk in stream:
                pass
