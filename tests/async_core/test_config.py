"""Client configuration: keys, URLs, timeouts, environment, lifecycle."""

from __future__ import annotations

import gc
import ssl

import pytest

from bigmind_async import AsyncBigMind, ConfigurationError, Timeout
from bigmind_async._config import Secret, is_loopback, user_agent

KEY = "sk_live_config_secret_abcdef"


class TestApiKey:
    def test_missing_key_is_an_error_at_construction(self) -> None:
        """No argument, no env var: ConfigurationError naming the env var."""
        with pytest.raises(ConfigurationError) as info:
            AsyncBigMind()
        assert "BIGMIND_API_KEY" in str(info.value)
        assert info.value.status is None

    def test_key_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """BIGMIND_API_KEY and BIGMIND_BASE_URL are read when arguments are absent."""
        monkeypatch.setenv("BIGMIND_API_KEY", KEY)
        monkeypatch.setenv("BIGMIND_BASE_URL", "http://127.0.0.1:8080/api/partner/v1/")
        client = AsyncBigMind()
        assert "http://127.0.0.1:8080/api/partner/v1" == str(client.base_url)
        assert KEY == client._settings.api_key.reveal()

    def test_default_base_url(self) -> None:
        """Without a URL the production API is used."""
        assert "https://app.bigmind.com/api/partner/v1" == str(AsyncBigMind(KEY).base_url)

    def test_secret_repr_is_redacted(self) -> None:
        """The holder of the key never prints it."""
        assert KEY not in repr(Secret(KEY)) + str(Secret(KEY))


class TestBaseUrl:
    @pytest.mark.parametrize(
        "url",
        [
            "http://example.com/api",
            "http://10.0.0.1/api",
            "ftp://127.0.0.1/x",
            "nonsense",
            "https://user:pw@example.com/api",
            "https://example.com/api?x=1",
        ],
    )
    def test_refused(self, url: str) -> None:
        """Plain http off loopback, other schemes, credentials or queries: refused."""
        with pytest.raises(ConfigurationError):
            AsyncBigMind(KEY, url)

    @pytest.mark.parametrize(
        "url",
        [
            "http://127.0.0.1:1/a",
            "http://localhost:1/a",
            "http://[::1]:1/a",
            "http://127.8.9.10/a",
            "https://example.com/api/partner/v1",
        ],
    )
    def test_accepted(self, url: str) -> None:
        """https anywhere, http on loopback."""
        AsyncBigMind(KEY, url)

    def test_loopback_detection(self) -> None:
        """Names and addresses of this machine only."""
        assert [True, True, True, False] == [
            is_loopback(h) for h in ("localhost", "127.0.0.2", "::1", "localhost.evil.com")
        ]


class TestTimeoutAndOptions:
    def test_number_is_the_call_deadline(self) -> None:
        """timeout=5 bounds the whole call (and each attempt)."""
        assert (
            Timeout(connect=10, read=60, attempt=5, total=5) == AsyncBigMind(KEY, timeout=5).timeout
        )

    def test_bad_timeout(self) -> None:
        """Negative or non-numeric timeouts are configuration errors."""
        for bad in (-1, "5", True):
            with pytest.raises(ConfigurationError):
                AsyncBigMind(KEY, timeout=bad)  # type: ignore[arg-type]

    def test_bad_settings(self) -> None:
        """Nonsense numbers are refused at construction."""
        for kwargs in (
            {"max_retries": -1},
            {"rate_limit": 0},
            {"connection_limit": 0},
            {"ssl": "yes"},
            {"default_headers": {"Authorization": "x"}},
        ):
            with pytest.raises(ConfigurationError):
                AsyncBigMind(KEY, **kwargs)  # type: ignore[arg-type]

    def test_with_options_shares_state(self) -> None:
        """A view has its own options but the same session owner, limiter and converter."""
        client = AsyncBigMind(KEY, max_retries=3)
        view = client.with_options(max_retries=0, timeout=Timeout(total=3))
        assert (0, 3, 3.0) == (view.max_retries, client.max_retries, view.timeout.total)
        assert view._core is client._core
        assert view.rate_limiter is client.rate_limiter

    def test_ssl_context_and_user_agent(self) -> None:
        """A custom SSL context is kept; the User-Agent names the SDK, aiohttp and Python."""
        context = ssl.create_default_context()
        client = AsyncBigMind(KEY, ssl=context, connection_limit=4, trust_env=True)
        assert (context, 4, True) == (
            client._settings.ssl,
            client._settings.connection_limit,
            client._settings.trust_env,
        )
        parts = user_agent().split()
        assert ["bigmind-python", "aiohttp", "python"] == [p.split("/")[0] for p in parts]


class TestLifecycle:
    async def test_session_is_lazy_and_closed(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """No session until a request; async with closes it; closed clients refuse work."""
        client = AsyncBigMind(emulator.api_key, emulator.base_url)
        assert not client._core.transport.has_open_session
        async with client:
            await client.reports.list(emulator.customer_id, emulator.study_uid)
            assert client._core.transport.has_open_session
        assert client.is_closed
        with pytest.raises(RuntimeError):
            await client.reports.list(emulator.customer_id, emulator.study_uid)
        await client.aclose()  # idempotent

    async def test_unclosed_client_warns(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """Garbage-collecting an open client is a ResourceWarning, not a crash."""
        client = AsyncBigMind(emulator.api_key, emulator.base_url)
        await client.reports.list(emulator.customer_id, emulator.study_uid)
        session = client._core.transport._session
        assert session is not None
        with pytest.warns(ResourceWarning, match="unclosed AsyncBigMind"):  # noqa: PT031
            del client  # refcounting runs __del__ here, inside the block
            gc.collect()
        await session.close()

    def test_never_used_client_does_not_warn(self) -> None:
        """A client that never opened a session has nothing to close."""
        client = AsyncBigMind(KEY)
        del client
        gc.collect()
