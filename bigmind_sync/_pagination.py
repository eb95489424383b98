"""``Pager``: the sync face of :class:`~bigmind_async.AsyncPager`.

It holds no pagination logic: every iteration opens the async pager on the client's portal
and steps it there one PAGE at a time (item iteration walks ``pages(prefetch=True)`` and hands
out each page's items in the calling thread: one cross-thread hand-off per page, not per item).
Breaking out of a ``for`` loop, calling ``close()`` on the iterator, or dropping it closes the
async generator on the loop.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Generic, TypeVar

from bigmind_async import AsyncBigMind, AsyncPager, Page
from bigmind_sync._mirror import mirrors

if TYPE_CHECKING:
    from bigmind_sync._client import BigMind

__all__ = ["Pager"]

T = TypeVar("T")


class Pager(Generic[T]):
    """An iterator over every item of a listing, across pages.

    ``for study in client.studies.list(customer_id): ...`` walks all items;
    ``for page in pager.pages(): ...`` walks pages (``page.items``, ``page.pagination``).
    Nothing is requested until the iteration starts; each iteration starts from page 1.
    Pages come over from the client's event loop whole, so walking items costs one hand-off
    per page; like ``AsyncPager``, item iteration asks for the next page before it is needed.

    Attributes:
        page_size: Items asked for per page (200, the API's largest, unless given).
    """

    def __init__(
        self,
        client: BigMind,
        open_pager: Callable[[AsyncBigMind], AsyncPager[T]],
        *,
        page_size: int,
    ) -> None:
        self._client = client
        self._open_pager = open_pager
        self.page_size = page_size

    def __repr__(self) -> str:
        return f"Pager(page_size={self.page_size})"

    def _open(self, client: AsyncBigMind) -> AsyncPager[T]:
        pager = self._open_pager(client)
        pager.page_size = self.page_size
        return pager

    def __iter__(self) -> Generator[T, None, None]:
        pages = self.pages(prefetch=True)
        try:
            for page in pages:
                yield from page.items
        finally:
            pages.close()

    @mirrors(AsyncPager.pages)
    def pages(self, *, prefetch: bool = False) -> Generator[Page[T], None, None]:
        return self._client._iterate(lambda c: self._open(c).pages(prefetch=prefetch))

    @mirrors(AsyncPager.to_list)
    def to_list(self) -> list[T]:
        return self._client._call(lambda c: self._open(c).to_list())
