"""The converter: round trips of generated models, unknown fields kept, bad bodies wrapped."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bigmind_async import InvalidResponseError, Pagination, Report, ReportType, Study
from bigmind_async._serialization import make_converter, structure

texts = st.text(min_size=1, max_size=20)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(timezone.utc)
).map(lambda d: d.replace(microsecond=d.microsecond // 1000 * 1000))
extras = st.dictionaries(st.sampled_from(["futureField", "xFlag"]), st.integers(), max_size=2)

reports = st.builds(
    Report,
    report_id=texts,
    study_instance_uid=st.none() | texts,
    title=st.none() | texts,
    report_type=st.none() | st.sampled_from(list(ReportType)) | st.just("newtype"),
    is_primary=st.booleans(),
    file_name=st.none() | texts,
    size_bytes=st.none() | st.integers(min_value=0, max_value=26_214_400),
    sha256=st.none() | st.text("0123456789abcdef", min_size=64, max_size=64),
    created_at=st.none() | moments,
    attached_by_partner_key_id=st.none() | texts,
    extra=extras,
)
studies = st.builds(
    Study,
    study_instance_uid=texts,
    entity_id=st.none() | texts,
    modality=st.none() | texts,
    indexed_at=st.none() | moments,
    report_count=st.none() | st.integers(min_value=0, max_value=1000),
    extra=extras,
)


class TestRoundTrip:
    @settings(deadline=None)  # shared CPUs: timing is not the property
    @given(reports)
    def test_report(self, report: Report) -> None:
        """structure(unstructure(x)) == x for any Report."""
        converter = make_converter()
        assert report == converter.structure(converter.unstructure(report), Report)

    @settings(deadline=None)  # shared CPUs: timing is not the property
    @given(studies)
    def test_study(self, study: Study) -> None:
        """structure(unstructure(x)) == x for any Study."""
        converter = make_converter()
        assert study == converter.structure(converter.unstructure(study), Study)

    @settings(deadline=None)  # shared CPUs: timing is not the property
    @given(st.builds(Pagination, page=st.integers(1, 99), limit=st.integers(1, 200),
                     total=st.none() | st.integers(0, 10**6)))  # fmt: skip
    def test_pagination(self, pagination: Pagination) -> None:
        """Pagination round-trips, totals or not."""
        converter = make_converter()
        assert pagination == converter.structure(converter.unstructure(pagination), Pagination)


class TestWire:
    def test_unknown_fields_kept_and_nulls_defaulted(self) -> None:
        """Unknown keys land in extra; null means the default."""
        report = make_converter().structure(
            {"reportId": "alf_1", "sizeBytes": None, "brandNew": [1]}, Report
        )
        assert ({"brandNew": [1]}, None) == (dict(report.extra), report.size_bytes)

    def test_bad_body_is_invalid_response(self) -> None:
        """A body that does not fit the model is InvalidResponseError."""
        with pytest.raises(InvalidResponseError):
            structure(make_converter(), {"sizeBytes": 1}, Report)
