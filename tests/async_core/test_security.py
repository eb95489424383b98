"""The API key never shows: not in reprs, DEBUG logs, exception text or tracebacks."""

from __future__ import annotations

import logging
import traceback

import pytest

from bigmind_async import AsyncBigMind, BigMindError
from bigmind_async._logging import logger, setup_from_env


class TestKeyNeverShows:
    async def test_scan_logs_reprs_errors_tracebacks(self, emulator, caplog) -> None:  # type: ignore[no-untyped-def]
        """Run calls that succeed, fail and retry with DEBUG on; the key is nowhere."""
        key = emulator.api_key
        emulator.emu.faults.inject("error", route="list_reports", status=503)
        texts: list[str] = []
        caplog.set_level(logging.DEBUG, logger="bigmind")
        dead = AsyncBigMind(key, "http://127.0.0.1:9/x", max_retries=0)
        async with (
            dead,
            AsyncBigMind(key, emulator.base_url, backoff_base=0, max_retries=1) as client,
        ):
            texts += [
                repr(client),
                str(client),
                repr(client._core),
                repr(client._settings),
                repr(client.with_options(max_retries=0)),
                repr(client.rate_limiter),
            ]
            await client.reports.list(emulator.customer_id, emulator.study_uid)
            for call in (
                client.studies.get(emulator.customer_id, "9.9.9"),
                client.reports.get(emulator.customer_id, "alf_none"),
                dead.reports.list("a", "1"),
            ):
                try:
                    await call
                except BigMindError as exc:
                    texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
        texts += [record.getMessage() for record in caplog.records]
        assert any("status=503" in t for t in texts)  # the scan did see the DEBUG lines
        assert [] == [t for t in texts if key in t]

    def test_configuration_errors_do_not_echo_the_key(self) -> None:
        """Even a bad key is not repeated back."""
        with pytest.raises(BigMindError) as info:
            AsyncBigMind("sk_live_with\nnewline")
        assert "sk_live_with" not in str(info.value)


class TestEnvLogging:
    def test_bigmind_log_debug_adds_a_handler(self) -> None:
        """BIGMIND_LOG=debug turns on a stderr handler, once."""
        try:
            first = setup_from_env({"BIGMIND_LOG": "debug"})
            second = setup_from_env({"BIGMIND_LOG": "debug"})
            assert first is second
            assert first is not None
            assert logger.isEnabledFor(logging.DEBUG)
        finally:
            for handler in list(logger.handlers):
                if getattr(handler, "_bigmind_env_handler", False):
                    logger.removeHandler(handler)
            logger.setLevel(logging.NOTSET)

    def test_unset_means_quiet(self) -> None:
        """Without BIGMIND_LOG nothing is added."""
        assert setup_from_env({}) is None
