"""The documented workflow, synchronously, against the emulator over loopback HTTP."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from bigmind_sync import (
    APIResponse,
    AttachJob,
    BigMind,
    ConfigurationError,
    FileTooLargeError,
    ForbiddenError,
    Page,
    Pager,
    ReportDownload,
    ReportNotFoundError,
    ReportType,
    ServerError,
    Study,
    StudyNotFoundError,
    ValidationError,
)

from .conftest import PDF, TXT, SyncEnv


class TestWorkflow:
    """List, get, attach, list, get, download, detach: plain values, same models."""

    def test_full_workflow(self, env: SyncEnv, client: BigMind, tmp_path: Path) -> None:
        """Every step of the workflow returns what the async client would."""
        pager = client.studies.list(env.customer_id, modality="CT")
        assert isinstance(pager, Pager)
        ct = list(pager)
        assert all(isinstance(s, Study) for s in ct)
        assert sorted(s.study_instance_uid for s in ct) == sorted(
            env.study_uids[i] for i in (0, 2, 4)
        )
        detail = client.studies.get(env.customer_id, env.study_uid)
        assert (env.study_uid, 0) == (detail.study.study_instance_uid, detail.report_count)

        report = client.reports.attach(
            env.customer_id,
            env.study_uid,
            PDF,
            filename="ct.pdf",
            title="CT",
            report_type="radiology",
        )
        assert (ReportType.RADIOLOGY, "CT", len(PDF)) == (
            report.report_type,
            report.title,
            report.size_bytes,
        )
        listed = client.reports.list(env.customer_id, env.study_uid)
        assert [report.report_id] == [r.report_id for r in listed]

        got = client.reports.get(env.customer_id, report.report_id)
        assert isinstance(got, ReportDownload)
        assert got.download_url.startswith("http://127.0.0.1:")

        written = client.reports.download(env.customer_id, report.report_id, tmp_path)
        assert PDF == written.read_bytes()
        assert tmp_path == written.parent

        assert client.reports.detach(env.customer_id, report.report_id) is None
        assert [] == client.reports.list(env.customer_id, env.study_uid)

    def test_pages(self, env: SyncEnv, client: BigMind) -> None:
        """``pages()`` yields Page objects; items across pages are the whole listing."""
        pages = list(client.studies.list(env.customer_id, page_size=2).pages())
        assert all(isinstance(p, Page) for p in pages)
        assert [2, 2, 1] == [len(p.items) for p in pages]
        assert sorted(env.study_uids) == sorted(
            s.study_instance_uid for p in pages for s in p.items
        )

    def test_items_cross_over_a_page_at_a_time(
        self, env: SyncEnv, client: BigMind, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Walking items costs one hand-off per page, not one per item."""
        from bigmind_sync._portal import Runtime

        hand_offs: list[object] = []
        original = Runtime.call

        def counting_call(self: Runtime[object], fn: object, *args: object) -> object:
            hand_offs.append(fn)
            return original(self, fn, *args)  # type: ignore[arg-type]

        monkeypatch.setattr(Runtime, "call", counting_call)
        studies = list(client.studies.list(env.customer_id, page_size=2))
        assert sorted(env.study_uids) == sorted(s.study_instance_uid for s in studies)
        # 5 studies in pages of 2: open + 3 pages + the end (per item it would be 7)
        assert len(hand_offs) <= 1 + 3 + 1

    def test_pager_restarts_and_to_list(self, env: SyncEnv, client: BigMind) -> None:
        """Each iteration starts from page 1; ``to_list`` gathers everything; ``page_size``."""
        pager = client.studies.list(env.customer_id, page_size=3)
        assert 3 == pager.page_size
        assert list(pager) == list(pager) == pager.to_list()
        assert 200 == client.studies.list(env.customer_id).page_size

    def test_raw_response_and_options(self, env: SyncEnv, client: BigMind) -> None:
        """``with_raw_response`` and ``with_options`` views work and share the client."""
        raw = client.with_raw_response.studies.get(env.customer_id, env.study_uid)
        assert isinstance(raw, APIResponse)
        assert (200, env.study_uid) == (raw.status, raw.parsed.study.study_instance_uid)
        page = client.with_raw_response.studies.list(env.customer_id, page_size=2, page=2)
        assert 2 == page.parsed.pagination.page
        view = client.with_options(max_retries=0, timeout=7)
        assert (0, 2) == (view.max_retries, client.max_retries)
        assert 7 == view.timeout.total
        assert view.rate_limiter is client.rate_limiter
        assert (
            env.study_uid
            == view.studies.get(env.customer_id, env.study_uid).study.study_instance_uid
        )
        assert "api_key='**********'" in repr(view)
        assert env.emu.api_key not in repr(client)

    def test_attach_many(self, env: SyncEnv, client: BigMind) -> None:
        """``attach_many`` is a plain iterator of outcomes, one per job."""
        jobs = [
            AttachJob(customer_id=env.customer_id, study_uid=uid, file=TXT, filename=f"{i}.txt")
            for i, uid in enumerate(env.study_uids)
        ]
        outcomes = list(client.reports.attach_many(jobs, concurrency=3))
        assert [True] * 5 == [o.ok for o in outcomes]
        assert sorted(env.study_uids) == sorted(o.job.study_uid for o in outcomes)


