"""The request pipeline: exception translation, hidden re-sends, redirects, bodies, deadlines."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import pytest
from aiohttp import web

from bigmind_async import (
    APIConnectionError,
    APITimeoutError,
    AsyncBigMind,
    BigMindError,
    InvalidResponseError,
    NotFoundError,
    ServerError,
    Timeout,
    _transport,
)
from bigmind_async._transport import EXCEPTION_RULES, path_for, translate_exception

from .servers import StaleKeepAliveServer, TinyServer

KEY = "sk_live_transport_secret_0123456789"


def _aiohttp_exception_classes() -> list[type[BaseException]]:
    found = []
    for name in aiohttp.__all__:
        obj = getattr(aiohttp, name)
        if isinstance(obj, type) and issubclass(obj, aiohttp.ClientError):
            found.append(obj)
    return found


class TestExceptionTranslation:
    def test_every_aiohttp_client_error_is_listed(self) -> None:
        """A new aiohttp exception class fails here until it is given a rule."""
        missing = [
            cls.__name__ for cls in _aiohttp_exception_classes() if cls not in EXCEPTION_RULES
        ]
        assert [] == missing

    @pytest.mark.parametrize("cls", _aiohttp_exception_classes(), ids=lambda c: c.__name__)
    def test_every_class_maps_to_a_connection_error(self, cls: type[BaseException]) -> None:
        """Each class becomes APIConnectionError (or its timeout subclass)."""
        exc = cls.__new__(cls)
        exc.args = ("boom",)
        failure = translate_exception(exc)
        assert failure is not None
        assert isinstance(failure.error, APIConnectionError)
        assert failure.error.status is None

    def test_timeouts_become_api_timeout_error(self) -> None:
        """asyncio's timeout and aiohttp's socket timeouts are APITimeoutError."""
        for exc in (asyncio.TimeoutError(), aiohttp.ServerTimeoutError("read")):
            failure = translate_exception(exc)
            assert failure is not None
            assert isinstance(failure.error, APITimeoutError)
            assert failure.retryable

    def test_refused_connection_is_known_unsent(self) -> None:
        """A connector error is retryable and certainly sent nothing."""
        exc = aiohttp.ClientConnectorError.__new__(aiohttp.ClientConnectorError)
        exc.args = ("refused",)
        failure = translate_exception(exc)
        assert failure is not None
        assert (True, True) == (failure.retryable, failure.before_send)

    def test_bugs_are_not_translated(self) -> None:
        """A programming error propagates untouched."""
        assert translate_exception(KeyError("x")) is None

    def test_key_is_scrubbed_from_the_message(self) -> None:
        """Even an exception text holding the key loses it."""
        failure = translate_exception(aiohttp.ClientPayloadError(f"bad {KEY}"), secret=KEY)
        assert failure is not None
        assert KEY not in str(failure.error)


class TestHiddenResend:
    async def test_aiohttp_silent_retry_is_switched_off(self) -> None:
        """The session's own re-send of idempotent requests is disabled."""
        async with AsyncBigMind(KEY, "http://127.0.0.1:9/api/partner/v1") as client:
            session = await client._core.transport.session()
            assert getattr(session, "_retry_connection", False) is False

    async def test_stale_keep_alive_is_retried_by_us_and_counted(self) -> None:
        """A dropped keep-alive connection costs one of OUR retries and one budget token."""
        async with (
            StaleKeepAliveServer() as server,
            AsyncBigMind(KEY, server.url, rate_limit=None, backoff_base=0) as client,
        ):
            first = await client.with_raw_response.reports.list("pc_1", "1.2.3")
            second = await client.with_raw_response.reports.list("pc_1", "1.2.3")
            assert (1, 2) == (first.attempts, second.attempts)
            assert server.requests == client.rate_limiter.acquired
            assert 3 == server.requests

    async def test_hidden_resend_is_counted_when_aiohttp_does_it(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Should aiohttp re-send on its own (versions without the switch), the attempt is
        still counted: the transport then traces the connections each request takes."""
        monkeypatch.setattr(_transport, "_HAS_RETRY_SWITCH", False)  # as on such a version
        async with (
            StaleKeepAliveServer() as server,
            AsyncBigMind(KEY, server.url, rate_limit=None, backoff_base=0, max_retries=0) as client,
        ):
            session = await client._core.transport.session()
            assert getattr(session, "_retry_connection", True) is True  # aiohttp's default
            await client.reports.list("pc_1", "1.2.3")
            second = await client.with_raw_response.reports.list("pc_1", "1.2.3")
            assert 2 == second.attempts
            assert server.requests == client.rate_limiter.acquired


class TestRedirects:
    async def test_redirect_to_another_host_is_not_followed(self) -> None:
        """A 307 elsewhere is an error; the other host never sees the key."""

        async def other(request: web.Request) -> web.StreamResponse:
            return web.json_response({"success": True, "data": {"reports": []}})

        async with TinyServer(other) as elsewhere:

            async def redirect(request: web.Request) -> web.StreamResponse:
                raise web.HTTPTemporaryRedirect(f"http://localhost:{elsewhere.port}/steal")

            async with (
                TinyServer(redirect) as api,
                AsyncBigMind(KEY, api.url, backoff_base=0) as client,
            ):
                with pytest.raises(BigMindError) as info:
                    await client.reports.list("pc_1", "1.2.3")
            assert ("UNEXPECTED_REDIRECT", 307) == (info.value.code, info.value.status)
            assert [] == elsewhere.requests


class TestBodies:
    async def test_non_json_error_body_gives_typed_error_by_status(self) -> None:
        """A proxy's HTML 502 still becomes ServerError with the status, after retries."""

        async def html(request: web.Request) -> web.StreamResponse:
            return web.Response(
                status=502, text="<html>bad gateway</html>", content_type="text/html"
            )

        async with TinyServer(html) as api:
            async with AsyncBigMind(KEY, api.url, backoff_base=0, max_retries=1) as client:
                with pytest.raises(ServerError) as info:
                    await client.reports.list("pc_1", "1.2.3")
            assert 502 == info.value.status
            assert 2 == len(api.requests)

    async def test_truncated_json_error_body_gives_typed_error(self) -> None:
        """A cut-off error body maps by status: 404 -> NotFoundError."""

        async def cut(request: web.Request) -> web.StreamResponse:
            return web.Response(
                status=404, text='{"success":false,"error":{"co', content_type="application/json"
            )

        async with TinyServer(cut) as api:
            async with AsyncBigMind(KEY, api.url, backoff_base=0) as client:
                with pytest.raises(NotFoundError) as info:
                    await client.reports.get("pc_1", "alf_1")
            assert 404 == info.value.status

    @pytest.mark.parametrize("body", [b"not json", b"[1,2]", b'{"success":false}', b'{"data":1}'])
    async def test_success_that_is_not_the_envelope_is_invalid_response(self, body: bytes) -> None:
        """A 200 the SDK cannot read is InvalidResponseError, never retried."""

        async def junk(request: web.Request) -> web.StreamResponse:
            return web.Response(status=200, body=body, content_type="application/json")

        async with TinyServer(junk) as api:
            async with AsyncBigMind(KEY, api.url, backoff_base=0) as client:
                with pytest.raises(InvalidResponseError) as info:
                    await client.reports.list("pc_1", "1.2.3")
            assert 200 == info.value.status
            assert 1 == len(api.requests)


class TestPaths:
    def test_segments_are_percent_encoded_whole(self) -> None:
        """Reserved characters in an id never change the path's shape."""
        assert "/customers/a%3Fb%23c%25d." == path_for("customers", "a?b#c%d.")

    async def test_aiohttp_sends_the_path_as_encoded(self) -> None:
        """The wire path is exactly our encoding (no re-encoding, no normalization)."""

        async def ok(request: web.Request) -> web.StreamResponse:
            return web.json_response(
                {"success": False, "error": {"code": "REPORT_NOT_FOUND", "message": "x"}},
                status=404,
            )

        async with TinyServer(ok) as api:
            async with AsyncBigMind(KEY, api.url, backoff_base=0) as client:
                with pytest.raises(NotFoundError):
                    await client.reports.get("pc_1", "alf_%2E%2E..:@!$&'()*+,;=")
            assert [
                "/api/partner/v1/customers/pc_1/reports/"
                "alf_%252E%252E..%3A%40%21%24%26%27%28%29%2A%2B%2C%3B%3D"
            ] == [r["raw_path"] for r in api.requests]


class TestHeaders:
    async def test_user_agent_and_auth(self) -> None:
        """Requests carry the SDK's User-Agent and a Bearer key."""

        async def ok(request: web.Request) -> web.StreamResponse:
            return web.json_response({"success": True, "data": {"reports": []}})

        async with TinyServer(ok) as api, AsyncBigMind(KEY, api.url) as client:
            await client.reports.list("pc_1", "1.2.3")
        headers = api.requests[0]["headers"]
        assert headers["User-Agent"].startswith("bigmind-python/")
        assert " aiohttp/" in headers["User-Agent"]
        assert f"Bearer {KEY}" == headers["Authorization"]


class TestDeadline:
    async def test_total_deadline_bounds_all_retries(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """Slow answers with many retries still end at the deadline, as APITimeoutError."""
        emulator.emu.faults.inject("delay", route="list_reports", delay=0.4, times=None)
        timeout = Timeout(connect=1, read=0.15, attempt=0.15, total=0.5)
        async with AsyncBigMind(
            emulator.api_key,
            emulator.base_url,
            timeout=timeout,
            max_retries=50,
            backoff_base=0,
            rate_limit=None,
        ) as client:
            started = time.monotonic()
            with pytest.raises(APITimeoutError) as info:
                await client.reports.list(emulator.customer_id, emulator.study_uid)
            elapsed = time.monotonic() - started
        assert elapsed < 5  # 51 attempts of 0.15 s without the deadline: over 7.5 s
        assert info.value.status is None

    async def test_per_attempt_timeout_is_retried(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """One slow answer times out, the retry succeeds."""
        emulator.emu.faults.inject("delay", route="list_reports", delay=1.0, times=1)
        timeout = Timeout(connect=1, read=0.2, attempt=0.3, total=5)
        async with AsyncBigMind(
            emulator.api_key, emulator.base_url, timeout=timeout, backoff_base=0, rate_limit=None
        ) as client:
            raw = await client.with_raw_response.reports.list(
                emulator.customer_id, emulator.study_uid
            )
        assert 2 == raw.attempts

    async def test_connection_refused_is_api_connection_error(self) -> None:
        """Nothing listening: retried, then APIConnectionError."""
        async with AsyncBigMind(
            KEY, "http://127.0.0.1:9/api/partner/v1", backoff_base=0, max_retries=2
        ) as client:
            with pytest.raises(APIConnectionError) as info:
                await client.reports.list("pc_1", "1.2.3")
            assert 3 == client.rate_limiter.acquired
        assert not isinstance(info.value, APITimeoutError)
