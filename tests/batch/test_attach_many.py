"""attach_many: exactly-once under faults, laziness, early close, failures, fatal stop, twins."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

import pytest

from bigmind_async import (
    AttachJob,
    AttachOutcome,
    InvalidAPIKeyError,
    InvalidReportTypeError,
    StudyNotFoundError,
    TrialExpiredError,
    ValidationError,
)
from bigmind_async._batch import is_fatal
from bigmind_async.emulator import Emulator, ThreadedEmulator
from bigmind_async.errors import ForbiddenError

from .helpers import collect, fast_client, run, sha256_of, stored_by_sha, text_job


class TestExactlyOnceUnderFaults:
    async def test_300_jobs_with_20_percent_faults(self, emulator: Any) -> None:
        """500s, 429s and resets before and after commit: 300 reports, 0 duplicates, 0 lost."""
        emu = emulator.emu
        for seed, kind in enumerate(
            ("error", "rate_limit", "reset_before_commit", "reset_after_commit")
        ):
            emu.faults.inject(kind, probability=0.055, seed=seed, retry_after=0)
        jobs = [text_job(emulator.customer_id, emulator.study_uids[n % 3], n) for n in range(300)]
        async with fast_client(emu) as client:
            outcomes = await collect(client, jobs, concurrency=16)

        fired = emu.stats.faults_fired
        assert all(fired[kind] > 0 for kind in ("error", "rate_limit", "reset_before_commit",
                                                 "reset_after_commit"))  # fmt: skip
        assert sum(fired.values()) >= 0.15 * emu.stats.requests_total
        assert [o for o in outcomes if not o.ok] == []
        assert len(outcomes) == 300
        report_ids = {o.report.report_id for o in outcomes if o.report is not None}
        assert len(report_ids) == 300
        stored = stored_by_sha(emu, emulator.customer_id)
        expected = {sha256_of(job.file) for job in jobs if isinstance(job.file, bytes)}
        assert set(stored) == expected  # none lost
        assert max(stored.values()) == 1  # none twice
        assert sum(stored.values()) == 300


class TestLaziness:
    async def test_sync_iterable_is_pulled_with_bounded_lookahead(self, emulator: Any) -> None:
        """At most `concurrency` jobs are pulled ahead of the outcomes handed out."""
        pulled = 0

        def jobs() -> Iterator[AttachJob]:
            nonlocal pulled
            for n in range(40):
                pulled += 1
                yield text_job(emulator.customer_id, emulator.study_uid, n)

        seen = 0
        async with fast_client(emulator.emu) as client:
            async for _ in run(client, jobs(), concurrency=4):
                seen += 1
                assert pulled <= seen + 4
        assert (seen, pulled) == (40, 40)

    async def test_async_iterable(self, emulator: Any) -> None:
        """An async generator of jobs works the same."""

        async def jobs() -> AsyncIterator[AttachJob]:
            for n in range(10):
                await asyncio.sleep(0)
                yield text_job(emulator.customer_id, emulator.study_uid, n)

        async with fast_client(emulator.emu) as client:
            outcomes = await collect(client, jobs(), concurrency=3)
        assert sum(o.ok for o in outcomes) == 10

    async def test_concurrency_is_bounded(self, emulator: Any) -> None:
        """No more than `concurrency` attaches reach the server at once."""
        emulator.emu.faults.inject("delay", route="attach_report", delay=0.05, times=None)
        jobs = [text_job(emulator.customer_id, emulator.study_uid, n) for n in range(24)]
        async with fast_client(emulator.emu) as client:
            outcomes = await collect(client, jobs, concurrency=6)
        assert sum(o.ok for o in outcomes) == 24
        assert emulator.emu.stats.max_concurrent_requests <= 6

    async def test_on_progress_sees_every_outcome(self, emulator: Any) -> None:
        """on_progress is called once per outcome, before it is yielded."""
        seen: list[AttachOutcome] = []
        jobs = [text_job(emulator.customer_id, emulator.study_uid, n) for n in range(5)]
        async with fast_client(emulator.emu) as client:
            async for outcome in run(client, jobs, on_progress=seen.append):
                assert outcome in seen
        assert len(seen) == 5

    @pytest.mark.parametrize("bad", [0, -1, 1.5, True])
    async def test_bad_concurrency(self, emulator: Any, bad: object) -> None:
        """A bad concurrency is a ValidationError naming it, before any request."""
        async with fast_client(emulator.emu) as client:
            with pytest.raises(ValidationError, match="concurrency"):
                await collect(client, [], concurrency=bad)
        assert emulator.emu.stats.requests_total == 0


def _new_tasks(before: set[asyncio.Task[Any]]) -> set[asyncio.Task[Any]]:
    """Tasks of this loop that were not there in ``before``, other than the running test's."""
    return asyncio.all_tasks() - before - {asyncio.current_task()}


