"""The aiohttp application: routes, the envelope middleware, auth, limits, faults, handlers.

Check order on every Partner API request: route -> auth -> rate limit -> injected fault ->
customer -> study UID format -> study exists and is indexed -> body (type, size) -> quota.
The side channel (``/_emulator/...``) needs no key but answers only loopback clients;
presigned downloads (``/_emulator/files/...``) need no key and answer anyone with a valid URL.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bigmind_async.emulator._faults import ERROR_CODES, ROUTE_NAMES, Fault, FaultInjector
from bigmind_async.emulator._ratelimit import RateLimiter
from bigmind_async.emulator._seed import Seeder
from bigmind_async.emulator._signing import UrlSigner
from bigmind_async.emulator._state import (
    GIB,
    Customer,
    Report,
    State,
    Study,
    is_valid_study_uid,
)
from bigmind_async.emulator._stats import EmulatorStats
from bigmind_async.emulator._upload import MAX_REPORT_BYTES, parse_attach
from bigmind_async.emulator._webhooks import WebhookDispatcher
from bigmind_async.emulator._wire import (
    REQUEST_ID_HEADER,
    ApiError,
    failure,
    iso8601,
    new_request_id,
    parse_iso8601,
    success,
    validation_error,
)

logger = logging.getLogger("bigmind_async.emulator")

API_PREFIX = "/api/partner/v1"
SIDE_PREFIX = "/_emulator"
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 20
_LIMIT_MESSAGE = f"must be between 1 and {MAX_PAGE_SIZE}"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ApiHandler = Callable[[web.Request, "Caller"], Awaitable[web.StreamResponse]]


class DropConnection(Exception):
    """Raised by a handler to close the socket without writing any response."""


@dataclass
class Caller:
    """The authenticated partner behind a request."""

    partner_id: int
    key_id: str


@dataclass
class AppConfig:
    """Behaviour switches of one emulator."""

    include_sha256: bool = True
    include_pagination_totals: bool = True
    max_upload_bytes: int = MAX_REPORT_BYTES


class EmulatorApp:
    """Builds the ``web.Application`` over the emulator's state and services."""

    def __init__(
        self,
        *,
        state: State,
        seeder: Seeder,
        limiter: RateLimiter,
        faults: FaultInjector,
        stats: EmulatorStats,
        webhooks: WebhookDispatcher,
        signer: UrlSigner,
        config: AppConfig,
        origin: Callable[[], str],
    ) -> None:
        self.state = state
        self.seeder = seeder
        self.limiter = limiter
        self.faults = faults
        self.stats = stats
        self.webhooks = webhooks
        self.signer = signer
        self.config = config
        self.origin = origin

    # -- application -------------------------------------------------------------------------

    def build(self) -> web.Application:
        app = web.Application(middlewares=[self._envelope_middleware])
        api = [
            ("GET", "/customers/{customer_id}/dicom-studies", self.list_studies, "list_studies"),
            ("GET", "/customers/{customer_id}/dicom-studies/{study_uid}", self.get_study,
             "get_study"),
            ("POST", "/customers/{customer_id}/dicom-studies/{study_uid}/reports",
             self.attach_report, "attach_report"),
            ("GET", "/customers/{customer_id}/dicom-studies/{study_uid}/reports",
             self.list_reports, "list_reports"),
            ("GET", "/customers/{customer_id}/reports/{report_id}", self.get_report,
             "get_report"),
            ("DELETE", "/customers/{customer_id}/reports/{report_id}", self.detach_report,
             "detach_report"),
        ]  # fmt: skip
        for method, path, handler, name in api:
            app.router.add_route(method, API_PREFIX + path, self._api(name, handler), name=name)
        app.router.add_get(SIDE_PREFIX + "/files/{report_id}", self.download, name="download")
        side = [
            ("GET", "/health", self.side_health),
            ("GET", "/stats", self.side_stats),
            ("DELETE", "/stats", self.side_stats_reset),
            ("GET", "/faults", self.side_faults),
            ("POST", "/faults", self.side_faults_add),
            ("DELETE", "/faults", self.side_faults_clear),
            ("GET", "/webhooks", self.side_webhooks),
            ("POST", "/webhooks", self.side_webhooks_add),
            ("DELETE", "/webhooks", self.side_webhooks_clear),
            ("GET", "/webhooks/deliveries", self.side_webhook_deliveries),
            ("POST", "/seed", self.side_seed),
            ("GET", "/comments", self.side_comments),
        ]
        for method, path, side_handler in side:
            app.router.add_route(method, SIDE_PREFIX + path, self._side(side_handler))
        app.on_response_prepare.append(_add_request_id)
        return app

    @web.middleware
    async def _envelope_middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        route = _route_label(request)
        self.stats.request_started(route)
        status = 0
        try:
            try:
                response = await handler(request)
            except ApiError as exc:
                response = exc.response()
            except web.HTTPException as exc:
                response = _http_exception_envelope(exc)
            except (DropConnection, ConnectionError):
                # Ours (an injected reset) or the client's (it went away mid-request).
                transport = request.transport
                if transport is not None:
                    transport.abort()
                # Nothing can be written to an aborted transport; aiohttp sees the reset.
                return web.Response(status=500)
            except Exception:
                logger.exception("unexpected error handling %s %s", request.method, request.path)
                response = failure(500, "INTERNAL_ERROR", "Internal server error")
            status = response.status
            return response
        finally:
            self.stats.request_finished(route, status)

    def _api(self, route: str, handler: ApiHandler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            caller = self._authenticate(request)
            retry_after = self.limiter.check(caller.partner_id)
            if retry_after is not None:
                raise _rate_limited(retry_after)
            fault = await self._apply_fault(request, route)
            response = await handler(request, caller)
            if fault is not None and fault.kind == "reset_after_commit":
                raise DropConnection
            return response

        return wrapped

    def _side(self, handler: Handler) -> Handler:
        async def wrapped(request: web.Request) -> web.StreamResponse:
            if not _is_loopback(request.remote):
                raise ApiError(403, "FORBIDDEN", "The emulator side channel is loopback-only")
            return await handler(request)

        return wrapped

    def _authenticate(self, request: web.Request) -> Caller:
        secret = _presented_key(request)
        if not secret:
            raise ApiError(401, "UNAUTHENTICATED", "No API key was sent")
        key = self.state.lookup_key(secret)
        partner = None if key is None else self.state.partners.get(key.partner_id)
        if key is None or key.revoked or partner is None or not partner.active:
            raise ApiError(401, "INVALID_API_KEY", "The API key is invalid or revoked")
        if partner.trial_expired:
            raise ApiError(403, "TRIAL_EXPIRED", "The partner trial has expired")
        return Caller(partner.partner_id, key.key_id)

    async def _apply_fault(self, request: web.Request, route: str) -> Fault | None:
        fault = self.faults.pick(route, request.method)
        if fault is None:
            return None
        self.stats.faults_fired[fault.kind] += 1
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.kind == "error":
            headers = {"Retry-After": str(fault.retry_after)} if fault.status == 503 else None
            raise ApiError(
                fault.status,
                ERROR_CODES[fault.status],
                "Internal server error (injected fault)",
                headers=headers,
            )
        if fault.kind == "rate_limit":
            raise _rate_limited(fault.retry_after)
        if fault.kind == "reset_before_commit":
            raise DropConnection
        return fault

    # -- lookups -----------------------------------------------------------------------------

    def _customer(self, request: web.Request, caller: Caller) -> Customer:
        customer = self.state.customers.get(request.match_info["customer_id"])
        if customer is None or customer.partner_id != caller.partner_id:
            raise ApiError(404, "CUSTOMER_NOT_FOUND", "Customer not found")
        return customer

    @staticmethod
    def _indexed_study(request: web.Request, customer: Customer) -> Study:
        uid = request.match_info["study_uid"]
        if not is_valid_study_uid(uid):
            raise validation_error(
                [("studyInstanceUid", "must be a DICOM UID: digits and dots, at most 64")]
            )
        study = customer.studies.get(uid)
        if study is None or not study.indexed:
            raise _study_not_found()
        return study

    # -- Partner API handlers ----------------------------------------------------------------

    async def list_studies(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        customer = self._customer(request, caller)
        query = request.query
        errors: list[tuple[str, str]] = []
        page = _int_param(query.get("page"), "page", 1, errors, "must be >= 1", 1, None)
        limit = _int_param(
            query.get("limit"), "limit", DEFAULT_PAGE_SIZE, errors, _LIMIT_MESSAGE, 1,
            MAX_PAGE_SIZE,
        )  # fmt: skip
        since = _time_param(query.get("from"), "from", errors, end_of_day=False)
        until = _time_param(query.get("to"), "to", errors, end_of_day=True)
        if errors:
            raise validation_error(errors)
        modality = (query.get("modality") or "").strip().casefold()
        body_part = (query.get("bodyPart") or "").strip().casefold()
        text = (query.get("q") or "").strip().casefold()

        def keep(study: Study) -> bool:
            if modality and study.modality.casefold() != modality:
                return False
            if body_part and study.body_part.casefold() != body_part:
                return False
            if text and not any(
                text in value.casefold()
                for value in (study.patient_name, study.patient_id, study.study_description)
            ):
                return False
            if since is not None or until is not None:
                if study.indexed_at is None:
                    return False
                if since is not None and study.indexed_at < since:
                    return False
                if until is not None and study.indexed_at > until:
                    return False
            return True

        matching = customer.listing()
        if modality or body_part or text or since is not None or until is not None:
            matching = [s for s in matching if keep(s)]
        total = len(matching)
        start = (page - 1) * limit
        window = matching[start : start + limit] if start < total else []
        pagination: dict[str, Any] = {"page": page, "limit": limit}
        if self.config.include_pagination_totals:
            pagination["total"] = total
            pagination["totalPages"] = (total + limit - 1) // limit
        studies = [self.state.study_json(s) for s in window]
        return success({"studies": studies, "pagination": pagination})

    async def get_study(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        customer = self._customer(request, caller)
        study = self._indexed_study(request, customer)
        body = self.state.study_json(study)
        entity = {"id": study.entity_id, "type": "patient", "name": study.patient_name}
        return success({"study": body, "entity": entity, "reportCount": body["reportCount"]})

    async def attach_report(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        customer = self._customer(request, caller)
        study = self._indexed_study(request, customer)
        self.stats.attach_count += 1
        record = self.stats.new_upload(request.path, time.monotonic())
        temp_path = self.state.storage.new_temp_path()
        try:
            upload = await parse_attach(
                request, temp_path, record, max_bytes=self.config.max_upload_bytes
            )
            if customer.used_bytes + upload.size > customer.quota_bytes:
                raise ApiError(
                    402,
                    "STORAGE_FULL",
                    "Customer storage quota exceeded",
                    {
                        "quotaGB": _gigabytes(customer.quota_bytes),
                        "usedBytes": customer.used_bytes,
                        "requiredBytes": upload.size,
                    },
                )
            report = self.state.add_report(
                customer=customer,
                study=study,
                temp_path=temp_path,
                title=upload.file.title,
                report_type=upload.report_type,
                is_primary=upload.is_primary,
                file_name=upload.file.file_name,
                mime_type=upload.file.mime_type,
                size_bytes=upload.size,
                sha256=upload.sha256,
                attached_by_key_id=caller.key_id,
            )
        except BaseException as exc:
            # The one place an upload's temp file is removed (gone already once committed).
            self.state.storage.discard(temp_path)
            record.outcome = exc.code if isinstance(exc, ApiError) else "aborted"
            raise
        finally:
            record.finished = True
        record.outcome = "stored"
        record.report_id = report.report_id
        self.stats.reports_stored += 1
        self.stats.bytes_stored += report.size_bytes
        if not upload.silent:
            self.state.comments.append(
                {
                    "customerId": customer.customer_id,
                    "entityId": study.entity_id,
                    "studyInstanceUid": study.uid,
                    "reportId": report.report_id,
                    "text": f"Report attached: {report.title}",
                    "createdAt": iso8601(report.created_at),
                }
            )
        body = self.state.report_json(report, include_sha256=self.config.include_sha256)
        self.webhooks.emit(
            "dicom.report.attached",
            {"customerId": customer.customer_id, "studyInstanceUid": study.uid, "report": body},
        )
        return success(body, status=201)

    async def list_reports(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        customer = self._customer(request, caller)
        study = self._indexed_study(request, customer)
        reports = [
            self.state.report_json(r, include_sha256=self.config.include_sha256)
            for r in study.reports.values()
        ]
        return success({"reports": reports})

    def _report(self, request: web.Request, customer: Customer) -> Report:
        report = self.state.reports.get(request.match_info["report_id"])
        if report is None or report.customer_id != customer.customer_id:
            raise ApiError(404, "REPORT_NOT_FOUND", "Report not found")
        return report

    async def get_report(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        customer = self._customer(request, caller)
        report = self._report(request, customer)
        expires, signature = self.signer.sign(report.report_id)
        body = self.state.report_json(report, include_sha256=self.config.include_sha256)
        body["downloadUrl"] = (
            f"{self.origin()}{SIDE_PREFIX}/files/{report.report_id}"
            f"?expires={expires}&signature={signature}"
        )
        body["downloadUrlExpiresInSeconds"] = self.signer.ttl_seconds
        return success(body)

    async def detach_report(self, request: web.Request, caller: Caller) -> web.StreamResponse:
        customer = self._customer(request, caller)
        report = self._report(request, customer)
        if report.attached_by_key_id is None:
            raise ApiError(
                403, "FORBIDDEN", "User-uploaded reports cannot be deleted through the Partner API"
            )
        key = self.state.keys_by_id.get(report.attached_by_key_id)
        if key is None or key.partner_id != caller.partner_id:
            raise ApiError(403, "FORBIDDEN", "Only reports attached by this partner can be deleted")
        self.state.remove_report(report)
        self.stats.reports_detached += 1
        self.webhooks.emit(
            "dicom.report.detached",
            {
                "customerId": customer.customer_id,
                "studyInstanceUid": report.study_uid,
                "reportId": report.report_id,
            },
        )
        return success({"reportId": report.report_id, "detached": True})

    async def download(self, request: web.Request) -> web.StreamResponse:
        fault = await self._apply_fault(request, "download")
        report_id = request.match_info["report_id"]
        verdict = self.signer.check(
            report_id, request.query.get("expires"), request.query.get("signature")
        )
        if verdict == "invalid":
            return _s3_error(403, "AccessDenied", "Request signature does not match")
        if verdict == "expired":
            return _s3_error(403, "ExpiredToken", "Request has expired")
        if "Authorization" in request.headers or "X-API-Key" in request.headers:
            # S3 refuses a presigned URL sent with an Authorization header; the API key on
            # this request would also be a leak of it to the storage host: refused either way.
            return _s3_error(
                400, "InvalidArgument", "Only one auth mechanism allowed: the URL's signature"
            )
        report = self.state.reports.get(report_id)
        if report is None or not report.path.exists():
            return _s3_error(404, "NoSuchKey", "The specified key does not exist")
        response = web.FileResponse(
            report.path,
            headers={
                "Content-Type": report.mime_type,
                "Content-Disposition": f'attachment; filename="{_quote(report.file_name)}"',
            },
        )
        if fault is not None and fault.kind == "reset_after_commit":
            await response.prepare(request)
            raise DropConnection
        return response

    # -- side channel ------------------------------------------------------------------------

    async def side_health(self, request: web.Request) -> web.StreamResponse:
        return success({"status": "ok", "baseUrl": self.origin() + API_PREFIX})

    async def side_stats(self, request: web.Request) -> web.StreamResponse:
        return success(self.stats.to_json())

    async def side_stats_reset(self, request: web.Request) -> web.StreamResponse:
        self.stats.reset()
        return success({"reset": True})

    async def side_faults(self, request: web.Request) -> web.StreamResponse:
        return success({"faults": [f.to_json() for f in self.faults.faults]})

    async def side_faults_add(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        kwargs: dict[str, Any] = {}
        for wire, name in (
            ("route", "route"),
            ("method", "method"),
            ("times", "times"),
            ("probability", "probability"),
            ("status", "status"),
            ("retryAfter", "retry_after"),
            ("retry_after", "retry_after"),
            ("delay", "delay"),
            ("seed", "seed"),
        ):
            if wire in body:
                kwargs[name] = body[wire]
        try:
            fault = self.faults.inject(str(body.get("kind", "")), **kwargs)
        except (TypeError, ValueError) as exc:
            raise validation_error([("kind", str(exc))]) from None
        return success(fault.to_json(), status=201)

    async def side_faults_clear(self, request: web.Request) -> web.StreamResponse:
        self.faults.clear()
        return success({"cleared": True})

    async def side_webhooks(self, request: web.Request) -> web.StreamResponse:
        endpoints = [
            {
                "id": e.endpoint_id,
                "url": e.url,
                "events": None if e.events is None else sorted(e.events),
            }
            for e in self.webhooks.endpoints
        ]
        return success({"webhooks": endpoints})

    async def side_webhooks_add(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        url = body.get("url")
        secret = body.get("secret")
        events = body.get("events")
        if not isinstance(url, str):
            raise validation_error([("url", "is required")])
        if secret is not None and not isinstance(secret, str):
            raise validation_error([("secret", "must be a string")])
        if events is not None and not (
            isinstance(events, list) and all(isinstance(e, str) for e in events)
        ):
            raise validation_error([("events", "must be a list of event names")])
        try:
            endpoint = self.webhooks.add(url, secret, events)
        except ValueError as exc:
            raise validation_error([("url", str(exc))]) from None
        return success(
            {
                "id": endpoint.endpoint_id,
                "url": endpoint.url,
                "secret": endpoint.secret,
                "events": events,
            },
            status=201,
        )

    async def side_webhooks_clear(self, request: web.Request) -> web.StreamResponse:
        self.webhooks.clear()
        return success({"cleared": True})

    async def side_webhook_deliveries(self, request: web.Request) -> web.StreamResponse:
        return success({"deliveries": [d.to_json() for d in self.webhooks.deliveries]})

    async def side_comments(self, request: web.Request) -> web.StreamResponse:
        return success({"comments": list(self.state.comments)})

    async def side_seed(self, request: web.Request) -> web.StreamResponse:
        body = await _json_object(request)
        result: dict[str, Any] = {}
        try:
            if "seed" in body:
                if body["seed"] != "demo":
                    raise validation_error([("seed", "must be 'demo'")])
                result["customerId"] = self.seeder.seed_demo()
            if "partner" in body:
                spec = _object(body["partner"], "partner")
                info = self.state.add_partner(
                    spec.get("name"),
                    api_key=spec.get("apiKey"),
                    active=bool(spec.get("active", True)),
                    trial_expired=bool(spec.get("trialExpired", False)),
                )
                result["partner"] = {
                    "partnerId": info.partner_id,
                    "apiKey": info.api_key,
                    "keyId": info.key_id,
                }
            if "customer" in body:
                spec = _object(body["customer"], "customer")
                kwargs = _pick(spec, quotaBytes="quota_bytes", usedBytes="used_bytes",
                               partnerId="partner_id")  # fmt: skip
                result["customerId"] = self.seeder.add_customer(spec.get("customerId"), **kwargs)
            if "study" in body:
                spec = _object(body["study"], "study")
                kwargs = _pick(
                    spec, indexed="indexed", modality="modality", bodyPart="body_part",
                    patientName="patient_name", patientId="patient_id",
                    studyDescription="study_description", studyDate="study_date",
                    indexedAt="indexed_at",
                )  # fmt: skip
                customer_id = spec.get("customerId") or result.get("customerId")
                result["studyInstanceUid"] = self.seeder.add_study(
                    str(customer_id), spec.get("studyInstanceUid"), **kwargs
                )
            if "userReport" in body:
                spec = _object(body["userReport"], "userReport")
                text = spec.get("text")
                if not isinstance(text, str):
                    raise validation_error([("userReport.text", "is required")])
                result["reportId"] = self.seeder.add_report(
                    str(spec.get("customerId") or result.get("customerId")),
                    str(spec.get("studyInstanceUid") or result.get("studyInstanceUid")),
                    text.encode("utf-8"),
                    str(spec.get("fileName", "report.txt")),
                    report_type=str(spec.get("reportType", "other")),
                )
        except (KeyError, ValueError, TypeError) as exc:
            raise validation_error([("body", str(exc).strip("'\""))]) from None
        if not result:
            raise validation_error(
                [("body", "expected one of seed, partner, customer, study, userReport")]
            )
        return success(result, status=201)


# -- helpers ---------------------------------------------------------------------------------


async def _add_request_id(request: web.BaseRequest, response: web.StreamResponse) -> None:
    # On prepare rather than in the middleware, so that a response a handler prepares itself
    # (a download cut after its headers) carries one too.
    response.headers[REQUEST_ID_HEADER] = new_request_id()


def _route_label(request: web.Request) -> str:
    name = request.match_info.route.name
    if name in ROUTE_NAMES:
        return name
    if request.match_info.http_exception is not None:
        return "unmatched"
    return "side_channel"


def _http_exception_envelope(exc: web.HTTPException) -> web.Response:
    codes = {404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "FILE_TOO_LARGE"}
    messages = {404: "No such route", 405: "Method not allowed for this route"}
    code = codes.get(exc.status, "INTERNAL_ERROR" if exc.status >= 500 else "BAD_REQUEST")
    headers = {k: v for k, v in exc.headers.items() if k.lower() == "allow"}
    return failure(exc.status, code, messages.get(exc.status, exc.reason), headers=headers)


def _study_not_found() -> ApiError:
    # A fresh instance each time: a shared one would collect every raise's frames (and the
    # requests they hold) in its ``__traceback__``.
    return ApiError(404, "STUDY_NOT_FOUND", "Study not found")


def _rate_limited(retry_after: int) -> ApiError:
    return ApiError(
        429,
        "RATE_LIMITED",
        "Too many requests; retry after the Retry-After delay",
        {"retryAfter": retry_after},
        headers={"Retry-After": str(retry_after)},
    )


def _presented_key(request: web.Request) -> str | None:
    authorization = request.headers.get("Authorization", "")
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


def _is_loopback(remote: str | None) -> bool:
    if not remote:
        return False
    try:
        return ipaddress.ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def _int_param(
    raw: str | None,
    name: str,
    default: int,
    errors: list[tuple[str, str]],
    range_message: str,
    minimum: int,
    maximum: int | None,
) -> int:
    if raw is None:
        return default
    text = raw.strip()
    digits = text[1:] if text.startswith("-") else text
    if not digits.isdigit() or not digits.isascii() or len(digits) > 18:
        errors.append((name, "must be an integer"))
        return default
    value = int(text)
    if value < minimum or (maximum is not None and value > maximum):
        errors.append((name, range_message))
        return default
    return value


def _time_param(
    raw: str | None, name: str, errors: list[tuple[str, str]], *, end_of_day: bool
) -> float | None:
    if raw is None or not raw.strip():
        return None
    try:
        timestamp, date_only = parse_iso8601(raw)
    except ValueError:
        errors.append((name, "must be an ISO 8601 date or date-time"))
        return None
    if date_only and end_of_day:
        # ``to=2026-04-02`` includes the whole of that day.
        return timestamp + 86400 - 0.001
    return timestamp


def _gigabytes(size: int) -> int | float:
    value = size / GIB
    return int(value) if value.is_integer() else round(value, 3)


def _quote(file_name: str) -> str:
    return file_name.replace("\\", "_").replace('"', "_").encode("ascii", "replace").decode()


def _s3_error(status: int, code: str, message: str) -> web.Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(text=body, status=status, content_type="application/xml")


async def _json_object(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise validation_error([("body", "must be a JSON object")]) from None
    if not isinstance(body, dict):
        raise validation_error([("body", "must be a JSON object")])
    return body


def _object(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise validation_error([(name, "must be a JSON object")])
    return value


def _pick(spec: dict[str, Any], **names: str) -> dict[str, Any]:
    return {python: spec[wire] for wire, python in names.items() if wire in spec}
