"""A success answer whose data does not fit the model raises InvalidResponseError carrying that
answer's status and request id (``status is None`` keeps meaning "no request was answered")."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from bigmind_async import AsyncBigMind, InvalidResponseError

from .servers import TinyServer

CUSTOMER = "cus_1"
STUDY = "1.2.840.10008.1"


def _answer(status: int, data: Any) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(
            status=status,
            body=json.dumps({"success": True, "data": data}).encode(),
            content_type="application/json",
            headers={"X-Request-Id": "req_misfit"},
        )

    return handler


async def _raised(server: TinyServer, call: str) -> InvalidResponseError:
    async with AsyncBigMind("sk_test_x", server.url, rate_limit=None, max_retries=0) as client:
        calls: dict[str, Callable[[], Awaitable[object]]] = {
            "attach": lambda: client.reports.attach(
                CUSTOMER, STUDY, b"%PDF-1.7\n", filename="r.pdf"
            ),
            "list_reports": lambda: client.reports.list(CUSTOMER, STUDY),
            "get_study": lambda: client.studies.get(CUSTOMER, STUDY),
        }
        with pytest.raises(InvalidResponseError) as info:
            await calls[call]()
    return info.value


class TestMisfitSuccessBody:
    @pytest.mark.parametrize(
        ("call", "status", "data"),
        [
            ("attach", 201, {"fileName": "r.pdf"}),  # no reportId
            ("list_reports", 200, {"reports": [{"title": "t"}]}),
            ("get_study", 200, {"studyInstanceUid": STUDY}),  # no study
        ],
    )
    async def test_error_carries_status_and_request_id(
        self, call: str, status: int, data: Any
    ) -> None:
        """The misfit is InvalidResponseError with the answer's status and X-Request-Id."""
        async with TinyServer(_answer(status, data)) as server:
            error = await _raised(server, call)
        assert (status, "req_misfit", "req_misfit") == (
            error.status,
            error.request_id,
            error.headers["X-Request-Id"] if error.headers else None,
        )