@pytest.fixture
def threaded_emulator_env(bigmind_emulator: ThreadedEmulator) -> tuple[ThreadedEmulator, str, str]:
    """The plugin's emulator (its own loop thread, so this loop holds only the client's
    tasks), one customer and one indexed study."""
    customer_id = bigmind_emulator.add_customer()
    return bigmind_emulator, customer_id, bigmind_emulator.add_study(customer_id)


@pytest.mark.bigmind_emulator(rate_limit=None)
class TestEarlyClose:
    """The emulator runs on its own thread here: a job left running shows as a new task in
    the test's loop, the server's request handlers never do."""

    async def test_aclose_cancels_in_flight_jobs(
        self, threaded_emulator_env: tuple[ThreadedEmulator, str, str]
    ) -> None:
        """Closing the iterator early cancels the running uploads and returns promptly."""
        emu, customer_id, study_uid = threaded_emulator_env
        emu.faults.inject("delay", route="attach_report", delay=5.0, times=None)
        bad = AttachJob(
            customer_id=customer_id,
            study_uid=study_uid,
            file=b"\x00\x01binary",
            filename="x.bin",
        )
        jobs = [bad] + [text_job(customer_id, study_uid, n) for n in range(10)]
        before = asyncio.all_tasks()
        async with fast_client(emu) as client:
            outcomes = run(client, jobs, concurrency=4)
            first = await anext(outcomes)
            assert isinstance(first.error, InvalidReportTypeError)
            assert _new_tasks(before) != set()  # the three uploads held by the delay
            started = time.monotonic()
            await outcomes.aclose()  # type: ignore[attr-defined]
            assert time.monotonic() - started < 4  # not the 5 s delay: only catches a wait
            assert _new_tasks(before) == set()

    async def test_break_out_of_async_for(
        self, threaded_emulator_env: tuple[ThreadedEmulator, str, str]
    ) -> None:
        """`break` in `async for` leaves no job running once the generator is closed, and
        closing pulls no further jobs from the source."""
        emu, customer_id, study_uid = threaded_emulator_env
        pulled = 0

        def jobs() -> Iterator[AttachJob]:
            nonlocal pulled
            for n in range(50):
                pulled += 1
                yield text_job(customer_id, study_uid, n)

        before = asyncio.all_tasks()
        async with fast_client(emu) as client:
            outcomes = run(client, jobs(), concurrency=4)
            async for _ in outcomes:
                break
            await outcomes.aclose()  # type: ignore[attr-defined]
            assert _new_tasks(before) == set()
        assert pulled == 4


