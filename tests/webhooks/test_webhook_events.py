"""Parsing verified deliveries: typed DICOM data, raw data for the rest, errors, tolerance."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import cattrs
import pytest
from webhook_helpers import ATTACHED, SECRET, envelope, now_iso, sign

from bigmind_async import webhooks
from bigmind_async._models import (
    Report,
    ReportAttachedData,
    ReportDetachedData,
    ReportType,
    WebhookEvent,
)
from bigmind_async._serialization import make_converter
from bigmind_async.errors import InvalidResponseError, WebhookSignatureError
from bigmind_async.webhooks import KNOWN_EVENTS, construct_event

OTHER_EVENTS = [
    "customer.created",
    "customer.updated",
    "customer.deleted",
    "subscription.created",
    "subscription.updated",
    "subscription.cancelled",
    "credits.low",
    "credits.depleted",
]


EVENT = "credits.low"


def parse(body: bytes, **kwargs: Any) -> WebhookEvent:
    return construct_event(body, sign(body), SECRET, **kwargs)


def signed_envelope(**fields: Any) -> bytes:
    return json.dumps(fields).encode()


class TestTypedData:
    def test_report_attached(self, attached_body: bytes) -> None:
        """dicom.report.attached carries a ReportAttachedData with a typed Report."""
        event = parse(attached_body)
        expected = ReportAttachedData(
            customer_id="pc_42_1715600000000",
            study_instance_uid="1.2.840.113619.2.55.3.1",
            report=Report(
                report_id="alf_01HXTEST",
                study_instance_uid="1.2.840.113619.2.55.3.1",
                entity_id="ent_7",
                title="Radiology Report",
                report_type=ReportType.RADIOLOGY,
                is_primary=False,
                file_name="report.pdf",
                mime_type="application/pdf",
                size_bytes=48213,
                created_at=datetime(2026, 5, 13, 15, 42, 11, tzinfo=timezone.utc),
                attached_by_partner_key_id="pk_42_1",
            ),
        )
        assert expected == event.data

    def test_report_detached(self, detached_body: bytes) -> None:
        """dicom.report.detached carries a ReportDetachedData."""
        event = parse(detached_body)
        expected = ReportDetachedData(
            customer_id="pc_42_1715600000000",
            study_instance_uid="1.2.840.113619.2.55.3.1",
            report_id="alf_01HXTEST",
        )
        assert expected == event.data

    def test_timestamp_is_aware(self) -> None:
        """The envelope timestamp becomes an aware UTC datetime."""
        body = signed_envelope(event="credits.low", timestamp="2026-05-13T15:42:11.000Z", data={})
        expected = datetime(2026, 5, 13, 15, 42, 11, tzinfo=timezone.utc)
        assert expected == parse(body).timestamp

    def test_unknown_fields_are_kept(self) -> None:
        """Unknown fields in the envelope, the data and the report land in ``extra``."""
        data = {**ATTACHED, "source": "api", "report": {**ATTACHED["report"], "pages": 3}}
        body = envelope("dicom.report.attached", data, deliveryId="dlv_1")
        event = parse(body)
        assert isinstance(event.data, ReportAttachedData)
        expected = ({"deliveryId": "dlv_1"}, {"source": "api"}, {"pages": 3})
        assert expected == (event.extra, event.data.extra, event.data.report.extra)


class TestOtherEvents:
    @pytest.mark.parametrize("name", OTHER_EVENTS)
    def test_documented_events_keep_raw_data(self, name: str) -> None:
        """Every other documented event parses, with its data kept as sent."""
        data = {"customerId": "pc_1", "nested": {"credits": 12.5, "list": [1, 2]}}
        event = parse(envelope(name, data))
        assert (name, data) == (event.event, event.data)

    def test_known_events_lists_every_documented_name(self) -> None:
        """KNOWN_EVENTS is the documented list, DICOM events included."""
        expected = {*OTHER_EVENTS, "dicom.report.attached", "dicom.report.detached"}
        assert expected == KNOWN_EVENTS

    def test_unknown_event_name_parses(self) -> None:
        """A name this SDK does not know is kept as sent, with raw data."""
        event = parse(envelope("dicom.study.indexed", {"studyInstanceUid": "1.2.3"}))
        expected = ("dicom.study.indexed", {"studyInstanceUid": "1.2.3"})
        assert expected == (event.event, event.data)

    def test_missing_data_is_empty(self) -> None:
        """An event without ``data`` parses with an empty mapping."""
        event = parse(signed_envelope(event="credits.depleted", timestamp=now_iso()))
        assert not event.data
        assert isinstance(event.data, dict)


class TestMalformedSignedBodies:
    @pytest.mark.parametrize(
        "body",
        [
            pytest.param(b"{not json", id="not-json"),
            pytest.param(b"\xff\xfe\x00garbage", id="not-utf8"),
            pytest.param(b"", id="empty"),
            pytest.param(b"[1, 2]", id="array"),
            pytest.param(b'"dicom.report.attached"', id="string"),
            pytest.param(b'{"timestamp": "2026-05-13T15:42:11Z", "data": {}}', id="no-event"),
            pytest.param(b'{"event": 7, "data": {}}', id="event-not-string"),
            pytest.param(b'{"event": "credits.low", "timestamp": "yesterday"}', id="bad-time"),
            pytest.param(
                b'{"event": "dicom.report.attached", "data": {"customerId": "pc_1"}}',
                id="attached-without-report",
            ),
            pytest.param(b'{"event": "dicom.report.detached", "data": []}', id="data-not-object"),
            pytest.param(b"[" * 100_000 + b"]" * 100_000, id="deeply-nested"),
        ],
    )
    def test_signed_but_malformed_is_invalid_response(self, body: bytes) -> None:
        """A body whose signature holds but is not an event raises InvalidResponseError."""
        with pytest.raises(InvalidResponseError, match="signed but") as caught:
            parse(body)
        assert not isinstance(caught.value, WebhookSignatureError)

    def test_error_names_the_bad_field(self) -> None:
        """The error says which field did not fit."""
        body = envelope("dicom.report.attached", {**ATTACHED, "report": {"title": "no id"}})
        with pytest.raises(InvalidResponseError, match="report_id"):
            parse(body)


class TestTolerance:
    def body_at(self, offset: timedelta) -> bytes:
        return signed_envelope(event=EVENT, timestamp=now_iso(offset), data={})

    def test_off_by_default(self) -> None:
        """Without a tolerance, a week-old event still parses (the API signs no timestamp)."""
        expected = EVENT
        assert expected == parse(self.body_at(timedelta(days=-7))).event

    @pytest.mark.parametrize("tolerance", [300, 300.0, timedelta(minutes=5)])
    def test_recent_event_passes(self, tolerance: float | timedelta) -> None:
        """An event stamped now is within any sensible tolerance, in seconds or a timedelta."""
        expected = EVENT
        assert expected == parse(self.body_at(timedelta()), tolerance=tolerance).event

    @pytest.mark.parametrize(
        ("offset", "word"), [(timedelta(hours=-1), "old"), (timedelta(hours=1), "future")]
    )
    def test_outside_tolerance_is_rejected(self, offset: timedelta, word: str) -> None:
        """An event an hour old, or an hour ahead, fails a five-minute tolerance."""
        with pytest.raises(WebhookSignatureError, match=word) as caught:
            parse(self.body_at(offset), tolerance=timedelta(minutes=5))
        expected = "WEBHOOK_TIMESTAMP_OUT_OF_TOLERANCE"
        assert expected == caught.value.code

    def test_missing_timestamp_is_rejected(self) -> None:
        """With a tolerance, an event with no timestamp cannot prove its age."""
        with pytest.raises(WebhookSignatureError, match="no timestamp"):
            parse(signed_envelope(event="credits.low", data={}), tolerance=300)

    def test_checked_after_the_signature(self) -> None:
        """A bad signature is reported as such even when the event is also stale."""
        body = self.body_at(timedelta(days=-1))
        with pytest.raises(WebhookSignatureError, match="does not match"):
            construct_event(body, "0" * 64, SECRET, tolerance=60)

    @pytest.mark.parametrize(
        ("tolerance", "error"),
        [
            (-1, ValueError),
            (timedelta(seconds=-1), ValueError),
            (float("nan"), ValueError),
            (float("inf"), ValueError),
            (True, TypeError),
            ("300", TypeError),
        ],
    )
    def test_bad_tolerance_is_refused(self, tolerance: Any, error: type[Exception]) -> None:
        """A negative, non-finite or non-numeric tolerance is a programming error."""
        with pytest.raises(error, match="tolerance"):
            parse(self.body_at(timedelta()), tolerance=tolerance)


class TestConverter:
    def test_given_converter_is_used(self, attached_body: bytes) -> None:
        """A converter passed in does the structuring."""
        marker = WebhookEvent(event="from.the.given.converter")
        converter = make_converter()
        converter.register_structure_hook(WebhookEvent, lambda data, cl: marker)
        assert marker is parse(attached_body, converter=converter)

    def test_no_module_level_converter(self) -> None:
        """The module holds no converter: each call or router owns its own."""
        found = [name for name, v in vars(webhooks).items() if isinstance(v, cattrs.Converter)]
        assert not found
