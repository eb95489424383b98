"""``bigmind batch attach --journal`` closes its journal before the command returns."""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import pytest

from bigmind_async._cli._app import run
from bigmind_async.emulator import ThreadedEmulator


class TestBatchJournalIsClosed:
    @pytest.mark.bigmind_emulator(rate_limit=None)
    def test_connection_and_worker_are_gone(
        self, bigmind_emulator: ThreadedEmulator, tmp_path: Path
    ) -> None:
        """After the command (run in this process) the journal's worker thread has stopped
        and its connection is closed: SQLite checkpointed the WAL and removed its files."""
        emu = bigmind_emulator
        customer_id = emu.add_customer()
        study_uid = emu.add_study(customer_id)
        (tmp_path / "a.txt").write_text("Findings: none.\n", encoding="utf-8")
        manifest = tmp_path / "manifest.csv"
        manifest.write_text(f"customer_id,study_uid,file\n{customer_id},{study_uid},a.txt\n")
        journal = tmp_path / "journal.sqlite"
        args = ["--base-url", emu.base_url, "--api-key", emu.api_key, "--json", "batch",
                "attach", str(manifest), "--journal", str(journal)]  # fmt: skip
        # A journal left open would be closed whenever the cycle collector next runs; keep it
        # from running, so what is checked is what the command itself left behind.
        gc.disable()
        try:
            code = run(args)
            threads = [t.name for t in threading.enumerate()]
            files = sorted(p.name for p in tmp_path.glob("journal.sqlite*"))
        finally:
            gc.enable()
        assert 0 == code
        assert [] == [name for name in threads if name.startswith("bigmind-journal")]
        assert ["journal.sqlite"] == files
