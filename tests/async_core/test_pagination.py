"""AsyncPager: every item across pages, with and without the server's totals."""

from __future__ import annotations

import asyncio

import pytest

from bigmind_async import AsyncBigMind, AsyncPager, Page, Pagination
from bigmind_async._pagination import PageDraft


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


class TestPagerPipelining:
    async def test_next_page_is_requested_before_the_items_are_handed_out(self) -> None:
        """While the caller reads page n, page n + 1 is already on its way."""
        calls, pager = _fake(30, totals=True)
        iterator = aiter(pager)
        assert 0 == await anext(iterator)
        await asyncio.sleep(0)  # let the prefetch task start
        assert [(1, 10), (2, 10)] == calls
        await iterator.aclose()  # type: ignore[attr-defined]

    @pytest.mark.parametrize(("prefetch", "expected"), [(False, [1]), (True, [1, 2])])
    async def test_pages_prefetch_is_opt_in(self, prefetch: bool, expected: list[int]) -> None:
        """pages() asks for a page when it is reached, unless told to prefetch."""
        calls, pager = _fake(30, totals=True)
        pages = pager.pages(prefetch=prefetch)
        await anext(pages)
        await asyncio.sleep(0)
        assert expected == [page for page, _ in calls]
        await pages.aclose()  # type: ignore[attr-defined]

    async def test_next_request_goes_out_before_models_are_built(self) -> None:
        """A draft page's models are built only once the next page's request has started."""
        events: list[str] = []

        async def fetch(page: int, limit: int) -> PageDraft[int]:
            events.append(f"fetch {page}")
            pagination = Pagination(page=page, limit=limit, total=6, total_pages=2)

            def build() -> Page[int]:
                events.append(f"build {page}")
                return Page(items=[page] * limit, pagination=pagination)

            return PageDraft(pagination=pagination, count=limit, build=build)

        assert [1, 1, 1, 2, 2, 2] == [i async for i in AsyncPager(fetch, page_size=3)]
        assert ["fetch 1", "fetch 2", "build 1", "build 2"] == events

    async def test_stopping_early_cancels_the_prefetch(self) -> None:
        """Closing the iterator cancels the request for the page nobody will read."""
        started = asyncio.Event()
        cancelled = asyncio.Event()

        async def fetch(page: int, limit: int) -> Page[int]:
            if page == 2:
                started.set()
                try:
                    await asyncio.sleep(3600)
                except asyncio.CancelledError:
                    cancelled.set()
                    raise
            return Page(items=list(range(limit)), pagination=Pagination(page=page, limit=limit))

        iterator = aiter(AsyncPager(fetch, page_size=5))
        assert 0 == await anext(iterator)
        await started.wait()
        await iterator.aclose()  # type: ignore[attr-defined]
        await asyncio.wait_for(cancelled.wait(), 5)

    async def test_a_failing_next_page_surfaces_after_the_current_items(self) -> None:
        """Page 2's error is raised once page 1's items are all out, not before."""

        async def fetch(page: int, limit: int) -> Page[int]:
            if page == 2:
                raise ValueError("page 2 broke")
            return Page(items=[1, 2, 3], pagination=Pagination(page=page, limit=3))

        seen: list[int] = []

        async def walk() -> None:
            async for item in AsyncPager(fetch, page_size=3):
                seen.append(item)

        with pytest.raises(ValueError, match="page 2 broke"):
            await walk()
        assert [1, 2, 3] == seen


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
