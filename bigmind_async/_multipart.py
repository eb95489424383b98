"""The attach request body: one ``multipart/form-data`` stream with a known Content-Length.

:func:`prepare_upload` looks at the file once, before any request: its size, its leading bytes
(the type check) and, for a small file, its whole content. :class:`MultipartBody` then makes a
fresh stream for every attempt, so a retry never re-sends an exhausted iterator:

- a path is opened again (aiofiles) and read in :data:`CHUNK_SIZE` buffers (a 25 MiB report
  never sits in memory whole), from the page cache without a thread hop where the OS allows it (see
  :func:`_path_chunks`); a file of at most :data:`SMALL_FILE_BYTES` was read whole by
  :func:`prepare_upload` in one worker-thread call and is sent from memory;
- bytes are sent from memory, sliced without copying;
- a binary file object is rewound to where it started and read in chunks.

The stream records whether it handed out its last byte: a request whose body did not all go
out cannot have created a report on the server. It does not hash: the SHA-256 that reconciling
an ambiguous failure compares is computed then, by :meth:`Upload.digest` (hashing every 25 MiB
upload on the loop's thread cost more CPU than sending it).
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import IO, Any

import aiofiles

from bigmind_async._validation import (
    MAX_REPORT_BYTES,
    MIME_TYPES,
    SNIFF_BYTES,
    check_file_kind,
    check_file_name,
    check_size,
    invalid,
)

__all__ = [
    "CHUNK_SIZE",
    "HASH_BLOCK",
    "SMALL_FILE_BYTES",
    "MultipartBody",
    "ProgressCallback",
    "Upload",
    "prepare_upload",
    "sha256_of",
]

#: Bytes per read and per write when streaming. Measured by ``python -m benchmarks`` (32
#: concurrent 25 MiB uploads, a loopback sink, page-cache reads): 32 KiB gave 1.18 GB/s and
#: 2.7 MiB of RSS growth, 64 KiB 1.32 GB/s and 4.5 MiB, 128 KiB 1.52 GB/s and 5.7 MiB; read on
#: worker threads (tmpfs, cold files), 128 KiB grows ~9 MiB. 64 KiB keeps both paths well
#: inside the 12 MiB budget.
CHUNK_SIZE = 64 * 1024
#: A file up to this size is read whole in ONE worker-thread call and sent as one buffer: no
#: per-chunk thread hops for the common small report.
SMALL_FILE_BYTES = 256 * 1024

ProgressCallback = Callable[[int, int], object]


class Upload:
    """A report file checked and ready to send.

    Attributes:
        file_name: The name sent in the part's ``filename``.
        kind: ``pdf``, ``doc``, ``docx`` or ``txt``.
        size: Bytes in the file.
        sha256: Hex digest, once :meth:`digest` has computed it (else ``None``).
    """

    __slots__ = ("_data", "_fileobj", "_path", "_start", "file_name", "kind", "sha256", "size")

    def __init__(
        self,
        *,
        file_name: str,
        kind: str,
        size: int,
        data: bytes | None = None,
        path: str | None = None,
        fileobj: IO[bytes] | None = None,
        start: int = 0,
        sha256: str | None = None,
    ) -> None:
        self.file_name = file_name
        self.kind = kind
        self.size = size
        self.sha256 = sha256
        self._data = data
        self._path = path
        self._fileobj = fileobj
        self._start = start

    @property
    def mime_type(self) -> str:
        """The part's Content-Type, from the sniffed kind."""
        return MIME_TYPES[self.kind]

    def __repr__(self) -> str:
        return f"Upload(file_name={self.file_name!r}, kind={self.kind!r}, size={self.size})"

    async def chunks(self) -> AsyncIterator[bytes | memoryview]:
        """The file's bytes from the start, in chunks (re-opened / rewound on every call)."""
        if self._data is not None:
            view = memoryview(self._data)
            for offset in range(0, len(view), CHUNK_SIZE):
                yield view[offset : offset + CHUNK_SIZE]
        elif self._path is not None:
            async for view in _path_chunks(self._path, self.size):
                yield view
        else:
            fileobj = self._fileobj
            assert fileobj is not None
            in_memory = isinstance(fileobj, io.BytesIO)
            loop = asyncio.get_running_loop()
            fileobj.seek(self._start)
            remaining = self.size
            while remaining > 0:
                want = min(CHUNK_SIZE, remaining)
                chunk: bytes = (
                    fileobj.read(want)
                    if in_memory
                    else await loop.run_in_executor(None, fileobj.read, want)
                )
                if not chunk:
                    raise invalid("file", "the file object ended early")
                remaining -= len(chunk)
                yield chunk

    async def digest(self) -> str:
        """The file's SHA-256 (hex), computed on first use (on a worker thread, unless the
        bytes are in memory and small).

        Neither preparing nor streaming hashes: only reconciling an ambiguous attach needs the
        digest, so a successful upload never pays for it (it was ~10% of the CPU of a 64 KiB
        upload, and more than sending a 25 MiB one).
        """
        if self.sha256 is None:
            if self._data is not None and self.size <= SMALL_FILE_BYTES:
                self.sha256 = self._hash()
            else:
                self.sha256 = await asyncio.get_running_loop().run_in_executor(None, self._hash)
        return self.sha256

    def _hash(self) -> str:
        if self._data is not None:
            return hashlib.sha256(self._data).hexdigest()
        if self._path is not None:
            with open(self._path, "rb", buffering=0) as handle:
                return sha256_of(handle, self.size)
        fileobj = self._fileobj
        assert fileobj is not None
        fileobj.seek(self._start)
        return sha256_of(fileobj, self.size)


