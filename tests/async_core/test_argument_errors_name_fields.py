"""Every argument the client refuses is a ValidationError whose ``fields`` names it, raised
before any request; a file name taken from a path or a file object is held to the same rule
as ``filename=`` (no control characters)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from bigmind_async import AsyncBigMind, ValidationError

PDF = b"%PDF-1.7\n" + b"x" * 2000


def _api_requests(emulator) -> int:  # type: ignore[no-untyped-def]
    routes = emulator.emu.stats.requests_by_route
    return sum(n for route, n in routes.items() if route not in ("side_channel", "download"))


def _named(name: str) -> io.BytesIO:
    handle = io.BytesIO(PDF)
    handle.name = name  # type: ignore[attr-defined]
    return handle


async def _refused(emulator, call) -> ValidationError:  # type: ignore[no-untyped-def]
    before = _api_requests(emulator)
    with pytest.raises(ValidationError) as info:
        await call
    assert before == _api_requests(emulator)
    assert info.value.status is None
    return info.value


class TestAttachArguments:
    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"is_primary": "yes"}, "is_primary"),
            ({"silent": 1}, "silent"),
            ({"title": "a\nb"}, "title"),
            ({"title": 3}, "title"),
            ({"on_progress": "print"}, "on_progress"),
            ({"filename": "   "}, "filename"),
            ({"filename": "r\x00.pdf"}, "filename"),
            ({"file": io.StringIO("text")}, "file"),
            ({"file": _named("/tmp/r\x1b[31m.pdf"), "filename": None}, "file"),
        ],
    )
    async def test_fields_name_the_argument(
        self, client: AsyncBigMind, emulator, kwargs: dict[str, Any], field: str
    ) -> None:  # type: ignore[no-untyped-def]
        """``error.fields == [argument]`` and no request went out."""
        args: dict[str, Any] = {"file": PDF, "filename": "r.pdf", **kwargs}
        file = args.pop("file")
        error = await _refused(
            emulator,
            client.reports.attach(emulator.customer_id, emulator.study_uid, file, **args),
        )
        assert ([field], True) == (error.fields, error.message.startswith(field + ": "))

    async def test_path_whose_name_has_a_control_character(
        self, client: AsyncBigMind, emulator, tmp_path: Path
    ) -> None:  # type: ignore[no-untyped-def]
        """A path named ``a<LF>b.pdf`` is refused like ``filename="a\\nb.pdf"`` would be."""
        path = tmp_path / "a\nb.pdf"
        path.write_bytes(PDF)
        error = await _refused(
            emulator, client.reports.attach(emulator.customer_id, emulator.study_uid, path)
        )
        assert (["file"], True) == (error.fields, "control characters" in error.message)


class TestOtherArguments:
    async def test_download_destination(self, client: AsyncBigMind, emulator) -> None:  # type: ignore[no-untyped-def]
        """A destination that is not a path names ``destination``."""
        error = await _refused(
            emulator,
            client.reports.download(emulator.customer_id, "rep_1", 3),  # type: ignore[arg-type]
        )
        assert ["destination"] == error.fields

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"page": 0}, "page"),
            ({"modality": 3}, "modality"),
            ({"indexed_from": 5}, "indexed_from"),
        ],
    )
    async def test_study_listing(
        self, client: AsyncBigMind, emulator, kwargs: dict[str, Any], field: str
    ) -> None:  # type: ignore[no-untyped-def]
        """Listing arguments name themselves too."""
        error = await _refused(
            emulator, client.with_raw_response.studies.list(emulator.customer_id, **kwargs)
        )
        assert [field] == error.fields
