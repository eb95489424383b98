"""AsyncPager: every item across pages, with and without the server's totals."""

from __future__ import annotations

import pytest

from bigmind_async import AsyncBigMind, AsyncPager, Page, Pagination


def _fake(total: int, *, totals: bool) -> tuple[list[tuple[int, int]], AsyncPager[int]]:
    calls: list[tuple[int, int]] = []

    async def fetch(page: int, limit: int) -> Page[int]:
        calls.append((page, limit))
        items = list(range(total))[(page - 1) * limit : page * limit]
        pages = -(-total // limit)
        pagination = Pagination(page=page, limit=limit, total=total if totals else None,
                                total_pages=pages if totals else None)  # fmt: skip
        return Page(items=items, pagination=pagination)

    return calls, AsyncPager(fetch, page_size=10)


class TestPagerLogic:
    @pytest.mark.parametrize("totals", [True, False])
    @pytest.mark.parametrize("total", [0, 1, 10, 25, 30])
    async def test_all_items_once(self, total: int, totals: bool) -> None:
        """Items come out in order, exactly once, whatever the totals."""
        calls, pager = _fake(total, totals=totals)
        assert list(range(total)) == [i async for i in pager]
        expected_pages = max(1, -(-total // 10))
        if not totals and total % 10 == 0 and total:
            expected_pages += 1  # an exact multiple needs one empty page to know it ended
        assert expected_pages == len(calls)

    async def test_pages_expose_pagination(self) -> None:
        """pages() yields Page objects with their pagination."""
        _, pager = _fake(25, totals=True)
        pages = [p async for p in pager.pages()]
        assert [(1, 3), (2, 3), (3, 3)] == [
            (p.pagination.page, p.pagination.total_pages) for p in pages
        ]


class TestPagerOverHttp:
    async def test_iterating_everything_uses_200(self, emulator) -> None:  # type: ignore[no-untyped-def]
        """450 studies with totals: 3 requests of 200."""
        for _ in range(446):
            emulator.emu.add_study(emulator.customer_id)
        async with AsyncBigMind(emulator.api_key, emulator.base_url, rate_limit=None) as client:
            studies = await client.studies.list(emulator.customer_id).to_list()
        assert 450 == len(studies)
        assert 450 == len({s.study_instance_uid for s in studies})
        assert 3 == emulator.emu.stats.requests_by_route["list_studies"]

    async def test_without_totals_a_short_page_ends_it(self) -> None:
        """A server that omits total/totalPages: the short page ends the walk."""
        from bigmind_async.emulator import Emulator

        async with Emulator(rate_limit=None, include_pagination_totals=False) as emu:
            customer = emu.add_customer()
            for _ in range(25):
                emu.add_study(customer)
            async with AsyncBigMind(emu.api_key, emu.base_url) as client:
                pager = client.studies.list(customer, page_size=10)
                pages = [p async for p in pager.pages()]
            assert [10, 10, 5] == [len(p.items) for p in pages]
            assert [None, None, None] == [p.pagination.total for p in pages]
            assert 3 == emu.stats.requests_by_route["list_studies"]