class TestFailures:
    async def test_one_failure_never_stops_the_others(self, emulator: Any) -> None:
        """Unknown study, unindexed study, bad type, missing file: typed errors; others attach."""
        customer = emulator.customer_id
        jobs = [
            text_job(customer, emulator.study_uid, 1),
            text_job(customer, "1.2.3.999", 2),
            text_job(customer, emulator.unindexed_study_uid, 3),
            AttachJob(customer_id=customer, study_uid=emulator.study_uid, file=b"\x00bin",
                      filename="x.bin"),
            AttachJob(customer_id=customer, study_uid=emulator.study_uid, file="/no/such.pdf"),
            text_job(customer, "not-a-uid", 6),
            text_job(customer, emulator.study_uid, 7, report_type="memo"),
            text_job(customer, emulator.study_uid, 8),
        ]  # fmt: skip
        async with fast_client(emulator.emu) as client:
            outcomes = await collect(client, jobs, concurrency=3)
        by_title = {o.job.title: o for o in outcomes if o.job.title}
        assert by_title["Report 1"].ok
        assert by_title["Report 8"].ok
        assert isinstance(by_title["Report 2"].error, StudyNotFoundError)
        assert isinstance(by_title["Report 3"].error, StudyNotFoundError)
        assert isinstance(by_title["Report 6"].error, ValidationError)
        assert isinstance(by_title["Report 7"].error, ValidationError)
        errors = [o.error for o in outcomes if o.job.title is None]
        assert {type(e) for e in errors} == {InvalidReportTypeError, ValidationError}
        assert "such.pdf" in str(next(e for e in errors if isinstance(e, ValidationError)))
        assert len(outcomes) == 8

    async def test_non_seekable_file_object(self, emulator: Any) -> None:
        """A stream that cannot be rewound is that job's ValidationError."""

        class Pipe(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer: bytearray) -> int:  # type: ignore[override]
                return 0

        job = AttachJob(customer_id=emulator.customer_id, study_uid=emulator.study_uid,
                        file=cast(Any, Pipe()), filename="a.txt")  # fmt: skip
        async with fast_client(emulator.emu) as client:
            (outcome,) = await collect(client, [job])
        assert isinstance(outcome.error, ValidationError)
        assert "seekable" in outcome.error.message

    def test_fatal_classification(self) -> None:
        """Bad keys and partner-wide refusals are fatal; a per-report FORBIDDEN is not."""
        assert is_fatal(InvalidAPIKeyError("x"))
        assert is_fatal(TrialExpiredError("x"))
        assert not is_fatal(ForbiddenError("x"))
        assert not is_fatal(StudyNotFoundError("x"))
        assert not is_fatal(None)

    async def test_bad_key_stops_the_batch(self, emulator: Any) -> None:
        """A revoked key: the running jobs fail, the rest are reported as not attempted."""
        emu = emulator.emu
        jobs = [text_job(emulator.customer_id, emulator.study_uid, n) for n in range(30)]
        async with fast_client(emu, api_key="sk_live_" + "0" * 32) as client:
            outcomes = await collect(client, jobs, concurrency=4)
        assert len(outcomes) == 30
        assert all(isinstance(o.error, InvalidAPIKeyError) for o in outcomes)
        not_attempted = [o for o in outcomes if "not attempted" in o.error.message]  # type: ignore[union-attr]
        assert len(not_attempted) >= 30 - 4
        assert emu.stats.requests_by_route["attach_report"] <= 4
        assert emu.reports(emulator.customer_id) == []


class TestIdenticalJobs:
    async def test_twins_are_serialized_without_journal(self, emulator: Any) -> None:
        """Same key twice, no journal: two attaches, never at the same time."""
        emu = emulator.emu
        emu.faults.inject("delay", route="attach_report", delay=0.2, times=None)
        job = text_job(emulator.customer_id, emulator.study_uid, 1)
        async with fast_client(emu) as client:
            started = time.monotonic()
            outcomes = await collect(client, [job, job], concurrency=4)
            elapsed = time.monotonic() - started
        assert [o.ok for o in outcomes] == [True, True]
        assert outcomes[0].report != outcomes[1].report
        assert elapsed >= 0.4  # one after the other
        assert emu.stats.max_concurrent_requests == 1

    async def test_twins_share_one_report_with_journal(
        self, emulator: Any, tmp_path: object
    ) -> None:
        """Same key twice with a journal: one attach; the twin is skipped with its report."""
        job = text_job(emulator.customer_id, emulator.study_uid, 1)
        async with fast_client(emulator.emu) as client:
            outcomes = await collect(
                client, [job, job, job], concurrency=4, journal=f"{tmp_path}/j.sqlite"
            )
        assert sorted(o.skipped for o in outcomes) == [False, True, True]
        assert len({o.report.report_id for o in outcomes if o.report}) == 1
        assert emulator.emu.stats.attach_count == 1


class TestRateLimit:
    async def test_paced_by_the_client_limiter_with_no_429(self) -> None:
        """Emulator and client at 1200/min: the batch is paced to it and gets no 429."""
        async with Emulator(rate_limit=1200, rate_limit_burst=10) as emu:
            customer = emu.add_customer()
            study = emu.add_study(customer)
            jobs = [text_job(customer, study, n) for n in range(40)]
            async with fast_client(emu, rate_limit=1200, rate_limit_burst=5) as client:
                started = time.monotonic()
                outcomes = await collect(client, jobs, concurrency=8)
                elapsed = time.monotonic() - started
            assert sum(o.ok for o in outcomes) == 40
            assert emu.stats.rate_limited == 0
            assert elapsed >= (40 - 5) / 20 * 0.95
