"""``Emulator``: the Partner API emulator, run in the caller's event loop on port 0 by default."""

from __future__ import annotations

import datetime as dt
import logging
import random
import shutil
import tempfile
import time
import weakref
from collections.abc import Callable, Iterable
from os import PathLike
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from bigmind_async.emulator._app import API_PREFIX, AppConfig, EmulatorApp
from bigmind_async.emulator._faults import FaultInjector
from bigmind_async.emulator._ratelimit import RateLimiter
from bigmind_async.emulator._seed import Seeder
from bigmind_async.emulator._signing import DOWNLOAD_URL_TTL_SECONDS, UrlSigner
from bigmind_async.emulator._state import (
    DEFAULT_QUOTA_BYTES,
    PartnerInfo,
    State,
    Storage,
)
from bigmind_async.emulator._stats import EmulatorStats
from bigmind_async.emulator._upload import MAX_REPORT_BYTES
from bigmind_async.emulator._webhooks import WebhookDelivery, WebhookDispatcher

logger = logging.getLogger("bigmind_async.emulator")


def _url_host(host: str) -> str:
    if host in ("", "0.0.0.0"):  # noqa: S104 - we only read it back for the URL
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


class Emulator:
    """The BigMind Partner API (DICOM Reports part) on a local aiohttp server.

    ``async with Emulator() as emu:`` binds ``host:port`` (port 0 picks a free port), then
    ``emu.base_url`` is ``http://127.0.0.1:<port>/api/partner/v1`` and ``emu.api_key`` the
    default partner's key. It runs in the caller's event loop; ``ThreadedEmulator`` runs one on
    its own thread for synchronous code.

    Args:
        api_key: The default partner's key (a fresh ``sk_live_...`` when ``None``).
        host: Interface to bind; loopback by default.
        port: TCP port; 0 picks a free one (read it back from ``port`` / ``base_url``).
        rate_limit: Requests per minute per partner; ``None`` turns the limit off.
        rate_limit_burst: Bucket capacity (default: ``rate_limit``).
        clock: Wall clock for timestamps and download URL expiry (default ``time.time``).
        storage_dir: Where report files go (default: a private temp dir removed on close).
        seed: ``"demo"`` for the demo data set, ``None`` / ``"none"`` for nothing.
        include_sha256: Whether reports carry ``sha256``.
        include_pagination_totals: Whether list pagination carries ``total`` / ``totalPages``.
        webhook_retry_delays: Seconds to wait before each retry of a failed delivery.
        webhook_timeout: Per-attempt timeout of a delivery, in seconds.
        max_upload_bytes: The report size limit (26,214,400 bytes, as documented).
        download_url_ttl: Lifetime of presigned download URLs in seconds.
        random_seed: Seed for generated study UIDs and names (``None``: unpredictable).
        access_log: Log every request on the ``aiohttp.access`` logger.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = 120,
        rate_limit_burst: int | None = None,
        clock: Callable[[], float] | None = None,
        storage_dir: str | PathLike[str] | None = None,
        seed: str | None = None,
        include_sha256: bool = True,
        include_pagination_totals: bool = True,
        webhook_retry_delays: Iterable[float] = (0.5, 1.0, 2.0),
        webhook_timeout: float = 10.0,
        max_upload_bytes: int = MAX_REPORT_BYTES,
        download_url_ttl: int = DOWNLOAD_URL_TTL_SECONDS,
        random_seed: int | None = None,
        access_log: bool = False,
    ) -> None:
        if seed not in (None, "none", "demo"):
            raise ValueError(f"unknown seed {seed!r}; expected 'demo' or None")
        self._host = host
        self._requested_port = port
        self._access_log = access_log
        self._clock: Callable[[], float] = clock or time.time
        if storage_dir is None:
            root = Path(tempfile.mkdtemp(prefix="bigmind-emulator-"))
            self._cleanup_storage: Callable[[], Any] | None = weakref.finalize(
                self, shutil.rmtree, root, ignore_errors=True
            )
        else:
            root = Path(storage_dir)
            self._cleanup_storage = None
        self._state = State(self._clock, Storage(root))
        self._seeder = Seeder(self._state, random.Random(random_seed))
        default = self._state.add_partner("Default partner", api_key=api_key)
        self._default_partner = default
        self._stats = EmulatorStats()
        self._faults = FaultInjector()
        self._limiter = RateLimiter(rate_limit, rate_limit_burst)
        self._webhooks = WebhookDispatcher(
            self._clock,
            webhook_retry_delays,
            timeout=webhook_timeout,
            on_attempt=self._count_webhook_attempt,
        )
        self._signer = UrlSigner(self._clock, download_url_ttl)
        self._config = AppConfig(include_sha256, include_pagination_totals, max_upload_bytes)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._closed = False
        self.demo_customer_id: str | None = None
        if seed == "demo":
            self.demo_customer_id = self._seeder.seed_demo()

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        return f"<Emulator {where}>"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Emulator:
        """Bind and start serving in the running loop; returns ``self``."""
        if self._closed:
            raise RuntimeError("this Emulator was closed; create a new one")
        if self._runner is not None:
            raise RuntimeError("this Emulator is already running")
        app = EmulatorApp(
            state=self._state,
            seeder=self._seeder,
            limiter=self._limiter,
            faults=self._faults,
            stats=self._stats,
            webhooks=self._webhooks,
            signer=self._signer,
            config=self._config,
            origin=self._origin,
        ).build()
        runner_kwargs: dict[str, Any] = {"handle_signals": False, "shutdown_timeout": 1.0}
        if not self._access_log:
            runner_kwargs["access_log"] = None
        runner = web.AppRunner(app, **runner_kwargs)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._requested_port)
            await site.start()
            self._port = int(runner.addresses[0][1])
            await self._webhooks.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        return self

    async def aclose(self) -> None:
        """Stop serving, cancel pending webhook deliveries, and remove the temp storage."""
        if self._closed:
            return
        self._closed = True
        runner, self._runner = self._runner, None
        try:
            if runner is not None:
                await runner.cleanup()
        finally:
            await self._webhooks.aclose()
            if self._cleanup_storage is not None:
                self._cleanup_storage()

    async def __aenter__(self) -> Emulator:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- addresses and identity --------------------------------------------------------------

    @property
    def port(self) -> int:
        """The bound TCP port (after ``start()``)."""
        if self._port is None:
            raise RuntimeError("the Emulator is not started; use 'async with Emulator()'")
        return self._port

    def _origin(self) -> str:
        return f"http://{_url_host(self._host)}:{self.port}"

    @property
    def origin(self) -> str:
        """``http://127.0.0.1:<port>``: the side channel lives under ``/_emulator``."""
        return self._origin()

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>/api/partner/v1``."""
        return self._origin() + API_PREFIX

    @property
    def api_key(self) -> str:
        """The default partner's API key."""
        return self._default_partner.api_key

    @property
    def partner_key_id(self) -> str:
        """The default key's id, as ``attachedByPartnerKeyId`` shows it (``pk_1_1``)."""
        return self._default_partner.key_id

    @property
    def partner(self) -> PartnerInfo:
        """The default partner (id, key, key id)."""
        return self._default_partner

    @property
    def storage_dir(self) -> Path:
        """Where report files are stored."""
        return self._state.storage.root

    # -- services ----------------------------------------------------------------------------

    @property
    def stats(self) -> EmulatorStats:
        """Live counters; ``stats.reset()`` zeroes them."""
        return self._stats

    @property
    def faults(self) -> FaultInjector:
        """``faults.inject(kind, ...)`` / ``faults.clear()``."""
        return self._faults

    @property
    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every webhook delivery so far, with attempts and final status."""
        return self._webhooks.deliveries

    @property
    def comments(self) -> list[dict[str, Any]]:
        """The AI Lens visibility comments posted by non-silent attaches."""
        return self._state.comments

    def _count_webhook_attempt(self) -> None:
        self._stats.webhooks_sent += 1

    def add_webhook(
        self, url: str, secret: str | None = None, events: Iterable[str] | None = None
    ) -> str:
        """Register a receiver for ``events`` (all when ``None``); returns its signing secret."""
        return self._webhooks.add(url, secret, events).secret

    def clear_webhooks(self) -> None:
        """Forget every registered receiver (deliveries in progress go on)."""
        self._webhooks.clear()

    async def wait_webhooks_idle(self) -> None:
        """Wait until every queued webhook delivery has succeeded or given up."""
        await self._webhooks.wait_idle()

    # -- partners and keys -------------------------------------------------------------------

    def add_partner(
        self,
        name: str | None = None,
        *,
        api_key: str | None = None,
        active: bool = True,
        trial_expired: bool = False,
    ) -> PartnerInfo:
        """Another partner with its own key, customers and rate-limit bucket."""
        return self._state.add_partner(
            name, api_key=api_key, active=active, trial_expired=trial_expired
        )

    def add_api_key(self, partner: PartnerInfo | int, api_key: str | None = None) -> PartnerInfo:
        """A second key for a partner (e.g. during rotation); it shares the partner's limit."""
        return self._state.add_key(_partner_id(partner), api_key)

    def revoke_key(self, key: str | PartnerInfo) -> None:
        """Revoke a key, given its secret, its key id (``pk_...``) or a ``PartnerInfo``."""
        self._state.revoke_key(key.key_id if isinstance(key, PartnerInfo) else key)

    def set_partner_status(
        self,
        partner: PartnerInfo | int,
        *,
        active: bool | None = None,
        trial_expired: bool | None = None,
    ) -> None:
        """Deactivate a partner (401 INVALID_API_KEY) or expire its trial (403 TRIAL_EXPIRED)."""
        record = self._state.partner(_partner_id(partner))
        if active is not None:
            record.active = active
        if trial_expired is not None:
            record.trial_expired = trial_expired

    # -- seeding -----------------------------------------------------------------------------

    def seed_demo(self) -> str:
        """Add the demo data set (idempotent); returns the demo customer id."""
        self.demo_customer_id = self._seeder.seed_demo()
        return self.demo_customer_id

    def add_customer(
        self,
        customer_id: str | None = None,
        *,
        partner: PartnerInfo | int | None = None,
        quota_bytes: int = DEFAULT_QUOTA_BYTES,
        used_bytes: int = 0,
    ) -> str:
        """A customer of ``partner`` (default: the default partner); returns ``pc_<p>_<ms>``."""
        partner_id = self._default_partner.partner_id if partner is None else _partner_id(partner)
        return self._seeder.add_customer(
            customer_id, partner_id=partner_id, quota_bytes=quota_bytes, used_bytes=used_bytes
        )

    def set_quota(
        self, customer_id: str, *, quota_bytes: int | None = None, used_bytes: int | None = None
    ) -> None:
        """Change a customer's quota or usage, e.g. to bring it near full."""
        customer = self._state.customer(customer_id)
        if quota_bytes is not None:
            customer.quota_bytes = quota_bytes
        if used_bytes is not None:
            customer.used_bytes = used_bytes

    def customer_usage(self, customer_id: str) -> dict[str, int]:
        """``{"quotaBytes", "usedBytes"}`` of a customer."""
        customer = self._state.customer(customer_id)
        return {"quotaBytes": customer.quota_bytes, "usedBytes": customer.used_bytes}

    def add_study(
        self,
        customer_id: str,
        study_uid: str | None = None,
        *,
        indexed: bool = True,
        modality: str = "CT",
        body_part: str = "CHEST",
        patient_name: str | None = None,
        patient_id: str | None = None,
        study_description: str | None = None,
        study_date: dt.date | str | None = None,
        indexed_at: float | dt.datetime | str | None = None,
    ) -> str:
        """A study (indexed unless ``indexed=False``); returns its UID (generated if not given)."""
        return self._seeder.add_study(
            customer_id,
            study_uid,
            indexed=indexed,
            modality=modality,
            body_part=body_part,
            patient_name=patient_name,
            patient_id=patient_id,
            study_description=study_description,
            study_date=study_date,
            indexed_at=indexed_at,
        )

    def index_study(self, customer_id: str, study_uid: str, indexed_at: float | None = None) -> str:
        """Finish indexing an unindexed study; returns its entity id."""
        return self._state.index_study(customer_id, study_uid, indexed_at)

    def add_user_report(
        self,
        customer_id: str,
        study_uid: str,
        content: bytes,
        file_name: str,
        *,
        title: str | None = None,
        report_type: str = "other",
        is_primary: bool = False,
        created_at: float | None = None,
    ) -> str:
        """A report uploaded by a user in the app (``attachedByPartnerKeyId: null``)."""
        return self._seeder.add_report(
            customer_id,
            study_uid,
            content,
            file_name,
            title=title,
            report_type=report_type,
            is_primary=is_primary,
            created_at=created_at,
        )

    def add_partner_report(
        self,
        customer_id: str,
        study_uid: str,
        content: bytes,
        file_name: str,
        *,
        key_id: str | None = None,
        title: str | None = None,
        report_type: str = "other",
        is_primary: bool = False,
    ) -> str:
        """A report as if attached through the API by ``key_id`` (default: the default key)."""
        return self._seeder.add_report(
            customer_id,
            study_uid,
            content,
            file_name,
            title=title,
            report_type=report_type,
            is_primary=is_primary,
            attached_by_key_id=key_id or self.partner_key_id,
        )

    def reports(self, customer_id: str | None = None) -> list[dict[str, Any]]:
        """Stored reports in wire form (plus ``customerId``), oldest first."""
        found = sorted(self._state.reports.values(), key=lambda r: r.seq)
        return [
            {"customerId": r.customer_id, **self._state.report_json(r, include_sha256=True)}
            for r in found
            if customer_id is None or r.customer_id == customer_id
        ]

    def report_path(self, report_id: str) -> Path:
        """Where a stored report's bytes are on disk."""
        return self._state.reports[report_id].path


def _partner_id(partner: PartnerInfo | int) -> int:
    return partner.partner_id if isinstance(partner, PartnerInfo) else partner
