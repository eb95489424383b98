"""``client.studies``: list a customer's DICOM studies and get one.

The ``*Raw`` class does the work and returns :class:`~bigmind_async.APIResponse`; the plain
class (what ``client.studies`` is) returns the parsed values. Arguments are checked before any
request.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bigmind_async._core import Resource
from bigmind_async._models import Pagination, Study, StudyDetail
from bigmind_async._pagination import MAX_PAGE_SIZE, AsyncPager, Page, PageDraft
from bigmind_async._response import APIResponse
from bigmind_async._serialization import format_datetime
from bigmind_async._transport import path_for
from bigmind_async._validation import check_id, check_optional_str, check_study_uid, invalid
from bigmind_async.errors import InvalidResponseError

__all__ = ["AsyncStudies", "AsyncStudiesRaw"]

Moment = datetime | date | str


def _moment(value: Moment | None, argument: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise invalid(argument, "must be a datetime, a date or an ISO 8601 string")


def _page_size(value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE_SIZE:
        raise invalid("page_size", f"must be an int from 1 to {MAX_PAGE_SIZE}, got {value!r}")
    return value


class AsyncStudiesRaw(Resource):
    """``client.with_raw_response.studies``: same calls, returning APIResponse."""

    def _filters(
        self,
        *,
        modality: str | None,
        body_part: str | None,
        q: str | None,
        indexed_from: Moment | None,
        indexed_to: Moment | None,
    ) -> list[tuple[str, str]]:
        params: list[tuple[str, str]] = []
        for key, value in (
            ("from", _moment(indexed_from, "indexed_from")),
            ("to", _moment(indexed_to, "indexed_to")),
            ("modality", check_optional_str(modality, "modality")),
            ("bodyPart", check_optional_str(body_part, "body_part")),
            ("q", check_optional_str(q, "q")),
        ):
            if value is not None:
                params.append((key, value))
        return params

    async def _fetch_draft(
        self, customer_id: str, filters: list[tuple[str, str]], page: int, limit: int
    ) -> APIResponse[PageDraft[Study]]:
        """One page off the wire: its pagination read, its studies not yet structured."""
        path = path_for("customers", customer_id, "dicom-studies")
        params = [("page", str(page)), ("limit", str(limit)), *filters]
        answer = await self._core.transport.request(
            "GET", path, params=params, options=self._options
        )
        data = answer.data
        if not isinstance(data, dict):
            raise InvalidResponseError(
                "list studies: data is not an object",
                status=answer.status,
                request_id=answer.request_id,
            )
        raw_studies: Any = data.get("studies", [])
        if not isinstance(raw_studies, list):
            raise InvalidResponseError(
                "list studies: studies is not a list",
                status=answer.status,
                request_id=answer.request_id,
            )
        raw_pagination: Any = data.get("pagination") or {}
        if isinstance(raw_pagination, dict):
            raw_pagination = {"page": page, "limit": limit, **raw_pagination}
        pagination = self._core.structure(raw_pagination, Pagination, answer)
        structure = self._core.structure

        def build() -> Page[Study]:
            studies = structure(raw_studies, list[Study], answer)
            return Page(items=studies, pagination=pagination, request_id=answer.request_id)

        draft = PageDraft(pagination=pagination, count=len(raw_studies), build=build)
        return answer.to_response(draft, "GET", path)

    async def list(
        self,
        customer_id: str,
        *,
        modality: str | None = None,
        body_part: str | None = None,
        q: str | None = None,
        indexed_from: Moment | None = None,
        indexed_to: Moment | None = None,
        page: int = 1,
        page_size: int | None = None,
    ) -> APIResponse[Page[Study]]:
        """One page of the listing (raw access has no pager: ask for the page you want)."""
        check_id(customer_id, "customer_id")
        if isinstance(page, bool) or not isinstance(page, int) or page < 1:
            raise invalid("page", f"must be an int >= 1, got {page!r}")
        filters = self._filters(
            modality=modality,
            body_part=body_part,
            q=q,
            indexed_from=indexed_from,
            indexed_to=indexed_to,
        )
        limit = _page_size(page_size) or MAX_PAGE_SIZE
        response = await self._fetch_draft(customer_id, filters, page, limit)
        return response.with_parsed(response.parsed.build())

    async def get(self, customer_id: str, study_uid: str) -> APIResponse[StudyDetail]:
        """One study with its entity and report count."""
        check_id(customer_id, "customer_id")
        check_study_uid(study_uid)
        path = path_for("customers", customer_id, "dicom-studies", study_uid)
        answer = await self._core.transport.request("GET", path, options=self._options)
        study = self._core.structure(answer.data, StudyDetail, answer)
        return answer.to_response(study, "GET", path)


class AsyncStudies(Resource):
    """``client.studies``: a customer's DICOM studies."""

    def __init__(self, core: Any, options: Any) -> None:
        super().__init__(core, options)
        self._raw = AsyncStudiesRaw(core, options)

    def list(
        self,
        customer_id: str,
        *,
        modality: str | None = None,
        body_part: str | None = None,
        q: str | None = None,
        indexed_from: Moment | None = None,
        indexed_to: Moment | None = None,
        page_size: int | None = None,
    ) -> AsyncPager[Study]:
        """Every study of the customer matching the filters, as an :class:`AsyncPager`.

        ``indexed_from`` / ``indexed_to`` filter on when AI Lens indexed the study. Arguments
        are checked now; requests go out as the pager is iterated (200 per page unless
        ``page_size`` says otherwise).
        """
        check_id(customer_id, "customer_id")
        filters = self._raw._filters(
            modality=modality,
            body_part=body_part,
            q=q,
            indexed_from=indexed_from,
            indexed_to=indexed_to,
        )
        size = _page_size(page_size)
        raw = self._raw

        async def fetch(page: int, limit: int) -> PageDraft[Study]:
            return (await raw._fetch_draft(customer_id, filters, page, limit)).parsed

        return AsyncPager(fetch, page_size=size)

    async def get(self, customer_id: str, study_uid: str) -> StudyDetail:
        """One study, its AI Lens entity and its report count.

        Raises StudyNotFoundError when the UID is unknown OR the study is not indexed yet.
        """
        return (await self._raw.get(customer_id, study_uid)).parsed
