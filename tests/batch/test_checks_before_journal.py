"""attach_many makes every client-side check of an attach before it touches the journal.

A job the client would refuse is refused before the batch lists the study or records an upload
in flight, so the batch never has to guess from an error whether a request went out.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from bigmind_async import AttachJob, ValidationError
from bigmind_async._journal import JobKey, Journal

from .helpers import collect, fast_client

BODY = b"Findings: stable.\n"


class TestRefusedJobsLeaveTheJournalAlone:
    @pytest.mark.parametrize(
        ("fields", "argument"),
        [
            ({"is_primary": "yes"}, "is_primary"),
            ({"silent": 1}, "silent"),
        ],
    )
    async def test_in_flight_row_is_kept_and_nothing_sent(
        self, emulator: Any, tmp_path: Path, fields: dict[str, Any], argument: str
    ) -> None:
        """A job whose flags are not bools, met with an in-flight row of an earlier run (same
        key: flags are not part of it), fails naming the flag; the row is kept as it was
        and no request is made."""
        path = tmp_path / "j.sqlite"
        key = JobKey(
            customer_id=emulator.customer_id,
            study_uid=emulator.study_uid,
            sha256=hashlib.sha256(BODY).hexdigest(),
            title="Follow-up",
            report_type="other",
        )
        async with Journal(path) as journal:
            await journal.mark_in_flight(key, file_name="f.txt", size_bytes=len(BODY))
        job = AttachJob(
            customer_id=emulator.customer_id,
            study_uid=emulator.study_uid,
            file=BODY,
            filename="f.txt",
            title="Follow-up",
            **fields,
        )
        async with Journal(path, settle_seconds=0) as journal, fast_client(emulator.emu) as client:
            (outcome,) = await collect(client, [job], journal=journal)
        assert isinstance(outcome.error, ValidationError)
        assert argument in outcome.error.message
        assert 0 == emulator.emu.stats.requests_total
        async with Journal(path) as journal:
            entry = await journal.get(key)
        assert entry is not None
        assert ("in_flight", 1) == (entry.state, entry.attempts)
