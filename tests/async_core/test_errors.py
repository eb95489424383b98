"""Mapping of error answers: by code first, then by status."""

from __future__ import annotations

import pickle

import pytest

from bigmind_async import errors as e


class TestMapping:
    @pytest.mark.parametrize(
        ("code", "status", "cls"),
        [
            ("UNAUTHENTICATED", 401, e.UnauthenticatedError),
            ("INVALID_API_KEY", 401, e.InvalidAPIKeyError),
            ("RATE_LIMITED", 429, e.RateLimitError),
            ("TRIAL_EXPIRED", 403, e.TrialExpiredError),
            ("CANNOT_SELL", 403, e.CannotSellError),
            ("VALIDATION_FAILED", 400, e.ValidationError),
            ("INSUFFICIENT_CREDITS", 400, e.InsufficientCreditsError),
            ("CUSTOMER_NOT_FOUND", 404, e.CustomerNotFoundError),
            ("CUSTOMER_EXISTS", 409, e.CustomerExistsError),
            ("INVALID_PLAN", 404, e.InvalidPlanError),
            ("PLAN_NOT_ENABLED", 400, e.PlanNotEnabledError),
            ("FORBIDDEN", 400, e.ForbiddenError),
            ("FORBIDDEN", 403, e.ForbiddenError),
            ("STUDY_NOT_FOUND", 404, e.StudyNotFoundError),
            ("STORAGE_FULL", 402, e.StorageFullError),
            ("FILE_TOO_LARGE", 400, e.FileTooLargeError),
            ("INVALID_REPORT_TYPE", 400, e.InvalidReportTypeError),
            ("REPORT_NOT_FOUND", 404, e.ReportNotFoundError),
            ("INTERNAL_ERROR", 500, e.ServerError),
            ("SOMETHING_NEW", 404, e.NotFoundError),
            ("SOMETHING_NEW", 418, e.BigMindError),
        ],
    )
    def test_code_then_status(self, code: str, status: int, cls: type[e.BigMindError]) -> None:
        """Each documented code maps to its class; an unknown code falls back on status."""
        payload = {"success": False, "error": {"code": code, "message": "m", "details": {"a": 1}}}
        error = e.error_from_response(status, payload, request_id="req_1")
        assert (cls, code, status, "req_1", {"a": 1}) == (
            type(error), error.code, error.status, error.request_id, error.details,
        )  # fmt: skip

    @pytest.mark.parametrize(("status", "cls"), [(502, e.ServerError), (404, e.NotFoundError),
                                                 (429, e.RateLimitError)])  # fmt: skip
    def test_no_envelope(self, status: int, cls: type[e.BigMindError]) -> None:
        """A non-JSON body (payload None) still gives a typed error with the status."""
        assert cls is type(e.error_from_response(status, None))

    def test_errors_pickle(self) -> None:
        """Errors survive pickling (multiprocessing, task queues)."""
        error = e.StudyNotFoundError("m", status=404, request_id="req_1")
        again = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
        assert (e.StudyNotFoundError, 404, "req_1") == (type(again), again.status, again.request_id)
