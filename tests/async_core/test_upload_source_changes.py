"""An attach whose own body stream fails (the file changes under it, ``on_progress`` raises)
raises that error at once: it is no connection failure, and sending again cannot help."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from bigmind_async import ValidationError

MiB = 1024 * 1024
BIG_PDF = b"%PDF-1.7\n" + b"x" * (MiB - 9)  # streamed in chunks, not sent as one buffer


class _EndsEarly(io.BytesIO):
    """A file object that announces 1 MiB (seek to the end) but reads dry half way."""

    def read(self, size: int | None = -1, /) -> bytes:
        if self.tell() >= MiB // 2:
            return b""
        return super().read(size)


class _CallbackFailed(Exception):
    pass


def _attach_requests(emulator) -> int:  # type: ignore[no-untyped-def]
    return int(emulator.emu.stats.requests_by_route["attach_report"])


class TestBodyStreamErrors:
    async def test_file_object_ending_early_is_raised_unretried(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """A file object shorter than it announced: ValidationError, one attach, no report."""
        with pytest.raises(ValidationError, match="ended early") as info:
            await client.reports.attach(
                emulator.customer_id, emulator.study_uid, _EndsEarly(BIG_PDF), filename="r.pdf"
            )
        assert info.value.status is None
        assert 1 >= _attach_requests(emulator)
        assert [] == await client.reports.list(emulator.customer_id, emulator.study_uid)

    async def test_path_shrinking_mid_upload_is_raised_unretried(
        self, client, emulator, tmp_path: Path
    ) -> None:  # type: ignore[no-untyped-def]
        """A file truncated while it is sent: ValidationError "shrank", one attach, no report."""
        path = tmp_path / "r.pdf"
        path.write_bytes(BIG_PDF)

        def truncate(sent: int, total: int) -> None:
            os.truncate(path, 100 * 1024)

        with pytest.raises(ValidationError, match="shrank"):
            await client.reports.attach(
                emulator.customer_id, emulator.study_uid, path, on_progress=truncate
            )
        assert 1 >= _attach_requests(emulator)
        assert [] == await client.reports.list(emulator.customer_id, emulator.study_uid)

    async def test_on_progress_error_mid_upload_is_raised_as_is(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """``on_progress`` raising before the last byte: its own exception, one attach."""

        def fail(sent: int, total: int) -> None:
            raise _CallbackFailed(sent)

        with pytest.raises(_CallbackFailed):
            await client.reports.attach(
                emulator.customer_id, emulator.study_uid, BIG_PDF, filename="r.pdf",
                on_progress=fail,
            )  # fmt: skip
        assert 1 >= _attach_requests(emulator)
        assert [] == await client.reports.list(emulator.customer_id, emulator.study_uid)