#: Bytes per read when hashing a file.
HASH_BLOCK = 1024 * 1024


def sha256_of(handle: IO[bytes] | io.RawIOBase, size: int | None = None) -> str:
    """Hex SHA-256 of ``handle`` from where it stands: ``size`` bytes, or to its end when
    ``None``; read in :data:`HASH_BLOCK` blocks, never whole. Blocking: call it on a thread."""
    digest = hashlib.sha256()
    remaining = size
    while remaining is None or remaining > 0:
        block = handle.read(HASH_BLOCK if remaining is None else min(HASH_BLOCK, remaining))
        if not block:
            break
        digest.update(block)
        if remaining is not None:
            remaining -= len(block)
    return digest.hexdigest()


#: ``os.preadv`` flag: fail with EAGAIN instead of waiting for the disk (Linux >= 4.14).
_RWF_NOWAIT: int | None = getattr(os, "RWF_NOWAIT", None) if hasattr(os, "preadv") else None


async def _path_chunks(path: str, size: int) -> AsyncIterator[memoryview]:
    """``size`` bytes of the file at ``path``, in :data:`CHUNK_SIZE` buffers.

    The file is opened with aiofiles (unbuffered). Each buffer is a fresh ``bytearray``
    allocated here, in the loop's thread, and handed out as a ``memoryview`` (aiohttp slices it
    to the Content-Length: a bytes or bytearray slice would be a copy). Where the OS allows it
    (Linux ``preadv`` with ``RWF_NOWAIT``), a buffer is filled in the loop's thread straight
    from the page cache, which cannot block: no thread hop per chunk, which is where a chunked
    upload spends its time. When the bytes are not cached yet (EAGAIN), or the file system
    does not support the flag (tmpfs...), aiofiles reads them on a worker thread, as any
    blocking read must.
    """
    nowait = _RWF_NOWAIT
    async with aiofiles.open(path, "rb", buffering=0) as handle:
        fd = handle.fileno()
        position = 0  # the file's own offset, which only aiofiles' reads move
        offset = 0
        while offset < size:
            buf = bytearray(min(CHUNK_SIZE, size - offset))
            view = memoryview(buf)
            filled = 0
            while filled < len(buf):
                got: int | None = None
                if nowait is not None:
                    try:
                        got = os.preadv(fd, [view[filled:]], offset + filled, nowait)
                    except BlockingIOError:
                        got = None  # not in the page cache: read on a thread
                    except OSError:
                        nowait = None  # EOPNOTSUPP / EINVAL: this file system cannot do it
                if got is None:
                    if position != offset + filled:
                        position = await handle.seek(offset + filled)
                    got = await handle.readinto(view[filled:]) or 0
                    position += got
                if got == 0:
                    raise invalid("file", f"{path} shrank while it was being sent")
                filled += got
            offset += filled
            yield view


