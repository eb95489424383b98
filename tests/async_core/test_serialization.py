"""The converter: round trips of generated models, unknown fields kept, bad bodies wrapped."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from hypothesis import given
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
    @given(reports)
    def test_report(self, report: Report) -> None:
        """structure(unstructure(x)) == x for any Report."""
        converter = make_converter()
        assert report == converter.structure(converter.unstructure(report), Report)

    @given(studies)
    def test_study(self, study: Study) -> None:
        """structure(unstructure(x)) == x for any Study."""
        converter = make_converter()
        assert study == converter.structure(converter.unstructure(study), Study)

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


class TestFastPath:
    """Well-formed answers take a fast path; anything else gets exactly cattrs' answer."""

    WIRE = {  # noqa: RUF012 - read-only test data
        "reportId": "alf_1",
        "reportType": "lab",
        "isPrimary": True,
        "sizeBytes": 5,
        "createdAt": "2026-01-02T03:04:05.123Z",
        "attachedByPartnerKeyId": None,
        "futureField": None,
    }

    @pytest.mark.parametrize(
        "changes",
        [
            {},
            {"sizeBytes": "5"},  # a numeric string: cattrs' int() takes it
            {"isPrimary": 1},  # not a bool: cattrs' bool() decides
            {"createdAt": "2026-01-02T03:04:05.1234567+00:00"},
            {"reportType": "brand-new"},
        ],
    )
    def test_same_result_as_cattrs(self, changes: dict[str, object]) -> None:
        """The model equals what cattrs' generated structurer makes of the same body."""
        from cattrs.gen import make_dict_structure_fn, override

        from bigmind_async._serialization import to_camel

        wire = {**self.WIRE, **changes}
        converter = make_converter()
        fast = structure(converter, wire, Report)
        names = {a.name: to_camel(a.name) for a in Report.__attrs_attrs__ if a.name != "extra"}
        slow_fn = make_dict_structure_fn(
            Report,
            converter,
            **{f: override(rename=k) for f, k in names.items()},
            extra=override(omit=True),
        )
        cleaned = {k: v for k, v in wire.items() if v is not None and k in names.values()}
        slow = slow_fn(cleaned, Report)
        assert slow == attrs_evolve(fast, extra={})
        assert {"futureField": None} == fast.extra

    def test_wrong_shape_still_gets_the_detailed_error(self) -> None:
        """A missing required field fails the fast path and cattrs says which field."""
        with pytest.raises(InvalidResponseError, match=r"reportId|report_id"):
            structure(make_converter(), {"title": "x"}, Report)


def attrs_evolve(obj: Report, **changes: object) -> Report:
    import attrs

    return attrs.evolve(obj, **changes)
