"""Wire-level helpers for the emulator tests: plain aiohttp requests and envelope checks."""

from __future__ import annotations

import io
import json
import zipfile
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
from multidict import CIMultiDictProxy

from bigmind_async.emulator import Emulator

__test__ = False

PDF = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF\n"
DOC = bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504
TXT = "Impression: no acute findings. Ærø naïve café.\n".encode()


def docx_bytes(*, with_word: bool = True) -> bytes:
    """A minimal DOCX (a ZIP with word/document.xml), or a ZIP without any word/ entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if with_word:
            archive.writestr("word/document.xml", "<w:document/>")
        else:
            archive.writestr("xl/workbook.xml", "<workbook/>")
    return buffer.getvalue()


@dataclass
class Reply:
    """One HTTP exchange, read whole: status, headers, raw body and parsed JSON (if any)."""

    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.raw)

    @property
    def data(self) -> Any:
        body = self.json
        assert body["success"] is True, body
        assert set(body) == {"success", "data"}
        return body["data"]

    def error(self, status: int, code: str) -> dict[str, Any]:
        """Assert the error envelope with ``status`` and ``code``; return ``error``."""
        body = self.json
        assert (status, code) == (self.status, body["error"]["code"]), body
        assert set(body) == {"success", "error"}
        assert body["success"] is False
        assert set(body["error"]) == {"code", "message", "details"}
        assert isinstance(body["error"]["message"], str)
        assert body["error"]["message"]
        assert self.headers["X-Request-Id"].startswith("req_")
        return dict(body["error"])


async def call(session: aiohttp.ClientSession, method: str, url: str, **kwargs: Any) -> Reply:
    """Send one request and read the whole response."""
    async with session.request(method, url, **kwargs) as response:
        return Reply(response.status, response.headers, await response.read())


def form(
    content: bytes | Any,
    file_name: str | None = "report.pdf",
    *,
    content_type: str = "application/octet-stream",
    **fields: str,
) -> aiohttp.FormData:
    """A multipart form with a ``file`` part and the given text fields (names sent raw)."""
    data = aiohttp.FormData(quote_fields=False)
    for name, value in fields.items():
        data.add_field(name, value)
    if file_name is None:
        data.add_field("file", content, content_type=content_type)
    else:
        data.add_field("file", content, filename=file_name, content_type=content_type)
    return data


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Env(Protocol):
    """The shape of the ``emulator`` fixture (tests/conftest.py)."""

    emu: Emulator
    customer_id: str
    study_uids: list[str]
    unindexed_study_uid: str

    @property
    def base_url(self) -> str: ...

    @property
    def api_key(self) -> str: ...

    @property
    def study_uid(self) -> str: ...


def studies_url(env: Env, customer_id: str | None = None) -> str:
    return f"{env.base_url}/customers/{customer_id or env.customer_id}/dicom-studies"


def study_url(env: Env, study_uid: str | None = None, customer_id: str | None = None) -> str:
    return f"{studies_url(env, customer_id)}/{study_uid or env.study_uid}"


def reports_url(env: Env, study_uid: str | None = None, customer_id: str | None = None) -> str:
    return f"{study_url(env, study_uid, customer_id)}/reports"


def report_url(env: Env, report_id: str, customer_id: str | None = None) -> str:
    return f"{env.base_url}/customers/{customer_id or env.customer_id}/reports/{report_id}"
