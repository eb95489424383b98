"""Streaming a presigned report URL to disk.

The presigned URL is not the Partner API: it is fetched WITHOUT the API key and does not spend
the client's rate budget. The bytes go, chunk by chunk, to a temp file next to the destination,
are checked against the size and sha256 the API gave, and only then renamed into place: a
failed download never leaves a half-written file under the final name. Each chunk is written,
and hashed when there is a sha256 to compare, in one worker-thread call (hashlib releases the
GIL): the loop's thread never hashes.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import BinaryIO

import aiofiles.os
import aiohttp
import yarl

from bigmind_async._config import Timeout
from bigmind_async._logging import logger
from bigmind_async._multipart import CHUNK_SIZE
from bigmind_async._retries import Action, RetryPolicy, decide
from bigmind_async._transport import Deadline, Transport, translate_exception
from bigmind_async.errors import (
    APIConnectionError,
    APITimeoutError,
    BigMindError,
    InvalidResponseError,
)

__all__ = ["DownloadURLExpired", "stream_to_file"]


class DownloadURLExpired(Exception):
    """The presigned URL was refused (403): it expired, or its signature no longer holds."""


async def stream_to_file(
    session: aiohttp.ClientSession,
    url: str,
    destination: Path,
    *,
    timeout: Timeout,
    deadline: Deadline,
    policy: RetryPolicy,
    expected_size: int | None,
    expected_sha256: str | None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> int:
    """Download ``url`` to ``destination``; return the bytes written.

    What a GET of the API would retry (:func:`~bigmind_async._retries.decide`: connection
    errors, timeouts, 429 and 500/502/503/504, plus a body cut short) is retried per
    ``policy``, every attempt's timeout cut to what is left of ``deadline``. Raises
    :class:`DownloadURLExpired` on a 403 so the caller can fetch a fresh URL.
    """
    target = yarl.URL(url, encoded=True)
    attempts = 0
    retries = 0
    last_error: BigMindError | None = None
    while True:
        if deadline.expired():
            raise deadline.error(attempts, last_error) from last_error
        attempts += 1
        try:
            return await _attempt(
                session,
                target,
                destination,
                Transport.client_timeout(timeout, deadline.remaining()),
                expected_size,
                expected_sha256,
            )
        except _Transient as exc:
            error = exc.error
        if isinstance(error, APITimeoutError) and deadline.expired():
            raise deadline.error(attempts, error) from error
        if retries >= policy.max_retries:
            raise error
        retries += 1
        last_error = error
        delay = policy.delay(retries)
        left = deadline.remaining()
        if left is not None and delay >= left:
            raise error
        logger.debug("retry download attempt=%d reason=%s", attempts + 1, error.code)
        if delay:
            await sleep(delay)


class _Transient(Exception):
    def __init__(self, error: BigMindError) -> None:
        super().__init__(str(error))
        self.error = error


async def _attempt(
    session: aiohttp.ClientSession,
    url: yarl.URL,
    destination: Path,
    timeout: aiohttp.ClientTimeout,
    expected_size: int | None,
    expected_sha256: str | None,
) -> int:
    temp = destination.with_name(f".{destination.name}.{secrets.token_hex(6)}.part")
    hasher = hashlib.sha256() if expected_sha256 is not None else None
    written = 0
    try:
        # No Authorization header: the presigned URL carries its own signature.
        async with session.get(url, timeout=timeout, allow_redirects=True) as resp:
            if resp.status == 403:
                raise DownloadURLExpired(f"HTTP 403 from the presigned URL: {resp.reason}")
            if resp.status != 200:
                error = BigMindError(
                    f"HTTP {resp.status} from the presigned download URL",
                    code="DOWNLOAD_FAILED",
                    status=resp.status,
                    headers=resp.headers,
                )
                if decide("GET", status=resp.status) is Action.RETRY:
                    raise _Transient(error)
                raise error
            loop = asyncio.get_running_loop()
            handle = await loop.run_in_executor(None, _create, temp)
            try:
                async for chunk in resp.content.iter_chunked(CHUNK_SIZE):
                    written += len(chunk)
                    await loop.run_in_executor(None, _write, handle, hasher, chunk)
            finally:
                await loop.run_in_executor(None, handle.close)
    except (DownloadURLExpired, BigMindError, _Transient):
        await _remove(temp)
        raise
    except Exception as exc:
        await _remove(temp)
        failure = translate_exception(exc)
        if failure is None:
            raise
        failure.error.__cause__ = exc
        if decide("GET", status=None, retryable_failure=failure.retryable) is Action.RETRY:
            raise _Transient(failure.error) from exc
        raise failure.error from exc
    except BaseException:
        await _remove(temp)
        raise
    if expected_size is not None and written != expected_size:
        await _remove(temp)
        raise _Transient(
            APIConnectionError(
                f"the download ended at {written} bytes; the report has {expected_size}",
                code="DOWNLOAD_INCOMPLETE",
                status=None,
            )
        )
    if (
        expected_sha256 is not None
        and hasher is not None
        and hasher.hexdigest() != expected_sha256.lower()
    ):
        await _remove(temp)
        raise InvalidResponseError(
            "the downloaded bytes do not match the report's sha256", status=None
        )
    await aiofiles.os.replace(temp, destination)
    return written


def _create(path: Path) -> BinaryIO:
    return open(path, "wb")  # closed by the caller, on a worker thread too


def _write(handle: BinaryIO, hasher: hashlib._Hash | None, chunk: bytes) -> None:
    """One worker-thread call per chunk: write it, and hash it (hashlib releases the GIL)."""
    handle.write(chunk)
    if hasher is not None:
        hasher.update(chunk)


async def _remove(path: Path) -> None:
    try:
        await aiofiles.os.remove(path)
    except FileNotFoundError:
        pass
    except OSError:  # pragma: no cover - best effort cleanup
        logger.debug("could not remove %s", os.fspath(path))
