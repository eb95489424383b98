"""List reports, get report with its presigned download URL, and detach rules."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from bigmind_async.emulator import Emulator

from .helpers import PDF, TXT, Env, auth, call, form, report_url, reports_url, study_url


class FakeClock:
    """A wall clock the test moves by hand."""

    def __init__(self, now: float = 1_778_680_931.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def timed() -> AsyncIterator[tuple[Emulator, FakeClock, str, str]]:
    """An emulator on a fake clock, with one customer and one indexed study."""
    clock = FakeClock()
    async with Emulator(rate_limit=None, clock=clock) as emu:
        customer = emu.add_customer()
        study = emu.add_study(customer)
        yield emu, clock, customer, study


async def _attach(client: aiohttp.ClientSession, env: Env, content: bytes = PDF) -> str:
    reply = await call(client, "POST", reports_url(env), data=form(content))
    return str(reply.data["reportId"])


class TestListReports:
    async def test_partner_and_user_reports(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Both kinds are listed; the user-uploaded one has attachedByPartnerKeyId null."""
        user = emulator.emu.add_user_report(
            emulator.customer_id, emulator.study_uid, TXT, "outside.txt", report_type="lab"
        )
        mine = await _attach(client, emulator)
        reports = (await call(client, "GET", reports_url(emulator))).data["reports"]
        assert [(r["reportId"], r["attachedByPartnerKeyId"]) for r in reports] == [
            (user, None),
            (mine, "pk_1_1"),
        ]
        assert reports[0]["mimeType"] == "text/plain"
        assert reports[0]["sha256"] == hashlib.sha256(TXT).hexdigest()

    async def test_empty_list(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """A study with no reports lists none."""
        assert (await call(client, "GET", reports_url(emulator))).data == {"reports": []}

    async def test_unknown_and_unindexed_study(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Reports of an unknown or unindexed study -> identical 404 STUDY_NOT_FOUND."""
        unknown = await call(client, "GET", reports_url(emulator, "1.2.3"))
        unindexed = await call(client, "GET", reports_url(emulator, emulator.unindexed_study_uid))
        unknown.error(404, "STUDY_NOT_FOUND")
        assert unknown.raw == unindexed.raw


class TestSeededReports:
    async def test_named_like_an_attach(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """A seeded report gets the names an attach would: base name, report.<kind>, title."""
        emu, customer, study = emulator.emu, emulator.customer_id, emulator.study_uid
        unnamed = emu.add_user_report(customer, study, PDF, "")
        pathed = emu.add_user_report(customer, study, TXT, "C:\\scans\\note.txt", title=" ")
        attached = (await call(client, "POST", reports_url(emulator), data=form(PDF, ""))).data
        names = {r["reportId"]: (r["fileName"], r["title"]) for r in emu.reports(customer)}
        assert ("report.pdf", "report.pdf") == (attached["fileName"], attached["title"])
        assert ("report.pdf", "report.pdf") == names[unnamed]
        assert ("note.txt", "note.txt") == names[pathed]

    async def test_unindexed_study_is_refused(self, emulator: Env) -> None:
        """Like the API, the seeder attaches nothing to a study that is not indexed yet."""
        with pytest.raises(ValueError, match="not indexed"):
            emulator.emu.add_user_report(
                emulator.customer_id, emulator.unindexed_study_uid, PDF, "a.pdf"
            )
        assert emulator.emu.reports() == []
        assert list((emulator.emu.storage_dir / "tmp").iterdir()) == []

    async def test_refused_content_leaves_no_file(self, emulator: Env) -> None:
        """Content that is no report type -> ValueError, and nothing is left on disk."""
        with pytest.raises(ValueError, match="PDF, DOC, DOCX or TXT"):
            emulator.emu.add_user_report(emulator.customer_id, emulator.study_uid, b"\0", "x")
        assert emulator.emu.reports() == []
        storage = emulator.emu.storage_dir
        assert [] == [*(storage / "tmp").iterdir(), *(storage / "reports").iterdir()]


class TestGetReport:
    async def test_metadata_and_download_url(
        self, emulator: Env, client: aiohttp.ClientSession, anonymous: aiohttp.ClientSession
    ) -> None:
        """Get report = the Report + downloadUrl (works without a key) + 300 s expiry."""
        report_id = await _attach(client, emulator)
        listed = (await call(client, "GET", reports_url(emulator))).data["reports"][0]
        data = (await call(client, "GET", report_url(emulator, report_id))).data
        url = data.pop("downloadUrl")
        assert data.pop("downloadUrlExpiresInSeconds") == 300
        assert data == listed
        assert url.startswith(f"{emulator.emu.origin}/_emulator/files/{report_id}?")
        download = await call(anonymous, "GET", url)
        assert download.status == 200
        assert download.raw == PDF
        assert download.headers["Content-Type"] == "application/pdf"
        assert "report.pdf" in download.headers["Content-Disposition"]

    async def test_unknown_report(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """An unknown report id -> 404 REPORT_NOT_FOUND."""
        reply = await call(client, "GET", report_url(emulator, "alf_NOPE"))
        reply.error(404, "REPORT_NOT_FOUND")

    async def test_report_of_another_customer(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A report id of another customer (same partner) -> 404 REPORT_NOT_FOUND."""
        report_id = await _attach(client, emulator)
        other = emulator.emu.add_customer()
        unknown = await call(client, "GET", report_url(emulator, "alf_NOPE", other))
        reply = await call(client, "GET", report_url(emulator, report_id, other))
        reply.error(404, "REPORT_NOT_FOUND")
        assert unknown.raw == reply.raw


class TestPresignedUrl:
    async def _url(self, emu: Emulator, customer: str, study: str) -> tuple[str, str]:
        async with aiohttp.ClientSession(headers=auth(emu.api_key)) as s:
            base = f"{emu.base_url}/customers/{customer}"
            created = await call(s, "POST", f"{base}/dicom-studies/{study}/reports", data=form(PDF))
            report_id = created.data["reportId"]
            got = await call(s, "GET", f"{base}/reports/{report_id}")
        return report_id, got.data["downloadUrl"]

    async def test_valid_until_300_seconds(
        self,
        timed: tuple[Emulator, FakeClock, str, str],
        anonymous: aiohttp.ClientSession,
    ) -> None:
        """The URL works at +300 s and answers 403 ExpiredToken after."""
        emu, clock, customer, study = timed
        _, url = await self._url(emu, customer, study)
        assert int(parse_qs(urlsplit(url).query)["expires"][0]) == int(clock.now) + 300
        clock.now += 300
        fetched = await call(anonymous, "GET", url)
        assert fetched.status == 200
        assert fetched.headers["X-Request-Id"].startswith("req_")
        clock.now += 1
        expired = await call(anonymous, "GET", url)
        assert expired.status == 403
        assert b"<Code>ExpiredToken</Code>" in expired.raw

    @pytest.mark.parametrize("header", ["Authorization", "X-API-Key"])
    async def test_a_key_sent_with_the_url_is_refused(
        self,
        timed: tuple[Emulator, FakeClock, str, str],
        anonymous: aiohttp.ClientSession,
        header: str,
    ) -> None:
        """The URL fetched WITH the API key -> 400 InvalidArgument (S3 refuses a second auth
        mechanism; here it also catches a client leaking its key to the storage host)."""
        emu, _, customer, study = timed
        _, url = await self._url(emu, customer, study)
        key = f"Bearer {emu.api_key}" if header == "Authorization" else emu.api_key
        refused = await call(anonymous, "GET", url, headers={header: key})
        assert refused.status == 400
        assert b"<Code>InvalidArgument</Code>" in refused.raw
        assert (await call(anonymous, "GET", url)).status == 200

    @pytest.mark.parametrize("part", ["signature", "expires", "report", "missing"])
    async def test_tampered_url_is_denied(
        self,
        timed: tuple[Emulator, FakeClock, str, str],
        anonymous: aiohttp.ClientSession,
        part: str,
    ) -> None:
        """Changing the signature, the expiry or the report id -> 403 AccessDenied."""
        emu, _, customer, study = timed
        _, url = await self._url(emu, customer, study)
        other_id, _ = await self._url(emu, customer, study)
        parts = urlsplit(url)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if part == "signature":
            query["signature"] = ("0" if query["signature"][0] != "0" else "1") + query[
                "signature"
            ][1:]
        elif part == "expires":
            query["expires"] = str(int(query["expires"]) + 3600)
        elif part == "report":
            path = path.rsplit("/", 1)[0] + "/" + other_id
        else:
            del query["signature"]
        tampered = f"{parts.scheme}://{parts.netloc}{path}?" + "&".join(
            f"{k}={v}" for k, v in query.items()
        )
        reply = await call(anonymous, "GET", tampered)
        assert reply.status == 403
        assert b"<Code>AccessDenied</Code>" in reply.raw
        assert reply.headers["X-Request-Id"].startswith("req_")

    async def test_detached_report_url_is_gone(
        self, timed: tuple[Emulator, FakeClock, str, str], anonymous: aiohttp.ClientSession
    ) -> None:
        """A still-valid URL of a detached report -> 404 NoSuchKey."""
        emu, _, customer, study = timed
        report_id, url = await self._url(emu, customer, study)
        async with aiohttp.ClientSession(headers=auth(emu.api_key)) as s:
            detach = f"{emu.base_url}/customers/{customer}/reports/{report_id}"
            assert (await call(s, "DELETE", detach)).status == 200
        reply = await call(anonymous, "GET", url)
        assert reply.status == 404
        assert b"<Code>NoSuchKey</Code>" in reply.raw

    async def test_download_does_not_spend_the_rate_limit(
        self, anonymous: aiohttp.ClientSession
    ) -> None:
        """Downloads and side-channel calls are not counted by the partner's rate limit."""
        async with Emulator(rate_limit=60, rate_limit_burst=3) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            _, url = await self._url(emu, customer, study)  # spends 2 of 3 tokens
            for _ in range(5):
                assert (await call(anonymous, "GET", url)).status == 200
                stats = await call(anonymous, "GET", f"{emu.origin}/_emulator/stats")
                assert stats.status == 200
            studies = f"{emu.base_url}/customers/{customer}/dicom-studies"
            headers = auth(emu.api_key)
            assert (await call(anonymous, "GET", studies, headers=headers)).status == 200
            (await call(anonymous, "GET", studies, headers=headers)).error(429, "RATE_LIMITED")


class TestDetach:
    async def test_detach_own_report(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """200 {reportId, detached: true}; the report, its file and its quota bytes are gone."""
        usage = emulator.emu.customer_usage(emulator.customer_id)["usedBytes"]
        report_id = await _attach(client, emulator)
        path = emulator.emu.report_path(report_id)
        reply = await call(client, "DELETE", report_url(emulator, report_id))
        assert reply.status == 200
        assert reply.data == {"reportId": report_id, "detached": True}
        assert not path.exists()
        assert emulator.emu.customer_usage(emulator.customer_id)["usedBytes"] == usage
        assert (await call(client, "GET", reports_url(emulator))).data == {"reports": []}
        study = (await call(client, "GET", study_url(emulator))).data
        assert 0 == study["reportCount"]
        again = await call(client, "DELETE", report_url(emulator, report_id))
        again.error(404, "REPORT_NOT_FOUND")

    async def test_user_uploaded_is_forbidden(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """Deleting a user-uploaded report -> 403 FORBIDDEN, and it stays."""
        user = emulator.emu.add_user_report(emulator.customer_id, emulator.study_uid, PDF, "u.pdf")
        (await call(client, "DELETE", report_url(emulator, user))).error(403, "FORBIDDEN")
        assert [r["reportId"] for r in emulator.emu.reports()] == [user]

    async def test_another_partners_report_is_forbidden(
        self, emulator: Env, client: aiohttp.ClientSession
    ) -> None:
        """A report attached by another partner's key -> 403 FORBIDDEN."""
        other = emulator.emu.add_partner()
        theirs = emulator.emu.add_partner_report(
            emulator.customer_id, emulator.study_uid, PDF, "x.pdf", key_id=other.key_id
        )
        (await call(client, "DELETE", report_url(emulator, theirs))).error(403, "FORBIDDEN")

    async def test_same_partner_other_key_may_detach(
        self, emulator: Env, anonymous: aiohttp.ClientSession
    ) -> None:
        """A report attached with the partner's old key can be detached with its new key."""
        report_id = emulator.emu.add_partner_report(
            emulator.customer_id, emulator.study_uid, PDF, "x.pdf"
        )
        rotated = emulator.emu.add_api_key(emulator.emu.partner)
        emulator.emu.revoke_key(emulator.api_key)
        reply = await call(
            anonymous, "DELETE", report_url(emulator, report_id), headers=auth(rotated.api_key)
        )
        assert reply.data == {"reportId": report_id, "detached": True}

    async def test_unknown_report(self, emulator: Env, client: aiohttp.ClientSession) -> None:
        """Detaching an unknown id -> 404 REPORT_NOT_FOUND."""
        reply = await call(client, "DELETE", report_url(emulator, "alf_01HXNOTHERE"))
        reply.error(404, "REPORT_NOT_FOUND")
