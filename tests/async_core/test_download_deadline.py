"""``reports.download`` keeps to one deadline across its API calls and presigned fetches, and
retries the fetch by the same rules as an API GET."""

from __future__ import annotations

from pathlib import Path

import aiofiles.os
import pytest

from bigmind_async import APITimeoutError, AsyncBigMind
from bigmind_async.emulator import Emulator

PDF = b"%PDF-1.7\n" + b"x" * 2000


class TestDownloadDeadline:
    async def test_retried_fetch_gets_only_what_is_left(self, emulator, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        """Deadline 1 s: a fetch answering 500 after 0.6 s, then one answering after 0.6 s.
        The retry may only take the 0.4 s left, so the call ends in APITimeoutError."""
        emu = emulator.emu
        report_id = emu.add_partner_report(emulator.customer_id, emulator.study_uid, PDF, "p.pdf")
        emu.faults.inject("error", route="download", status=500, delay=0.6)
        emu.faults.inject("delay", route="download", delay=0.6)
        async with AsyncBigMind(
            emu.api_key, emu.base_url, rate_limit=None, backoff_base=0, timeout=1.0
        ) as client:
            with pytest.raises(APITimeoutError, match="deadline"):
                await client.reports.download(emulator.customer_id, report_id, tmp_path)
        assert 2 == emu.stats.requests_by_route["download"]
        assert [] == await aiofiles.os.listdir(tmp_path)

    async def test_refetching_the_url_spends_the_same_deadline(self, tmp_path: Path) -> None:
        """An expired URL is fetched again within the call's deadline, not a fresh one: two
        0.6 s ``get`` calls overrun a 1 s deadline, and no presigned fetch goes out after it."""
        async with Emulator(rate_limit=None, download_url_ttl=1) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            report_id = emu.add_partner_report(customer, study, PDF, "p.pdf")
            emu.faults.inject("delay", route="get_report", delay=0.6, times=2)
            async with AsyncBigMind(
                emu.api_key, emu.base_url, rate_limit=None, backoff_base=0, timeout=1.0
            ) as client:
                with pytest.raises(APITimeoutError):
                    await client.reports.download(customer, report_id, tmp_path)
            assert (2, 0) == (
                emu.stats.requests_by_route["get_report"],
                emu.stats.requests_by_route["download"],
            )


class TestDownloadRetries:
    async def test_429_from_the_presigned_url_is_retried(
        self, client, emulator, tmp_path: Path
    ) -> None:  # type: ignore[no-untyped-def]
        """A 429 is retried as for any GET (it used to be raised as DOWNLOAD_FAILED)."""
        emu = emulator.emu
        report_id = emu.add_partner_report(emulator.customer_id, emulator.study_uid, PDF, "p.pdf")
        emu.faults.inject("rate_limit", route="download", retry_after=0)
        path = await client.reports.download(emulator.customer_id, report_id, tmp_path)
        assert (PDF, 2) == (path.read_bytes(), emu.stats.requests_by_route["download"])
