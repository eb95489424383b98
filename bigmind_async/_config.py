"""Client settings: where to send requests, with which key, how long to wait.

Everything a client needs to know before it sends anything is resolved here, once, at
construction; a bad setting is a :class:`~bigmind_async.errors.ConfigurationError` then, never a
surprise on the first request.

- ``api_key``: the argument, else ``BIGMIND_API_KEY``; missing is an error.
- ``base_url``: the argument, else ``BIGMIND_BASE_URL``, else :data:`DEFAULT_BASE_URL`. Plain
  ``http://`` is refused unless the host is loopback (the emulator): the key must not cross a
  network in clear text.
- ``timeout``: a :class:`Timeout`, or a number of seconds for the whole call (the deadline).
"""

from __future__ import annotations

import ipaddress
import os
import platform
import ssl as ssl_module
from collections.abc import Mapping

import aiohttp
import attrs
import yarl

from bigmind_async._version import __version__
from bigmind_async.errors import ConfigurationError

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_BASE_URL",
    "LOG_ENV",
    "Secret",
    "Settings",
    "Timeout",
    "resolve_settings",
    "user_agent",
]

DEFAULT_BASE_URL = "https://app.bigmind.com/api/partner/v1"
API_KEY_ENV = "BIGMIND_API_KEY"
BASE_URL_ENV = "BIGMIND_BASE_URL"
LOG_ENV = "BIGMIND_LOG"

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.", "ip6-localhost"})


class Secret:
    """Holds the API key; its ``repr``/``str`` never show it. Read it with :meth:`reveal`."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The key itself: only for the ``Authorization`` header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("the API key is not picklable")


@attrs.frozen(kw_only=True)
class Timeout:
    """How long a call may take.

    Attributes:
        connect: Seconds to open a TCP (and TLS) connection.
        read: Seconds to wait for the next bytes of an answer once connected.
        attempt: Seconds one HTTP attempt may take in all (sending the body included).
        total: Seconds the whole call may take across all its retries and backoff sleeps: the
            deadline. Expiry raises :class:`~bigmind_async.errors.APITimeoutError`. ``None``:
            no deadline beyond ``attempt`` per try.
    """

    connect: float | None = 10.0
    read: float | None = 60.0
    attempt: float | None = 300.0
    total: float | None = 600.0

    def __attrs_post_init__(self) -> None:
        for name in ("connect", "read", "attempt", "total"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not value > 0):
                raise ConfigurationError(f"timeout.{name} must be a positive number or None")

    @classmethod
    def coerce(cls, value: Timeout | float | None) -> Timeout:
        """A :class:`Timeout` from a Timeout, a number of seconds (the deadline), or None."""
        if isinstance(value, Timeout):
            return value
        if value is None:
            return cls(attempt=None, total=None)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(
                f"timeout must be a Timeout or a number of seconds, got {type(value).__name__}"
            )
        seconds = float(value)
        return cls(attempt=seconds, total=seconds)


def user_agent() -> str:
    """``bigmind-python/<sdk> aiohttp/<v> python/<v>``."""
    return (
        f"bigmind-python/{__version__} aiohttp/{aiohttp.__version__} "
        f"python/{platform.python_version()}"
    )


@attrs.frozen(kw_only=True)
class Settings:
    """The resolved, validated settings of one client (shared by its ``with_options`` views).

    Attributes:
        api_key: The key, redacted in every repr.
        base_url: The API root, without a trailing slash.
        connection_limit: Most simultaneous connections in the pool.
        ssl: ``None`` (default verification), an ``SSLContext`` (custom CA bundle), or ``False``.
        trust_env: Read proxies and ``.netrc`` from the environment, the aiohttp way.
        default_headers: Extra headers on every API request.
        user_agent: The ``User-Agent`` header.
    """

    api_key: Secret
    base_url: yarl.URL
    connection_limit: int = 100
    ssl: ssl_module.SSLContext | bool | None = None
    trust_env: bool = False
    default_headers: Mapping[str, str] = attrs.field(factory=dict)
    user_agent: str = attrs.field(factory=user_agent)


def resolve_settings(
    *,
    api_key: str | None,
    base_url: str | yarl.URL | None,
    connection_limit: int,
    ssl: ssl_module.SSLContext | bool | None,
    trust_env: bool,
    default_headers: Mapping[str, str] | None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Apply the environment defaults and check everything; ConfigurationError when wrong."""
    env = os.environ if environ is None else environ
    key = api_key if api_key is not None else env.get(API_KEY_ENV)
    if key is not None and not isinstance(key, str):
        raise ConfigurationError(f"api_key: must be a str, got {type(key).__name__}")
    if key is None or not key.strip():
        raise ConfigurationError(
            f"api_key: no API key given; pass api_key=... or set {API_KEY_ENV}"
        )
    if any(c in key for c in "\r\n\x00"):
        raise ConfigurationError("api_key: must be a string without line breaks")
    url = _check_base_url(base_url if base_url is not None else env.get(BASE_URL_ENV))
    if isinstance(connection_limit, bool) or not isinstance(connection_limit, int):
        raise ConfigurationError("connection_limit: must be a positive int")
    if connection_limit < 1:
        raise ConfigurationError("connection_limit: must be at least 1")
    if ssl is not None and not isinstance(ssl, (bool, ssl_module.SSLContext)):
        raise ConfigurationError("ssl: must be an ssl.SSLContext, False, or None")
    if ssl is True:
        ssl = None
    headers = dict(default_headers or {})
    for name in headers:
        if name.lower() in ("authorization", "x-api-key"):
            raise ConfigurationError(f"default_headers: {name!r} is set by the client from api_key")
    return Settings(
        api_key=Secret(key.strip()),
        base_url=url,
        connection_limit=connection_limit,
        ssl=ssl,
        trust_env=bool(trust_env),
        default_headers=headers,
    )


def _check_base_url(raw: str | yarl.URL | None) -> yarl.URL:
    text = str(raw).strip() if raw is not None else DEFAULT_BASE_URL
    if not text:
        text = DEFAULT_BASE_URL
    try:
        url = yarl.URL(text)
    except (ValueError, TypeError) as exc:
        raise ConfigurationError(f"base_url: not a URL: {text!r}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(f"base_url: must be an http(s) URL with a host, got {text!r}")
    if url.user or url.password:
        raise ConfigurationError("base_url: must not carry credentials")
    if url.query_string or url.fragment:
        raise ConfigurationError("base_url: must not carry a query or fragment")
    if url.scheme == "http" and not is_loopback(url.host):
        raise ConfigurationError(
            f"base_url: plain http is only allowed to a loopback host, got {url.host!r}; use https"
        )
    return url.with_path(url.path.rstrip("/"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` is this machine: ``localhost``, 127.0.0.0/8 or ``::1``."""
    name = host.strip("[]").lower()
    if name in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False