class TestErrors:
    """Errors are the core's typed exceptions, raised in the calling thread."""

    def test_server_errors(self, env: SyncEnv, client: BigMind) -> None:
        """404s and 5xx map to the same classes as in async."""
        with pytest.raises(StudyNotFoundError):
            client.studies.get(env.customer_id, "1.2.3.4.5")
        with pytest.raises(ReportNotFoundError):
            client.reports.get(env.customer_id, "alf_missing")
        env.emu.faults.inject("error", route="get_study", status=503, times=None)
        with pytest.raises(ServerError) as caught:
            client.with_options(max_retries=0).studies.get(env.customer_id, env.study_uid)
        assert 503 == caught.value.status

    def test_client_side_errors(self, env: SyncEnv, client: BigMind) -> None:
        """Bad arguments raise before any request, at call time (``list`` included)."""
        with pytest.raises(ValidationError):
            client.studies.list("", modality="CT")
        with pytest.raises(ValidationError):
            client.studies.list(env.customer_id, page_size=500)
        with pytest.raises(FileTooLargeError):
            client.reports.attach(env.customer_id, env.study_uid, b"x" * (25 * 2**20 + 1))

    def test_forbidden(self, env: SyncEnv, client: BigMind) -> None:
        """Detaching a user-uploaded report is refused with ForbiddenError."""
        report_id = env.emu.add_user_report(env.customer_id, env.study_uid, TXT, "user.txt")
        with pytest.raises(ForbiddenError):
            client.reports.detach(env.customer_id, report_id)

    def test_configuration_error_at_construction(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """A missing key or a plain-http remote host fails when the client is built."""
        monkeypatch.delenv("BIGMIND_API_KEY", raising=False)
        with pytest.raises(ConfigurationError):
            BigMind()
        with pytest.raises(ConfigurationError):
            BigMind(api_key="sk_live_x", base_url="http://example.com/api")

    def test_upload_from_path_and_file_object(
        self, env: SyncEnv, client: BigMind, tmp_path: Path
    ) -> None:
        """Paths and binary file objects are streamed by the core, as in async."""
        path = tmp_path / "note.txt"
        path.write_bytes(TXT)
        by_path = client.reports.attach(env.customer_id, env.study_uid, path)
        with path.open("rb") as handle:
            by_handle = client.reports.attach(
                env.customer_id, env.study_uids[1], handle, on_progress=lambda sent, total: None
            )
        expected = hashlib.sha256(TXT).hexdigest()
        assert [expected, expected] == [by_path.sha256, by_handle.sha256]