async def prepare_upload(file: Any, *, filename: str | None, argument: str = "file") -> Upload:
    """Check ``file`` (path, bytes or binary file object) and learn its size, type and name.

    The name sent is ``filename`` when given, else the path's name or the file object's
    ``name``, else ``report.<type>``; each passes
    :func:`~bigmind_async._validation.check_file_name`.

    Raises ValidationError (missing path, wrong argument type, a bad name), FileTooLargeError
    or InvalidReportTypeError, all with ``status=None`` and before any request.

    An :class:`Upload` (prepared already: the batch prepares each job once, to key it) is
    taken as it is.
    """
    if isinstance(file, Upload):
        return file
    name = None if filename is None else check_file_name(filename, "filename")
    if isinstance(file, (str, os.PathLike)):
        return await _prepare_path(os.fspath(file), name, argument)
    if isinstance(file, (bytes, bytearray, memoryview)):
        data = bytes(file)
        return _finish(argument, name, len(data), data, data=data)
    if hasattr(file, "read"):
        return await _prepare_fileobj(file, name, argument)
    raise invalid(
        argument, f"must be a path, bytes or a binary file object, got {type(file).__name__}"
    )


def _finish(
    argument: str,
    name: str | None,
    size: int,
    head: bytes,
    *,
    data: bytes | None = None,
    path: str | None = None,
    fileobj: IO[bytes] | None = None,
    start: int = 0,
) -> Upload:
    """The checks every source ends with (size, then type against the name) and its Upload.

    ``head``: the leading bytes; ``data``: the whole content, when it was read.
    """
    check_size(size, argument)
    kind = check_file_kind(
        head[:SNIFF_BYTES],
        complete=data is not None and len(data) <= SNIFF_BYTES,
        file_name=name,
        argument=argument,
    )
    return Upload(
        file_name=name or f"report.{kind}",
        kind=kind,
        size=size,
        data=data,
        path=path,
        fileobj=fileobj,
        start=start,
    )


def _probe_path(path: str) -> tuple[int, bytes, bool]:
    """Size, leading bytes (the whole file when small), and whether that is all of it."""
    size = os.stat(path).st_size
    if size > MAX_REPORT_BYTES:
        return size, b"", False
    with open(path, "rb") as handle:
        if size <= SMALL_FILE_BYTES:
            data = handle.read(SMALL_FILE_BYTES + 1)
            return len(data), data, True
        return size, handle.read(SNIFF_BYTES), False


async def _prepare_path(path: str, filename: str | None, argument: str) -> Upload:
    if not path:
        raise invalid(argument, "the path is empty")
    name = filename if filename is not None else check_file_name(Path(path).name, argument)
    loop = asyncio.get_running_loop()
    try:
        size, head, whole = await loop.run_in_executor(None, _probe_path, path)
    except FileNotFoundError:
        raise invalid(argument, f"no such file: {path}") from None
    except IsADirectoryError:
        raise invalid(argument, f"{path} is a directory") from None
    except PermissionError:
        raise invalid(argument, f"{path} cannot be read") from None
    if whole:
        return _finish(argument, name, size, head, data=head)
    return _finish(argument, name, size, head, path=path)


def _probe_fileobj(fileobj: IO[bytes]) -> tuple[int, int, bytes | None, bytes]:
    """(start, size, whole content if small or unseekable, head)."""
    seekable = False
    try:
        seekable = bool(fileobj.seekable())
    except (AttributeError, OSError, ValueError):
        seekable = False
    if not seekable:
        data = fileobj.read(MAX_REPORT_BYTES + 1)
        return 0, len(data), data, data[:SNIFF_BYTES]
    start = fileobj.tell()
    end = fileobj.seek(0, io.SEEK_END)
    fileobj.seek(start)
    size = end - start
    if size <= SMALL_FILE_BYTES:
        data = fileobj.read(size)
        fileobj.seek(start)
        return start, len(data), data, data[:SNIFF_BYTES]
    head = fileobj.read(SNIFF_BYTES)
    fileobj.seek(start)
    return start, size, None, head


