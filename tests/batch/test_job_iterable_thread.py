"""attach_many pulls a plain (sync) job iterator on a worker thread, never on the loop's thread.

So a job generator may block (read a CSV, stat files, write the reports it yields) without
stalling the batch's uploads, and a generator fed to the sync client may call that same client.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from bigmind_async import AttachJob
from bigmind_async.emulator import ThreadedEmulator
from bigmind_sync import BigMind

from .helpers import collect, fast_client, text_job


class TestSyncJobIterator:
    @pytest.mark.bigmind_emulator(rate_limit=None)
    def test_generator_may_call_the_sync_client(self, bigmind_emulator: ThreadedEmulator) -> None:
        """A generator that lists each study's reports through the same sync client before
        yielding its job works: its calls do not come from the client's loop thread."""
        emu = bigmind_emulator
        customer_id = emu.add_customer()
        studies = [emu.add_study(customer_id) for _ in range(3)]
        with BigMind(api_key=emu.api_key, base_url=emu.base_url, rate_limit=None) as client:

            def jobs() -> Iterator[AttachJob]:
                for n, study_uid in enumerate(studies):
                    if not client.reports.list(customer_id, study_uid):
                        yield text_job(customer_id, study_uid, n)

            outcomes = list(client.reports.attach_many(jobs(), concurrency=2))
        assert [None, None, None] == [o.error for o in outcomes]
        assert sorted(studies) == sorted(o.job.study_uid for o in outcomes)
        assert 3 == emu.stats.attach_count

    async def test_generator_runs_off_the_loop_thread(self, emulator: Any) -> None:
        """Every ``next()`` of a generator runs on a thread other than the loop's."""
        loop_thread = threading.get_ident()
        pulled_on: list[int] = []

        def jobs() -> Iterator[AttachJob]:
            for n in range(4):
                pulled_on.append(threading.get_ident())
                yield text_job(emulator.customer_id, emulator.study_uid, n)

        async with fast_client(emulator.emu) as client:
            outcomes = await collect(client, jobs(), concurrency=2)
        assert 4 == sum(o.ok for o in outcomes)
        assert 4 == len(pulled_on)
        assert loop_thread not in pulled_on
