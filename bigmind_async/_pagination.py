"""``AsyncPager``: walk a paginated listing item by item, or page by page.

Iterating everything asks for the largest page the API allows (200) unless a ``page_size`` was
given, to spend the fewest requests of the rate budget. The walk ends at ``totalPages`` when
the server sends it, else at the first short or empty page (the API may omit its totals).
Each page is fetched lazily, when the iteration gets there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Generic, TypeVar

import attrs

from bigmind_async._models import Pagination

__all__ = ["MAX_PAGE_SIZE", "AsyncPager", "Page"]

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
        p = self.pagination
        if not self.items:
            return True
        if p.total_pages is not None:
            return p.page >= p.total_pages
        if p.total is not None:
            return (p.page - 1) * p.limit + len(self.items) >= p.total
        return len(self.items) < p.limit


#: Fetches page ``page`` (from 1) of ``limit`` items.
FetchPage = Callable[[int, int], Awaitable[Page[T]]]


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

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Every page, in order, fetched one at a time."""
        number = 1
        while True:
            page = await self._fetch_page(number, self.page_size)
            yield page
            if page.is_last():
                return
            number += 1

    async def _items(self) -> AsyncIterator[T]:
        async for page in self.pages():
            for item in page.items:
                yield item

    def __aiter__(self) -> AsyncIterator[T]:
        return self._items()

    async def to_list(self) -> list[T]:
        """All items in one list (the whole listing in memory: mind its size)."""
        return [item async for item in self]
