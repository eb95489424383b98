"""Stats and the HTTP side channel (/_emulator/...) for out-of-process control."""

from __future__ import annotations

import aiohttp
import pytest

from bigmind_async.emulator._app import _is_loopback

from .helpers import PDF, Env, call, form, reports_url, studies_url, study_url


def side(env: Env, path: str) -> str:
    return f"{env.emu.origin}/_emulator{path}"


class TestStats:
    async def test_counts_routes_statuses_and_reports(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Requests per route and status, attaches, reports and bytes stored are counted."""
        await call(client, "GET", studies_url(emulator))
        await call(client, "GET", study_url(emulator, "1.2.3"))
        await call(client, "POST", reports_url(emulator), data=form(PDF))
        await call(client, "POST", reports_url(emulator), data=form(b"\x00", "x.bin"))
        stats = emulator.emu.stats
        assert stats.requests_by_route == {
            "list_studies": 1,
            "get_study": 1,
            "attach_report": 2,
        }
        assert stats.responses_by_route_status["attach_report"] == {201: 1, 400: 1}
        assert stats.responses_by_status == {200: 1, 404: 1, 201: 1, 400: 1}
        assert (stats.attach_count, stats.reports_stored, stats.bytes_stored) == (2, 1, len(PDF))
        assert [u.outcome for u in stats.uploads] == ["stored", "INVALID_REPORT_TYPE"]

    async def test_reset(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """stats.reset() zeroes every counter."""
        await call(client, "GET", studies_url(emulator))
        emulator.emu.stats.reset()
        assert emulator.emu.stats.to_json()["requestsTotal"] == 0
        assert emulator.emu.stats.requests_by_route == {}


class TestSideChannel:
    async def test_health_and_stats(self, emulator: Env, anonymous: aiohttp.ClientSession) -> None:
        """GET /_emulator/stats needs no key and returns the counters as JSON."""
        health = await call(anonymous, "GET", side(emulator, "/health"))
        assert health.data == {"status": "ok", "baseUrl": emulator.base_url}
        stats = (await call(anonymous, "GET", side(emulator, "/stats"))).data
        assert stats["requestsByRoute"] == {"side_channel": 2}
        assert stats["responsesByStatus"] == {"200": 1}
        reset = await call(anonymous, "DELETE", side(emulator, "/stats"))
        assert reset.status == 200
        # The reset request itself started before the reset and finished after it.
        assert emulator.emu.stats.requests_total == 0
        assert emulator.emu.stats.responses_by_status == {200: 1}

    async def test_faults_over_http(
        self, emulator: Env, client: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
    ) -> None:
        """POST /_emulator/faults injects, GET lists, DELETE clears."""
        body = {"kind": "rate_limit", "route": "list_studies", "times": 2, "retryAfter": 3}
        created = await call(anonymous, "POST", side(emulator, "/faults"), json=body)
        assert created.status == 201
        assert created.data["kind"] == "rate_limit"
        listed = (await call(anonymous, "GET", side(emulator, "/faults"))).data["faults"]
        assert [f["remaining"] for f in listed] == [2]
        reply = await call(client, "GET", studies_url(emulator))
        reply.error(429, "RATE_LIMITED")
        assert reply.headers["Retry-After"] == "3"
        await call(anonymous, "DELETE", side(emulator, "/faults"))
        assert (await call(client, "GET", studies_url(emulator))).status == 200

    async def test_bad_fault_is_validation_failed(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """An unknown fault kind or a non-JSON body -> 400 VALIDATION_FAILED."""
        bad_kind = await call(anonymous, "POST", side(emulator, "/faults"), json={"kind": "x"})
        bad_kind.error(400, "VALIDATION_FAILED")
        not_json = await call(anonymous, "POST", side(emulator, "/faults"), data=b"{")
        not_json.error(400, "VALIDATION_FAILED")

    async def test_webhooks_over_http(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """POST /_emulator/webhooks registers a receiver and returns its secret."""
        created = await call(
            anonymous,
            "POST",
            side(emulator, "/webhooks"),
            json={"url": "http://127.0.0.1:9/h", "events": ["dicom.report.attached"]},
        )
        assert created.data["secret"].startswith("whsec_")
        listed = (await call(anonymous, "GET", side(emulator, "/webhooks"))).data
        assert listed["webhooks"][0]["events"] == ["dicom.report.attached"]
        deliveries = await call(anonymous, "GET", side(emulator, "/webhooks/deliveries"))
        assert deliveries.data == {"deliveries": []}
        missing = await call(anonymous, "POST", side(emulator, "/webhooks"), json={})
        missing.error(400, "VALIDATION_FAILED")

    async def test_seed_over_http(
        self, emulator: Env, client: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
    ) -> None:
        """POST /_emulator/seed adds the demo data, customers, studies and user reports."""
        demo = await call(anonymous, "POST", side(emulator, "/seed"), json={"seed": "demo"})
        assert demo.data == {"customerId": "pc_1_1715600000000"}
        made = await call(
            anonymous,
            "POST",
            side(emulator, "/seed"),
            json={
                "customer": {"quotaBytes": 1000},
                "study": {"modality": "MR", "bodyPart": "HEAD", "patientName": "ROE^RAY"},
                "userReport": {"text": "hello", "fileName": "n.txt"},
            },
        )
        customer, uid = made.data["customerId"], made.data["studyInstanceUid"]
        study = (await call(client, "GET", study_url(emulator, uid, customer))).data
        assert (study["study"]["modality"], study["entity"]["name"], study["reportCount"]) == (
            "MR",
            "ROE^RAY",
            1,
        )
        bad = await call(anonymous, "POST", side(emulator, "/seed"), json={"seed": "other"})
        bad.error(400, "VALIDATION_FAILED")
        empty = await call(anonymous, "POST", side(emulator, "/seed"), json={})
        empty.error(400, "VALIDATION_FAILED")

    async def test_comments_over_http(
        self, emulator: Env, client: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
    ) -> None:
        """GET /_emulator/comments lists the visibility comments."""
        await call(client, "POST", reports_url(emulator), data=form(PDF, title="T"))
        comments = (await call(anonymous, "GET", side(emulator, "/comments"))).data["comments"]
        assert [c["text"] for c in comments] == ["Report attached: T"]

    @pytest.mark.parametrize(
        ("remote", "allowed"),
        [
            ("127.0.0.1", True),
            ("127.8.9.1", True),
            ("::1", True),
            ("10.0.0.5", False),
            ("192.168.1.2", False),
            (None, False),
            ("garbage", False),
        ],
    )
    def test_loopback_only(self, remote: str | None, allowed: bool) -> None:
        """The side channel answers loopback peers only."""
        assert _is_loopback(remote) is allowed
