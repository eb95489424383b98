"""client.reports against the emulator: happy paths, documented errors, faults, big uploads."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from bigmind_async import (
    AsyncBigMind,
    FileTooLargeError,
    ForbiddenError,
    InvalidReportTypeError,
    RateLimitError,
    Report,
    ReportNotFoundError,
    ReportType,
    ServerError,
    StorageFullError,
    StudyNotFoundError,
    ValidationError,
)
from bigmind_async._models import ReportDownload
from bigmind_async._reports import UploadFingerprint, find_attached_match

PDF = b"%PDF-1.7\n" + b"x" * 2000
MiB = 1024 * 1024


def _sparse_file(path: Path, size: int, head: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(head)
        handle.truncate(size)


def _text_file(path: Path, size: int) -> None:
    line = b"0123456789abcdef" * 4 + b"\n"
    with open(path, "wb") as handle:
        handle.write(line * (size // len(line)))
        handle.write(b"x" * (size - handle.tell()))


def _part_files(directory: Path) -> list[str]:
    return [p.name for p in directory.iterdir() if p.name.endswith(".part")]


def _api_requests(emulator) -> int:  # type: ignore[no-untyped-def]
    routes = emulator.emu.stats.requests_by_route
    return sum(n for route, n in routes.items() if route not in ("side_channel", "download"))


class TestAttach:
    async def test_attach_bytes(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """Bytes with a file name become a report with every field set."""
        report = await client.reports.attach(
            emulator.customer_id,
            emulator.study_uid,
            PDF,
            filename="ct.pdf",
            title="CT read",
            report_type="radiology",
            is_primary=True,
            silent=True,
        )
        assert ("ct.pdf", "CT read", ReportType.RADIOLOGY, True, len(PDF)) == (
            report.file_name,
            report.title,
            report.report_type,
            report.is_primary,
            report.size_bytes,
        )
        assert hashlib.sha256(PDF).hexdigest() == report.sha256
        assert emulator.emu.partner_key_id == report.attached_by_partner_key_id

    async def test_attach_path_and_title_default(self, client, emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """A path is read from disk; the title defaults to the file name."""
        path = tmp_path / "note.txt"
        path.write_text("Findings: normal. Ünïcode ok.\n", encoding="utf-8")
        report = await client.reports.attach(emulator.customer_id, emulator.study_uid, path)
        assert ("note.txt", "note.txt", "text/plain") == (
            report.file_name,
            report.title,
            report.mime_type,
        )

    async def test_attach_file_object_from_its_position(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """A file object is sent from where it stood."""
        handle = io.BytesIO(b"junk" + PDF)
        handle.seek(4)
        report = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, handle, filename="x.pdf"
        )
        assert len(PDF) == report.size_bytes

    async def test_attach_docx_and_doc(self, client, emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """DOCX (a ZIP with word/) and DOC (OLE2) are accepted."""
        import zipfile

        docx = tmp_path / "r.docx"
        with zipfile.ZipFile(docx, "w") as archive:
            archive.writestr("word/document.xml", "<w/>")
        doc = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 600
        a = await client.reports.attach(emulator.customer_id, emulator.study_uid, docx)
        b = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, doc, filename="r.doc"
        )
        assert ("r.docx", "application/msword") == (a.file_name, b.mime_type)

    async def test_progress_is_reported(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """on_progress ends at (total, total)."""
        calls: list[tuple[int, int]] = []
        await client.reports.attach(
            emulator.customer_id,
            emulator.study_uid,
            PDF,
            filename="p.pdf",
            on_progress=lambda sent, total: calls.append((sent, total)),
        )
        assert (len(PDF), len(PDF)) == calls[-1]


class TestAttachRejectedBeforeSending:
    @pytest.mark.parametrize(
        ("kwargs", "error", "argument"),
        [
            ({"study_uid": "1..2"}, ValidationError, "study_uid"),
            ({"study_uid": "1.2.a"}, ValidationError, "study_uid"),
            ({"customer_id": ""}, ValidationError, "customer_id"),
            ({"customer_id": "pc/1"}, ValidationError, "customer_id"),
            ({"report_type": "xray"}, ValidationError, "report_type"),
            ({"file": b"\x00\x01binary"}, InvalidReportTypeError, "file"),
            ({"file": PDF, "filename": "a.txt.exe"}, InvalidReportTypeError, "file"),
            ({"file": b"plain text", "filename": "a.pdf"}, InvalidReportTypeError, "file"),
            ({"file": b"", "filename": "a.txt"}, InvalidReportTypeError, "file"),
            ({"file": "/nonexistent/dir/r.pdf"}, ValidationError, "file"),
            ({"file": 42}, ValidationError, "file"),
        ],
    )
    async def test_bad_input_sends_nothing(self, client, emulator, kwargs, error, argument) -> None:  # type: ignore[no-untyped-def]
        """Each bad argument is a typed error naming it, status None, and no request."""
        args = {
            "customer_id": emulator.customer_id,
            "study_uid": emulator.study_uid,
            "file": PDF,
            "filename": "r.pdf",
            **kwargs,
        }
        before = _api_requests(emulator)
        with pytest.raises(error) as info:
            await client.reports.attach(
                args.pop("customer_id"), args.pop("study_uid"), args.pop("file"), **args
            )
        assert info.value.status is None
        assert info.value.message.startswith(argument)
        assert before == _api_requests(emulator)

    async def test_file_over_25_mib_is_refused(self, client, emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """26,214,401 bytes -> FileTooLargeError, nothing sent (a sparse file: no disk used)."""
        path = tmp_path / "big.pdf"
        _sparse_file(path, 26_214_401, b"%PDF-")
        with pytest.raises(FileTooLargeError) as info:
            await client.reports.attach(emulator.customer_id, emulator.study_uid, path)
        assert info.value.status is None
        assert 0 == _api_requests(emulator)


class TestAttachServerErrors:
    async def test_unknown_study(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """STUDY_NOT_FOUND: type, code, status, request id."""
        with pytest.raises(StudyNotFoundError) as info:
            await client.reports.attach(emulator.customer_id, "1.2.3.999", PDF, filename="a.pdf")
        error = info.value
        assert ("STUDY_NOT_FOUND", 404) == (error.code, error.status)
        assert error.request_id is not None
        assert error.request_id.startswith("req_")

    async def test_unindexed_study(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """An unindexed study answers exactly like an unknown one."""
        with pytest.raises(StudyNotFoundError):
            await client.reports.attach(
                emulator.customer_id, emulator.unindexed_study_uid, PDF, filename="a.pdf"
            )

    async def test_storage_full(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """STORAGE_FULL carries the breakdown."""
        emulator.emu.set_quota(emulator.customer_id, quota_bytes=1000, used_bytes=900)
        with pytest.raises(StorageFullError) as info:
            await client.reports.attach(
                emulator.customer_id, emulator.study_uid, PDF, filename="a.pdf"
            )
        storage = info.value.storage
        assert storage is not None
        assert (402, 900, len(PDF)) == (
            info.value.status,
            storage.used_bytes,
            storage.required_bytes,
        )

    async def test_server_side_type_check(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """A ZIP that is not a DOCX passes our sniffing; the server's INVALID_REPORT_TYPE maps."""
        buffer = io.BytesIO()
        import zipfile

        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("other.txt", "x")
        with pytest.raises(InvalidReportTypeError) as info:
            await client.reports.attach(
                emulator.customer_id, emulator.study_uid, buffer.getvalue(), filename="a.docx"
            )
        assert ("INVALID_REPORT_TYPE", 400) == (info.value.code, info.value.status)

    async def test_server_side_size_limit(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """The server's FILE_TOO_LARGE maps too (an emulator with a tiny limit)."""
        from bigmind_async.emulator import Emulator

        async with Emulator(rate_limit=None, max_upload_bytes=100) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            async with AsyncBigMind(emu.api_key, emu.base_url, backoff_base=0) as c:
                with pytest.raises(FileTooLargeError) as info:
                    await c.reports.attach(customer, study, PDF, filename="a.pdf")
        assert ("FILE_TOO_LARGE", 400) == (info.value.code, info.value.status)


class TestAttachUnderFaults:
    async def _one_report(self, client, emulator) -> list[Report]:  # type: ignore[no-untyped-def]
        reports = await client.reports.list(emulator.customer_id, emulator.study_uid)
        return [r for r in reports if r.file_name == "f.pdf"]

    async def test_reset_before_commit_ends_with_one_report(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """Reset before commit: reconcile finds nothing, the upload is sent again, once."""
        emulator.emu.faults.inject("reset_before_commit", route="attach_report")
        raw = await client.with_raw_response.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"
        )
        assert 1 == len(await self._one_report(client, emulator))
        assert raw.parsed.report_id == (await self._one_report(client, emulator))[0].report_id
        assert 2 == raw.attempts
        assert 1 == emulator.emu.stats.requests_by_route["list_reports"] - 2

    async def test_reset_after_commit_ends_with_one_report(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """Reset after commit: reconcile finds the stored report and returns it."""
        emulator.emu.faults.inject("reset_after_commit", route="attach_report")
        report = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"
        )
        stored = await self._one_report(client, emulator)
        assert [report.report_id] == [r.report_id for r in stored]
        assert 1 == emulator.emu.stats.attach_count

    async def test_500_after_body_reconciles_then_uploads(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """A 500 then success: one reconcile listing finds nothing, the upload is sent again,
        one report."""
        emulator.emu.faults.inject("error", route="attach_report", status=500)
        await client.reports.attach(emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf")
        routes = emulator.emu.stats.requests_by_route
        assert (1, 2) == (routes["list_reports"], routes["attach_report"])
        assert 1 == len(await self._one_report(client, emulator))

    async def test_429_is_retried_blindly(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """A 429 created nothing: no reconcile listing, just the retry after Retry-After."""
        emulator.emu.faults.inject("rate_limit", route="attach_report", retry_after=0)
        await client.reports.attach(emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf")
        assert 0 == emulator.emu.stats.requests_by_route["list_reports"]
        assert 1 == client.rate_limiter.pauses

    async def test_same_file_twice_concurrently_with_resets_gives_two(
        self, client, emulator
    ) -> None:  # type: ignore[no-untyped-def]
        """Two identical attaches, both reset after commit, return two different reports."""
        import asyncio

        emulator.emu.faults.inject("reset_after_commit", route="attach_report", times=2)
        a, b = await asyncio.gather(
            client.reports.attach(emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"),
            client.reports.attach(emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"),
        )
        assert a.report_id != b.report_id
        assert 2 == len(await self._one_report(client, emulator))

    async def test_no_retries_left_raises(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """max_retries=0: a 500 is raised as ServerError with its request id."""
        emulator.emu.faults.inject("error", route="attach_report", status=500)
        async with AsyncBigMind(emulator.api_key, emulator.base_url, max_retries=0) as c:
            with pytest.raises(ServerError) as info:
                await c.reports.attach(
                    emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"
                )
        assert ("INTERNAL_ERROR", 500) == (info.value.code, info.value.status)
        assert info.value.request_id


class TestFindAttachedMatch:
    def _report(self, **kw: object) -> Report:
        fields: dict[str, object] = {
            "report_id": "alf_1",
            "file_name": "f.pdf",
            "size_bytes": 10,
            "title": "f.pdf",
            "report_type": ReportType.OTHER,
            "sha256": "ab",
            "attached_by_partner_key_id": "pk",
        }
        fields.update(kw)
        return Report(**fields)  # type: ignore[arg-type]

    FP = UploadFingerprint(
        file_name="f.pdf", size=10, title="f.pdf", report_type="other", sha256="ab"
    )

    def test_matches_on_every_field(self) -> None:
        """Same name, size, title, type, sha256 and a partner key: a match."""
        assert "alf_1" == find_attached_match([self._report()], self.FP).report_id  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        "change",
        [
            {"file_name": "g.pdf"},
            {"size_bytes": 11},
            {"title": "t"},
            {"report_type": "lab"},
            {"sha256": "cd"},
            {"attached_by_partner_key_id": None},
        ],
    )
    def test_any_difference_is_no_match(self, change: dict[str, object]) -> None:
        """One differing field, or a user upload, is not ours."""
        assert find_attached_match([self._report(**change)], self.FP) is None

    def test_already_returned_is_skipped(self) -> None:
        """A report this client already returned is never returned again."""
        assert find_attached_match([self._report()], self.FP, exclude={"alf_1"}) is None

    def test_missing_sha_on_server_still_matches(self) -> None:
        """Without a server sha256, the other fields decide."""
        assert find_attached_match([self._report(sha256=None)], self.FP) is not None


class TestListGetDetach:
    async def test_list_shows_user_and_partner_reports(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """User uploads have no partner key id."""
        emulator.emu.add_user_report(emulator.customer_id, emulator.study_uid, PDF, "u.pdf")
        await client.reports.attach(emulator.customer_id, emulator.study_uid, PDF, filename="p.pdf")
        reports = await client.reports.list(emulator.customer_id, emulator.study_uid)
        assert {("u.pdf", False), ("p.pdf", True)} == {
            (r.file_name, r.is_partner_uploaded) for r in reports
        }

    async def test_get_has_a_download_url(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """get returns a ReportDownload with an aware expiry in the future."""
        made = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="p.pdf"
        )
        got = await client.reports.get(emulator.customer_id, made.report_id)
        assert isinstance(got, ReportDownload)
        assert not got.is_expired()
        assert got.download_url.startswith("http://127.0.0.1")

    async def test_get_unknown_report(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """REPORT_NOT_FOUND maps with its fields."""
        with pytest.raises(ReportNotFoundError) as info:
            await client.reports.get(emulator.customer_id, "alf_nope")
        assert ("REPORT_NOT_FOUND", 404) == (info.value.code, info.value.status)

    async def test_detach(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """Detach removes it; a second detach is REPORT_NOT_FOUND (first attempt: an error)."""
        made = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="p.pdf"
        )
        assert await client.reports.detach(emulator.customer_id, made.report_id) is None
        assert [] == await client.reports.list(emulator.customer_id, emulator.study_uid)
        with pytest.raises(ReportNotFoundError):
            await client.reports.detach(emulator.customer_id, made.report_id)

    async def test_detach_retry_404_is_success(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """Reset after the server detached: the retry's 404 means done."""
        made = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="p.pdf"
        )
        emulator.emu.faults.inject("reset_after_commit", route="detach_report")
        raw = await client.with_raw_response.reports.detach(emulator.customer_id, made.report_id)
        assert (404, 2) == (raw.status, raw.attempts)

    async def test_detach_user_report_is_forbidden(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """FORBIDDEN (403 here) maps by code."""
        report_id = emulator.emu.add_user_report(
            emulator.customer_id, emulator.study_uid, PDF, "u.pdf"
        )
        with pytest.raises(ForbiddenError) as info:
            await client.reports.detach(emulator.customer_id, report_id)
        assert ("FORBIDDEN", 403) == (info.value.code, info.value.status)


class TestDownload:
    async def test_download_to_directory(self, client, emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """Into a directory under the report's file name, without the key, no budget spent."""
        made = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="p.pdf"
        )
        before = client.rate_limiter.acquired
        path = await client.reports.download(emulator.customer_id, made.report_id, tmp_path)
        assert (tmp_path / "p.pdf", PDF) == (path, path.read_bytes())
        assert 1 == client.rate_limiter.acquired - before  # the get; not the presigned fetch
        assert [] == _part_files(tmp_path)

    async def test_download_to_file_path(self, client, emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """To an explicit file path."""
        made = await client.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="p.pdf"
        )
        target = tmp_path / "copy.bin"
        assert target == await client.reports.download(emulator.customer_id, made.report_id, target)
        assert PDF == target.read_bytes()

    async def test_url_expired_on_receipt_is_refetched(self, tmp_path: Path) -> None:
        """A URL already (nearly) expired when held is replaced once before fetching."""
        from bigmind_async.emulator import Emulator

        async with Emulator(rate_limit=None, download_url_ttl=1) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            report_id = emu.add_partner_report(customer, study, PDF, "p.pdf")
            async with AsyncBigMind(emu.api_key, emu.base_url, backoff_base=0) as c:
                path = await c.reports.download(customer, report_id, tmp_path)
            assert 2 == emu.stats.requests_by_route["get_report"]
        assert PDF == path.read_bytes()

    async def test_url_refused_as_expired_is_refetched(self, tmp_path: Path) -> None:
        """A presigned fetch answering 403 expired gets a fresh URL, once."""
        import time

        from bigmind_async.emulator import Emulator

        box: dict[str, Emulator] = {}

        def server_clock() -> float:
            # The first presigned fetch is judged 1000 s in the future: its URL has expired.
            emu = box.get("emu")
            skew = 1000 if emu is not None and emu.stats.requests_by_route["download"] == 1 else 0
            return time.time() + skew

        async with Emulator(rate_limit=None, clock=server_clock) as emu:
            box["emu"] = emu
            customer = emu.add_customer()
            study = emu.add_study(customer)
            report_id = emu.add_partner_report(customer, study, PDF, "p.pdf")
            async with AsyncBigMind(emu.api_key, emu.base_url, backoff_base=0) as c:
                path = await c.reports.download(customer, report_id, tmp_path / "r.pdf")
            assert (2, 2) == (
                emu.stats.requests_by_route["get_report"],
                emu.stats.requests_by_route["download"],
            )
        assert PDF == path.read_bytes()

    async def test_missing_destination_directory(self, client, emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """A destination in a directory that does not exist: ValidationError, no request."""
        with pytest.raises(ValidationError):
            await client.reports.download(emulator.customer_id, "alf_1", tmp_path / "no" / "x")
        assert 0 == _api_requests(emulator)


@pytest.mark.slow
class TestBigUpload:
    async def test_25_mib_upload_is_streamed_in_chunks(
        self, client, emulator, tmp_path: Path
    ) -> None:  # type: ignore[no-untyped-def]
        """Exactly 25 MiB goes through; the server sees many chunks arrive over time, and
        on_progress was called incrementally."""
        path = tmp_path / "big.txt"
        _text_file(path, 26_214_400)
        calls: list[tuple[int, int]] = []
        report = await client.reports.attach(
            emulator.customer_id,
            emulator.study_uid,
            path,
            on_progress=lambda sent, total: calls.append((sent, total)),
        )
        assert 26_214_400 == report.size_bytes
        record = emulator.emu.stats.uploads[-1]
        times = [t for t, _ in record.chunks]
        assert len(record.chunks) > 50
        assert times[-1] > times[0]
        assert len(calls) >= 50
        assert [c[0] for c in calls] == sorted(c[0] for c in calls)
        assert (26_214_400, 26_214_400) == calls[-1]


class TestRateLimitErrors:
    async def test_429_with_no_retries_left(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """RATE_LIMITED surfaces as RateLimitError with retry_after."""
        emulator.emu.faults.inject("rate_limit", route="list_reports", retry_after=7)
        async with AsyncBigMind(emulator.api_key, emulator.base_url, max_retries=0) as c:
            with pytest.raises(RateLimitError) as info:
                await c.reports.list(emulator.customer_id, emulator.study_uid)
        assert (429, 7.0) == (info.value.status, info.value.retry_after)
