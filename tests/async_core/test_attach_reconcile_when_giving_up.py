"""An attach whose outcome is unknown is looked for once more when its retries run out, so
the error it raises never hides a report the server stored (the caller would attach it again)."""

from __future__ import annotations

import pytest

from bigmind_async import APIConnectionError, Report

PDF = b"%PDF-1.7\n" + b"x" * 2000


async def _stored(client, emulator) -> list[Report]:  # type: ignore[no-untyped-def]
    return [
        r
        for r in await client.reports.list(emulator.customer_id, emulator.study_uid)
        if r.file_name == "f.pdf"
    ]


class TestReconcileWhenGivingUp:
    async def test_no_retries_reset_after_commit_returns_the_report(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """max_retries=0 and a reset after the server stored it: the stored report, one listing."""
        emulator.emu.faults.inject("reset_after_commit", route="attach_report")
        raw = await client.with_options(max_retries=0).with_raw_response.reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"
        )
        listings = emulator.emu.stats.requests_by_route["list_reports"]
        stored = await _stored(client, emulator)
        assert ([raw.parsed.report_id], 1, 1) == (
            [r.report_id for r in stored],
            listings,
            emulator.emu.stats.attach_count,
        )

    async def test_no_retries_reset_before_commit_raises_after_one_listing(
        self, client, emulator
    ) -> None:  # type: ignore[no-untyped-def]
        """max_retries=0 and nothing stored: the original error, after one listing."""
        emulator.emu.faults.inject("reset_before_commit", route="attach_report")
        with pytest.raises(APIConnectionError):
            await client.with_options(max_retries=0).reports.attach(
                emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"
            )
        assert 1 == emulator.emu.stats.requests_by_route["list_reports"]
        assert [] == await _stored(client, emulator)

    async def test_last_attempt_is_checked_too(self, client, emulator) -> None:  # type: ignore[no-untyped-def]
        """max_retries=1: a 500 (looked for, absent), then a reset after commit on the last
        attempt: that attempt's report is found and returned, not raised over."""
        emulator.emu.faults.inject("error", route="attach_report", status=500)
        emulator.emu.faults.inject("reset_after_commit", route="attach_report")
        report = await client.with_options(max_retries=1).reports.attach(
            emulator.customer_id, emulator.study_uid, PDF, filename="f.pdf"
        )
        listings = emulator.emu.stats.requests_by_route["list_reports"]
        assert ([report.report_id], 2) == (
            [r.report_id for r in await _stored(client, emulator)],
            listings,
        )
