"""Attach: multipart parsing, type and size checks, quota, side effects, streaming."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bigmind_async.emulator import MAX_REPORT_BYTES
from bigmind_async.emulator._state import Storage

from .helpers import DOC, PDF, TXT, Env, call, docx_bytes, form, reports_url, study_url

REPORT_KEYS = {
    "reportId", "studyInstanceUid", "entityId", "title", "reportType", "isPrimary", "fileName",
    "mimeType", "sizeBytes", "sha256", "createdAt", "attachedByPartnerKeyId",
}  # fmt: skip


class TestAttachHappyPath:
    async def test_returns_201_with_the_report(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """201 with a Report of exactly the assumed shape, fields echoing the form."""
        reply = await call(
            client,
            "POST",
            reports_url(emulator),
            data=form(PDF, "scan.pdf", title="Radiology Report", reportType="radiology",
                      isPrimary="true", silent="false"),
        )  # fmt: skip
        assert reply.status == 201
        report = reply.data
        assert set(report) == REPORT_KEYS
        assert re.match(r"^alf_[0-9A-HJKMNP-TV-Z]{26}$", report["reportId"])
        study = (await call(client, "GET", study_url(emulator))).data["study"]
        assert {
            "studyInstanceUid": emulator.study_uid,
            "entityId": study["entityId"],
            "title": "Radiology Report",
            "reportType": "radiology",
            "isPrimary": True,
            "fileName": "scan.pdf",
            "mimeType": "application/pdf",
            "sizeBytes": len(PDF),
            "sha256": hashlib.sha256(PDF).hexdigest(),
            "attachedByPartnerKeyId": "pk_1_1",
        } == {k: v for k, v in report.items() if k not in ("reportId", "createdAt")}
        assert re.match(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$", report["createdAt"])

    async def test_defaults_title_type_and_flags(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Without fields: title = file name, reportType other, isPrimary false."""
        report = (
            await call(client, "POST", reports_url(emulator), data=form(TXT, "notes.txt"))
        ).data
        assert (
            report["title"], report["reportType"], report["isPrimary"], report["mimeType"]
        ) == ("notes.txt", "other", False, "text/plain")  # fmt: skip

    async def test_fields_may_follow_the_file(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Parts in any order: fields after the file still apply."""
        data = aiohttp.FormData()
        data.add_field("file", PDF, filename="a.pdf")
        data.add_field("reportType", "lab")
        data.add_field("title", "Late title")
        report = (await call(client, "POST", reports_url(emulator), data=data)).data
        assert (report["reportType"], report["title"]) == ("lab", "Late title")

    async def test_report_count_grows_and_list_shows_it(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """After an attach the study's reportCount is 1 and list reports returns it."""
        report = (await call(client, "POST", reports_url(emulator), data=form(PDF))).data
        study = (await call(client, "GET", study_url(emulator))).data
        listed = (await call(client, "GET", reports_url(emulator))).data["reports"]
        assert study["reportCount"] == 1
        assert [report] == listed

    async def test_uses_and_counts_quota(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """The report's bytes count against the customer's storage."""
        before = emulator.emu.customer_usage(emulator.customer_id)["usedBytes"]
        await call(client, "POST", reports_url(emulator), data=form(PDF))
        after = emulator.emu.customer_usage(emulator.customer_id)["usedBytes"]
        assert len(PDF) == after - before

    async def test_visibility_comment_unless_silent(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A comment is recorded for a normal attach and not for silent=true."""
        loud = (await call(client, "POST", reports_url(emulator), data=form(PDF))).data
        await call(client, "POST", reports_url(emulator), data=form(PDF, silent="1"))
        assert [loud["reportId"]] == [c["reportId"] for c in emulator.emu.comments]

    async def test_bytes_are_stored_on_disk(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """The stored file holds exactly the uploaded bytes, under the storage dir."""
        report = (await call(client, "POST", reports_url(emulator), data=form(DOC, "a.doc"))).data
        path = emulator.emu.report_path(report["reportId"])
        assert emulator.emu.storage_dir in path.parents
        assert path.read_bytes() == DOC
        assert list((emulator.emu.storage_dir / "tmp").iterdir()) == []

    async def test_sha256_can_be_left_out(self, anonymous: aiohttp.ClientSession) -> None:
        """include_sha256=False: reports carry no sha256 key."""
        from bigmind_async.emulator import Emulator

        async with Emulator(include_sha256=False) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            url = f"{emu.base_url}/customers/{customer}/dicom-studies/{study}/reports"
            reply = await call(anonymous, "POST", url, data=form(PDF),
                               headers={"X-API-Key": emu.api_key})  # fmt: skip
        assert "sha256" not in reply.data


class TestContentTypes:
    @pytest.mark.parametrize(
        ("content", "file_name", "mime"),
        [
            (PDF, "r.pdf", "application/pdf"),
            (PDF, "R.PDF", "application/pdf"),
            (DOC, "r.doc", "application/msword"),
            (docx_bytes(), "r.docx",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
            (TXT, "r.txt", "text/plain"),
            (PDF, "no-extension", "application/pdf"),
            (TXT, "README", "text/plain"),
            (docx_bytes(), "report",
             "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ],
    )  # fmt: skip
    async def test_accepted_types(
        self,
        emulator: Env,
        client: aiohttp.ClientSession,
        content: bytes,
        file_name: str,
        mime: str,
    ) -> None:
        """PDF, DOC, DOCX and TXT are recognised by content; the mimeType follows."""
        reply = await call(client, "POST", reports_url(emulator), data=form(content, file_name))
        assert reply.status == 201, reply.json
        assert mime == reply.data["mimeType"]

    @pytest.mark.parametrize(
        ("content", "file_name"),
        [
            (docx_bytes(with_word=False), "fake.docx"),
            (docx_bytes(with_word=False), "fake"),
            (b"PK\x03\x04 not really a zip", "broken.docx"),
            (b"line one\x00line two", "nul.txt"),
            (b"caf\xe9 latin-1", "latin1.txt"),
            (b"\xff\xd8\xff\xe0 JFIF image", "photo.jpg"),
            (b"\xff\xd8\xff\xe0 JFIF image", "photo"),
            (b"", "empty.txt"),
            (PDF, "scan.txt"),
            (TXT, "notes.pdf"),
            (DOC, "old.docx"),
            (docx_bytes(), "new.doc"),
            (TXT, "notes.md"),
            (PDF, "scan.pdf.exe"),
        ],
    )
    async def test_rejected_content_or_mismatched_extension(
        self, emulator: Env, client: aiohttp.ClientSession, content: bytes, file_name: str
    ) -> None:
        """Unknown content, or an extension that disagrees -> 400 INVALID_REPORT_TYPE."""
        reply = await call(client, "POST", reports_url(emulator), data=form(content, file_name))
        reply.error(400, "INVALID_REPORT_TYPE")
        assert emulator.emu.reports() == []

    async def test_utf8_split_across_chunks_is_text(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A multi-byte character straddling a chunk boundary is still valid UTF-8."""
        content = b"a" * (64 * 1024 - 1) + "é".encode() * 100
        reply = await call(client, "POST", reports_url(emulator), data=form(content, "x.txt"))
        assert reply.data["mimeType"] == "text/plain"

    async def test_file_name_is_reduced_to_its_base_name(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A path in the file name keeps only the last component."""
        reply = await call(
            client, "POST", reports_url(emulator), data=form(PDF, "C:\\scans\\..\\x.pdf")
        )
        assert reply.data["fileName"] == "x.pdf"


class TestAttachValidation:
    @pytest.mark.parametrize("value", ["RADIOLOGY", "radiology ", "xray", "Other", ""])
    async def test_bad_report_type(
        self, emulator: Env, client: aiohttp.ClientSession, value: str
    ) -> None:
        """A reportType outside the five values -> 400 INVALID_REPORT_TYPE."""
        reply = await call(client, "POST", reports_url(emulator), data=form(PDF, reportType=value))
        reply.error(400, "INVALID_REPORT_TYPE")

    @pytest.mark.parametrize("field", ["isPrimary", "silent"])
    @pytest.mark.parametrize("value", ["yes", "TRUEISH", "2", ""])
    async def test_bad_boolean(
        self, emulator: Env, client: aiohttp.ClientSession, field: str, value: str
    ) -> None:
        """Booleans accept true/false/1/0 only; else VALIDATION_FAILED on that field."""
        reply = await call(client, "POST", reports_url(emulator), data=form(PDF, **{field: value}))
        error = reply.error(400, "VALIDATION_FAILED")
        assert [field] == [d["field"] for d in error["details"]]

    @pytest.mark.parametrize("value", ["TRUE", "False", "1", "0"])
    async def test_boolean_spellings(
        self, emulator: Env, client: aiohttp.ClientSession, value: str
    ) -> None:
        """true/false in any case and 1/0 are booleans."""
        reply = await call(client, "POST", reports_url(emulator), data=form(PDF, isPrimary=value))
        assert (value.lower() in ("true", "1")) is reply.data["isPrimary"]

    async def test_missing_file(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """A form without a file part -> VALIDATION_FAILED on field file."""
        data = aiohttp.FormData()
        data.add_field("title", "x")
        data.add_field("attachment", PDF, filename="a.pdf")
        error = (await call(client, "POST", reports_url(emulator), data=data)).error(
            400, "VALIDATION_FAILED"
        )
        assert error["details"] == [{"field": "file", "message": "is required"}]

    @pytest.mark.parametrize(
        ("body", "content_type"),
        [
            (b'{"file": "x"}', "application/json"),
            (b"file=x", "application/x-www-form-urlencoded"),
            (PDF, "application/pdf"),
            (b"--x--", "multipart/form-data"),
        ],
    )
    async def test_non_multipart_body(
        self, emulator: Env, client: aiohttp.ClientSession, body: bytes, content_type: str
    ) -> None:
        """A body that is not multipart/form-data with a boundary -> VALIDATION_FAILED."""
        reply = await call(
            client, "POST", reports_url(emulator), data=body,
            headers={"Content-Type": content_type},
        )  # fmt: skip
        reply.error(400, "VALIDATION_FAILED")

    async def test_unindexed_study(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """Attaching to an unindexed study -> 404 STUDY_NOT_FOUND, nothing stored."""
        url = reports_url(emulator, emulator.unindexed_study_uid)
        (await call(client, "POST", url, data=form(PDF))).error(404, "STUDY_NOT_FOUND")
        assert emulator.emu.reports() == []

    async def test_study_checked_before_body(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """An unknown study wins over a bad body; a bad UID is VALIDATION_FAILED."""
        unknown = await call(client, "POST", reports_url(emulator, "9.9"), data=b"junk")
        unknown.error(404, "STUDY_NOT_FOUND")
        bad = await call(client, "POST", reports_url(emulator, "9..9"), data=form(PDF))
        assert bad.error(400, "VALIDATION_FAILED")["details"][0]["field"] == "studyInstanceUid"


class TestStorageQuota:
    async def test_storage_full_with_breakdown(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """used + size > quota -> 402 STORAGE_FULL with quotaGB, usedBytes, requiredBytes."""
        gib = 1024**3
        emulator.emu.set_quota(emulator.customer_id, quota_bytes=500 * gib,
                               used_bytes=500 * gib - len(PDF) + 1)  # fmt: skip
        reply = await call(client, "POST", reports_url(emulator), data=form(PDF))
        error = reply.error(402, "STORAGE_FULL")
        assert {
            "quotaGB": 500,
            "usedBytes": 500 * gib - len(PDF) + 1,
            "requiredBytes": len(PDF),
        } == error["details"]
        assert emulator.emu.reports() == []
        assert list((emulator.emu.storage_dir / "tmp").iterdir()) == []

    async def test_exactly_filling_the_quota_is_allowed(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """used + size == quota still fits."""
        customer = emulator.emu.add_customer(quota_bytes=1000, used_bytes=1000 - len(PDF))
        study = emulator.emu.add_study(customer)
        reply = await call(client, "POST", reports_url(emulator, study, customer), data=form(PDF))
        assert reply.status == 201
        again = await call(client, "POST", reports_url(emulator, study, customer), data=form(PDF))
        again.error(402, "STORAGE_FULL")


class TestUploadLimits:
    async def test_exactly_the_limit_is_accepted(
        self, emulator: Env, client: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        """A 26,214,400-byte file is stored whole."""
        path = tmp_path / "big.pdf"
        with path.open("wb") as handle:
            handle.write(b"%PDF-")
            handle.truncate(MAX_REPORT_BYTES)
        with path.open("rb") as handle:
            reply = await call(client, "POST", reports_url(emulator), data=form(handle, "big.pdf"))
        assert reply.data["sizeBytes"] == MAX_REPORT_BYTES
        assert emulator.emu.report_path(reply.data["reportId"]).stat().st_size == MAX_REPORT_BYTES

    async def test_one_byte_over_is_file_too_large(
        self, emulator: Env, client: aiohttp.ClientSession, tmp_path: Path
    ) -> None:
        """26,214,401 bytes -> 400 FILE_TOO_LARGE; reading stopped near the limit."""
        path = tmp_path / "big.pdf"
        with path.open("wb") as handle:
            handle.write(b"%PDF-")
            handle.truncate(MAX_REPORT_BYTES + 1)
        with path.open("rb") as handle:
            reply = await call(client, "POST", reports_url(emulator), data=form(handle, "big.pdf"))
        reply.error(400, "FILE_TOO_LARGE")
        record = emulator.emu.stats.uploads[-1]
        assert record.outcome == "FILE_TOO_LARGE"
        assert MAX_REPORT_BYTES < record.bytes_received <= MAX_REPORT_BYTES + 64 * 1024
        assert emulator.emu.reports() == []
        assert list((emulator.emu.storage_dir / "tmp").iterdir()) == []

    async def test_far_too_large_upload_gets_an_answer(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A client still streaming 40 MB gets the 400 (or at worst a clean disconnect)."""

        async def forty_megabytes() -> AsyncIterator[bytes]:
            yield b"%PDF-"
            for _ in range(40 * 16):
                yield b"\0" * 65536

        try:
            reply = await call(
                client, "POST", reports_url(emulator), data=form(forty_megabytes(), "big.pdf")
            )
        except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError):
            pass
        else:
            reply.error(400, "FILE_TOO_LARGE")
        assert emulator.emu.reports() == []


class TestTempFiles:
    async def test_failed_commit_leaves_no_temp_file(
        self, emulator: Env, client: aiohttp.ClientSession, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An OSError while moving the upload into place -> 500, and the temp file is removed."""

        def full_disk(self: Storage, temp_path: Path, report_id: str) -> Path:
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(Storage, "commit", full_disk)
        reply = await call(client, "POST", reports_url(emulator), data=form(PDF))
        reply.error(500, "INTERNAL_ERROR")
        assert "aborted" == emulator.emu.stats.uploads[-1].outcome
        assert emulator.emu.reports() == []
        assert list((emulator.emu.storage_dir / "tmp").iterdir()) == []

    async def test_rejected_content_leaves_no_temp_file(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A file refused after it was received (type, fields) leaves nothing in tmp/."""
        bad_type = await call(client, "POST", reports_url(emulator), data=form(b"\0\1", "a.bin"))
        bad_type.error(400, "INVALID_REPORT_TYPE")
        bad_flag = await call(
            client, "POST", reports_url(emulator), data=form(PDF, "a.pdf", isPrimary="maybe")
        )
        bad_flag.error(400, "VALIDATION_FAILED")
        assert list((emulator.emu.storage_dir / "tmp").iterdir()) == []


class TestStreaming:
    async def test_server_reads_while_client_sends(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """The server receives chunks as they come: an upload is seen in flight mid-send."""
        halfway = asyncio.Event()
        resume = asyncio.Event()

        async def slow_body() -> AsyncIterator[bytes]:
            yield b"%PDF-" + b"\0" * (256 * 1024)
            halfway.set()
            await resume.wait()
            yield b"\0" * (256 * 1024)

        task = asyncio.create_task(
            call(client, "POST", reports_url(emulator), data=form(slow_body(), "s.pdf"))
        )
        stats = emulator.emu.stats
        try:
            await halfway.wait()
            for _ in range(200):
                if stats.upload_bytes_in_flight >= 128 * 1024:
                    break
                await asyncio.sleep(0.01)
            # The multipart reader may hold back a boundary's worth of lookahead.
            assert stats.uploads_in_flight == 1
            assert 128 * 1024 <= stats.upload_bytes_in_flight <= 256 * 1024 + 5
        finally:
            resume.set()
            reply = await task
        assert reply.status == 201
        assert stats.uploads_in_flight == 0
        record = stats.uploads[-1]
        assert ("stored", reply.data["reportId"]) == (record.outcome, record.report_id)
        assert sum(size for _, size in record.chunks) == record.bytes_received == 512 * 1024 + 5
        assert len(record.chunks) > 2
        times = [t for t, _ in record.chunks]
        assert times == sorted(times)
