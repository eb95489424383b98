"""``AsyncPager``: walk a paginated listing item by item, or page by page.

Iterating everything asks for the largest page the API allows (200) unless a ``page_size`` was
given, to spend the fewest requests of the rate budget. The walk ends at ``totalPages`` when
the server sends it, else at the first short or empty page (the API may omit its totals).

``async for item in pager`` pipelines: as soon as page n arrives (and is not the last), page
n + 1 is requested, BEFORE page n's items are turned into models, so the server works on the
next page while this client structures the current one and the caller handles its items. That
hides the client's parsing time behind the server's; the price is that a caller who stops early
may leave one page request in flight (it is cancelled, and it did spend one request of the rate
budget). ``pages()`` fetches one page at a time, when the iteration gets there, unless
asked to ``prefetch``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, Generic, TypeVar

import attrs

from bigmind_async._models import Pagination

__all__ = ["MAX_PAGE_SIZE", "AsyncPager", "Page", "PageDraft"]

T = TypeVar("T")

MAX_PAGE_SIZE = 200


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of a listing.

    Attributes:
        items: The page's items.
        pagination: Where the page sits; ``total`` / ``total_pages`` may be ``None``.
        request_id: The ``X-Request-Id`` of the answer that carried it.
    """

    items: list[T]
    pagination: Pagination
    request_id: str | None = None

    def is_last(self) -> bool:
        """Whether no page follows this one."""
        return _is_last(self.pagination, len(self.items))


@attrs.frozen(kw_only=True)
class PageDraft(Generic[T]):
    """A page as it came off the wire, its items not yet turned into models.

    Enough to tell whether another page follows, so the pager can ask for it before paying
    for the models of this one.

    Attributes:
        pagination: Where the page sits.
        count: How many items it holds.
        build: Turns it into the :class:`Page` (structures the items).
    """

    pagination: Pagination
    count: int
    build: Callable[[], Page[T]]

    def is_last(self) -> bool:
        """Whether no page follows this one."""
        return _is_last(self.pagination, self.count)


def _is_last(p: Pagination, count: int) -> bool:
    if not count:
        return True
    if p.total_pages is not None:
        return p.page >= p.total_pages
    if p.total is not None:
        return (p.page - 1) * p.limit + count >= p.total
    return count < p.limit


#: Fetches page ``page`` (from 1) of ``limit`` items, built or as a draft.
FetchPage = Callable[[int, int], Awaitable["Page[T] | PageDraft[T]"]]

#: Event-loop turns granted to a prefetch so its request is on the wire before the current
#: page's models are built (building is CPU work that would otherwise delay the send).
_SEND_TURNS = 3


class AsyncPager(Generic[T]):
    """An async iterator over every item of a listing, across pages.

    ``async for study in client.studies.list(customer_id): ...`` walks all items;
    ``async for page in pager.pages(): ...`` walks pages (``page.items``, ``page.pagination``).
    Nothing is requested until the iteration starts; each iteration starts from page 1.
    """

    def __init__(self, fetch_page: FetchPage[T], *, page_size: int | None = None) -> None:
        self._fetch_page = fetch_page
        self.page_size = page_size if page_size is not None else MAX_PAGE_SIZE

    def __repr__(self) -> str:
        return f"AsyncPager(page_size={self.page_size})"

    def pages(self, *, prefetch: bool = False) -> AsyncIterator[Page[T]]:
        """Every page, in order.

        By default each page is requested when the iteration gets there. With
        ``prefetch=True`` page n + 1 is requested as soon as page n arrives, before its models
        are built (what ``async for item in pager`` does): faster for a whole walk, but a caller
        who stops early leaves one request in flight (cancelled; it did spend one request of
        the rate budget).
        """
        return self._prefetched_pages() if prefetch else self._pages()

    async def _pages(self) -> AsyncIterator[Page[T]]:
        number = 1
        while True:
            page = _built(await self._fetch_page(number, self.page_size))
            yield page
            if page.is_last():
                return
            number += 1

    async def _prefetched_pages(self) -> AsyncGenerator[Page[T], None]:
        number = 1
        upcoming: asyncio.Future[Page[T] | PageDraft[T]] | None = self._prefetch(number)
        try:
            while upcoming is not None:
                fetched = await upcoming
                upcoming = None if fetched.is_last() else self._prefetch(number + 1)
                number += 1
                if upcoming is not None:
                    for _ in range(_SEND_TURNS):
                        await asyncio.sleep(0)
                yield _built(fetched)
        finally:
            if upcoming is not None:
                upcoming.cancel()

    async def _items(self) -> AsyncIterator[T]:
        async with contextlib.aclosing(self._prefetched_pages()) as pages:
            async for page in pages:
                for item in page.items:
                    yield item

    def _prefetch(self, number: int) -> asyncio.Future[Page[T] | PageDraft[T]]:
        task = asyncio.ensure_future(self._fetch_page(number, self.page_size))
        task.add_done_callback(_consume_outcome)
        return task

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def to_list(self) -> list[T]:
        """All items in one list (the whole listing in memory: mind its size)."""
        return [item async for item in self]


def _built(fetched: Page[T] | PageDraft[T]) -> Page[T]:
    return fetched.build() if isinstance(fetched, PageDraft) else fetched


def _consume_outcome(task: asyncio.Future[Any]) -> None:
    """Mark an abandoned prefetch's error as seen (no "exception never retrieved" noise)."""
    if not task.cancelled():
        task.exception()
