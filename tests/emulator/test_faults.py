"""Fault injection: errors, 429s, delays, and connection resets before and after commit."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest

from bigmind_async.emulator import FaultInjector

from .helpers import PDF, Env, call, form, report_url, reports_url, studies_url, study_url

DISCONNECTS = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


class TestErrorFaults:
    @pytest.mark.parametrize(
        ("status", "code"),
        [
            (500, "INTERNAL_ERROR"),
            (502, "BAD_GATEWAY"),
            (503, "SERVICE_UNAVAILABLE"),
            (504, "GATEWAY_TIMEOUT"),
        ],
    )
    async def test_error_status_once(
        self, emulator: Env, client: aiohttp.ClientSession, status: int, code: str
    ) -> None:
        """An "error" fault answers its status once in the envelope, then traffic is normal."""
        emulator.emu.faults.inject("error", route="list_studies", status=status)
        (await call(client, "GET", studies_url(emulator))).error(status, code)
        assert (await call(client, "GET", studies_url(emulator))).status == 200
        assert emulator.emu.stats.faults_fired == {"error": 1}

    async def test_rate_limit_fault(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """A "rate_limit" fault answers 429 RATE_LIMITED with its Retry-After."""
        emulator.emu.faults.inject("rate_limit", retry_after=7)
        reply = await call(client, "GET", studies_url(emulator))
        assert reply.error(429, "RATE_LIMITED")["details"] == {"retryAfter": 7}
        assert reply.headers["Retry-After"] == "7"
        assert emulator.emu.stats.rate_limited == 1

    async def test_times_route_and_method_select_requests(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """times=N fires on the next N matching requests only; others pass."""
        emulator.emu.faults.inject("error", route="get_study", method="GET", times=2)
        assert (await call(client, "GET", studies_url(emulator))).status == 200
        statuses = [(await call(client, "GET", study_url(emulator))).status for _ in range(3)]
        assert statuses == [500, 500, 200]
        assert emulator.emu.faults.faults == []

    async def test_probability_is_reproducible(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """probability=p with a seed fires on the same requests every run."""

        async def run() -> list[int]:
            emulator.emu.faults.clear()
            emulator.emu.faults.inject("error", probability=0.2, seed=42)
            return [(await call(client, "GET", studies_url(emulator))).status for _ in range(40)]

        first, second = await run(), await run()
        assert first == second
        assert 2 <= first.count(500) <= 16
        assert set(first) == {200, 500}

    async def test_clear_removes_faults(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """faults.clear() stops every fault."""
        emulator.emu.faults.inject("error", times=None)
        emulator.emu.faults.clear()
        assert (await call(client, "GET", studies_url(emulator))).status == 200

    async def test_faults_fire_after_auth(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """An unauthenticated request gets 401 and does not consume a fault."""
        emulator.emu.faults.inject("error")
        (await call(anonymous, "GET", studies_url(emulator))).error(401, "UNAUTHENTICATED")
        assert len(emulator.emu.faults.faults) == 1

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"kind": "explode"}, "unknown fault kind"),
            ({"kind": "error", "route": "nope"}, "unknown route"),
            ({"kind": "error", "status": 404}, "error status"),
            ({"kind": "error", "probability": 1.5}, "probability"),
            ({"kind": "error", "times": 0}, "times"),
        ],
    )
    def test_bad_fault_arguments(self, kwargs: dict[str, object], message: str) -> None:
        """inject() refuses what it cannot do."""
        with pytest.raises(ValueError, match=message):
            FaultInjector().inject(**kwargs)  # type: ignore[arg-type]


class TestDelayFault:
    async def test_delay_then_normal_answer(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A "delay" fault sleeps, then answers normally."""
        emulator.emu.faults.inject("delay", delay=0.3)
        started = time.monotonic()
        reply = await call(client, "GET", studies_url(emulator))
        assert reply.status == 200
        assert time.monotonic() - started >= 0.3

    async def test_delay_counts_concurrency(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Delayed requests overlap; max_concurrent_requests sees it."""
        emulator.emu.faults.inject("delay", delay=0.2, times=3)
        replies = await asyncio.gather(
            *(call(client, "GET", studies_url(emulator)) for _ in range(3))
        )
        assert [r.status for r in replies] == [200, 200, 200]
        assert emulator.emu.stats.max_concurrent_requests == 3


class TestConnectionResets:
    async def test_reset_before_commit_stores_nothing(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """reset_before_commit: the client sees a disconnect and no report exists."""
        emulator.emu.faults.inject("reset_before_commit", route="attach_report")
        with pytest.raises(DISCONNECTS):
            await call(client, "POST", reports_url(emulator), data=form(PDF))
        assert emulator.emu.reports() == []
        assert emulator.emu.stats.responses_by_status[0] == 1
        assert (await call(client, "GET", reports_url(emulator))).data == {"reports": []}

    async def test_reset_after_commit_stores_the_report(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """reset_after_commit: the client sees a disconnect, yet the report IS stored."""
        emulator.emu.faults.inject("reset_after_commit", route="attach_report")
        with pytest.raises(DISCONNECTS):
            await call(client, "POST", reports_url(emulator), data=form(PDF, title="ghost"))
        stored = (await call(client, "GET", reports_url(emulator))).data["reports"]
        assert [r["title"] for r in stored] == ["ghost"]
        assert emulator.emu.stats.reports_stored == 1
        assert emulator.emu.stats.faults_fired == {"reset_after_commit": 1}

    async def test_reset_after_commit_on_detach(
        self, emulator: Env, client: aiohttp.ClientSession, fresh: aiohttp.ClientSession
    ) -> None:
        """A reset after a committed DELETE: the retry then sees REPORT_NOT_FOUND."""
        report_id = (await call(client, "POST", reports_url(emulator), data=form(PDF))).data[
            "reportId"
        ]
        emulator.emu.faults.inject("reset_after_commit", method="DELETE")
        with pytest.raises(DISCONNECTS):
            await call(fresh, "DELETE", report_url(emulator, report_id))
        again = await call(client, "DELETE", report_url(emulator, report_id))
        again.error(404, "REPORT_NOT_FOUND")

    async def test_download_faults(
        self,
        emulator: Env,
        client: aiohttp.ClientSession,
        fresh_anonymous: aiohttp.ClientSession,
    ) -> None:
        """Faults can target the presigned download; route=None leaves downloads alone."""
        report_id = (await call(client, "POST", reports_url(emulator), data=form(PDF))).data[
            "reportId"
        ]
        url = (await call(client, "GET", report_url(emulator, report_id))).data["downloadUrl"]
        emulator.emu.faults.inject("error", times=None)
        assert (await call(fresh_anonymous, "GET", url)).status == 200
        emulator.emu.faults.clear()
        emulator.emu.faults.inject("error", route="download", status=503)
        assert (await call(fresh_anonymous, "GET", url)).status == 503
        emulator.emu.faults.inject("reset_before_commit", route="download")
        with pytest.raises(DISCONNECTS):
            await call(fresh_anonymous, "GET", url)
        assert (await call(fresh_anonymous, "GET", url)).raw == PDF