async def _prepare_fileobj(fileobj: Any, filename: str | None, argument: str) -> Upload:
    binary_only = "open the file in binary mode ('rb')"
    if isinstance(fileobj, io.TextIOBase):
        raise invalid(argument, binary_only)
    name = filename
    if name is None:
        raw_name = getattr(fileobj, "name", None)
        if isinstance(raw_name, str) and raw_name:
            name = check_file_name(Path(raw_name).name, argument)
    if isinstance(fileobj, io.BytesIO):
        start, size, data, head = _probe_fileobj(fileobj)
    else:
        loop = asyncio.get_running_loop()
        start, size, data, head = await loop.run_in_executor(None, _probe_fileobj, fileobj)
    if not isinstance(head, bytes):
        raise invalid(argument, binary_only)
    if data is not None:
        return _finish(argument, name, size, head, data=data)
    return _finish(argument, name, size, head, fileobj=fileobj, start=start)


def _quote_param(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


class MultipartBody:
    """The form for one attach call; :meth:`stream` makes a fresh body for each attempt.

    Attributes:
        upload: The file.
        boundary: The multipart boundary.
        content_type: The request's Content-Type header.
        content_length: Bytes in the whole body, known before sending.
        complete: Whether the last stream handed out its final byte.
        error: The exception the last stream itself raised (the file shrank or ended early,
            could not be read, or ``on_progress`` raised), else ``None``. aiohttp hides it
            behind a ClientConnectionError; :meth:`Transport.request
            <bigmind_async._transport.Transport.request>` raises it instead, unretried.
    """

    def __init__(
        self,
        upload: Upload,
        fields: list[tuple[str, str]],
        *,
        on_progress: ProgressCallback | None = None,
    ) -> None:
        self.upload = upload
        # 128 random bits make an accidental match with the file's bytes practically impossible;
        # the boundary needs no secrecy, and os.urandom cost ~20 us a call here (3% of a
        # 64 KiB upload's CPU).
        self.boundary = f"bigmind-{random.getrandbits(128):032x}"
        self.content_type = f"multipart/form-data; boundary={self.boundary}"
        self._on_progress = on_progress
        parts = []
        for name, value in fields:
            parts.append(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
                f"{value}\r\n".encode()
            )
        disposition = f'form-data; name="file"; filename="{_quote_param(upload.file_name)}"'
        if not upload.file_name.isascii():
            from urllib.parse import quote

            disposition += f"; filename*=utf-8''{quote(upload.file_name, safe='')}"
        parts.append(
            f"--{self.boundary}\r\nContent-Disposition: {disposition}\r\n"
            f"Content-Type: {upload.mime_type}\r\n\r\n".encode()
        )
        self._head = b"".join(parts)
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self.content_length = len(self._head) + upload.size + len(self._tail)
        self.complete = False
        self.error: Exception | None = None

    def stream(self) -> AsyncIterator[bytes | memoryview]:
        """A new body stream, starting from the first byte."""
        self.complete = False
        self.error = None
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes | memoryview]:
        upload = self.upload
        total = upload.size
        progress = self._on_progress
        sent = 0
        try:
            if upload._data is not None and total <= SMALL_FILE_BYTES:
                # One write for a small report: no per-chunk overhead.
                yield self._head + upload._data + self._tail
                self.complete = True  # before on_progress: its error cannot unsend the body
                if progress is not None:
                    progress(total, total)
                return
            yield self._head
            async for chunk in upload.chunks():
                yield chunk
                sent += len(chunk)
                if progress is not None:
                    progress(sent, total)
            yield self._tail
            self.complete = True
        except Exception as exc:  # raised here (file, on_progress): aiohttp throws nothing in
            self.error = exc
            raise
