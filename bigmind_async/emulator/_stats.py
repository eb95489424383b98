"""Counters that tests and benchmarks read: requests, statuses, 429s, uploads, faults."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bigmind_async.emulator._upload import UploadRecord


@dataclass
class EmulatorStats:
    """What the emulator has seen since it started (or since ``reset()``).

    ``requests_total``, ``responses_by_status`` and ``rate_limited`` are read-only, worked out
    from the per-route counters when read.

    Attributes:
        requests_total: Every request, API, side channel and downloads alike.
        requests_by_route: Requests per route name (``list_studies``, ``attach_report``,
            ``download``, ``side_channel``, ``unmatched``...).
        responses_by_status: Responses per HTTP status; a dropped connection counts as ``0``.
        responses_by_route_status: ``{route: {status: n}}``.
        rate_limited: 429 responses sent (real limit and injected faults).
        faults_fired: Faults that fired, per kind.
        attach_count: Attach requests that reached the handler.
        reports_stored: Reports committed by attach.
        reports_detached: Reports removed by detach.
        bytes_stored: Bytes committed by attach.
        webhooks_sent: Webhook delivery attempts.
        in_flight_requests: Requests being handled now.
        max_concurrent_requests: The most requests in flight at once.
        uploads: One ``UploadRecord`` per attach request, in arrival order.
    """

    requests_by_route: Counter[str] = field(default_factory=Counter)
    responses_by_route_status: dict[str, Counter[int]] = field(default_factory=dict)
    faults_fired: Counter[str] = field(default_factory=Counter)
    attach_count: int = 0
    reports_stored: int = 0
    reports_detached: int = 0
    bytes_stored: int = 0
    webhooks_sent: int = 0
    in_flight_requests: int = 0
    max_concurrent_requests: int = 0
    uploads: list[UploadRecord] = field(default_factory=list)
    _upload_seq: int = 0

    def reset(self) -> None:
        """Zero every counter; requests and uploads in flight stay counted as in flight."""
        in_flight = self.in_flight_requests
        running = [u for u in self.uploads if not u.finished]
        seq = self._upload_seq
        fresh = EmulatorStats()
        for name in fresh.__dataclass_fields__:
            setattr(self, name, getattr(fresh, name))
        self.in_flight_requests = in_flight
        self.max_concurrent_requests = in_flight
        self.uploads = running
        self._upload_seq = seq

    @property
    def requests_total(self) -> int:
        """Every request, API, side channel and downloads alike."""
        return sum(self.requests_by_route.values())

    @property
    def responses_by_status(self) -> Counter[int]:
        """Responses per HTTP status over all routes (a fresh ``Counter``)."""
        total: Counter[int] = Counter()
        for counts in self.responses_by_route_status.values():
            total.update(counts)
        return total

    @property
    def rate_limited(self) -> int:
        """429 responses sent (real limit and injected faults)."""
        return sum(counts[429] for counts in self.responses_by_route_status.values())

    @property
    def uploads_in_flight(self) -> int:
        """Attach requests whose body is still being handled."""
        return sum(1 for u in self.uploads if not u.finished)

    @property
    def upload_bytes_in_flight(self) -> int:
        """File bytes received so far by the uploads in flight."""
        return sum(u.bytes_received for u in self.uploads if not u.finished)

    def new_upload(self, path: str, started: float) -> UploadRecord:
        self._upload_seq += 1
        record = UploadRecord(self._upload_seq, path, started)
        self.uploads.append(record)
        return record

    def request_started(self, route: str) -> None:
        self.requests_by_route[route] += 1
        self.in_flight_requests += 1
        self.max_concurrent_requests = max(self.max_concurrent_requests, self.in_flight_requests)

    def request_finished(self, route: str, status: int) -> None:
        self.in_flight_requests = max(0, self.in_flight_requests - 1)
        self.responses_by_route_status.setdefault(route, Counter())[status] += 1

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready snapshot (camelCase keys, like the API)."""
        return {
            "requestsTotal": self.requests_total,
            "requestsByRoute": dict(self.requests_by_route),
            "responsesByStatus": {str(k): v for k, v in self.responses_by_status.items()},
            "responsesByRouteStatus": {
                route: {str(k): v for k, v in counts.items()}
                for route, counts in self.responses_by_route_status.items()
            },
            "rateLimited": self.rate_limited,
            "faultsFired": dict(self.faults_fired),
            "attachCount": self.attach_count,
            "reportsStored": self.reports_stored,
            "reportsDetached": self.reports_detached,
            "bytesStored": self.bytes_stored,
            "webhooksSent": self.webhooks_sent,
            "inFlightRequests": self.in_flight_requests,
            "maxConcurrentRequests": self.max_concurrent_requests,
            "uploadsInFlight": self.uploads_in_flight,
            "uploadBytesInFlight": self.upload_bytes_in_flight,
            "uploads": [
                {
                    "uploadId": u.upload_id,
                    "path": u.route_path,
                    "chunkCount": len(u.chunks),
                    "bytesReceived": u.bytes_received,
                    "finished": u.finished,
                    "outcome": u.outcome,
                    "reportId": u.report_id,
                }
                for u in self.uploads
            ],
        }
