"""The public surface: every name in __all__ exists, and __all__ is sorted."""

from __future__ import annotations

import bigmind_async


class TestExports:
    def test_all_names_exist(self) -> None:
        """Nothing in __all__ is missing."""
        assert [] == [n for n in bigmind_async.__all__ if not hasattr(bigmind_async, n)]

    def test_all_is_sorted(self) -> None:
        """__all__ is kept sorted the way ruff (RUF022) sorts it: CONSTANTS, Classes, others."""

        def key(name: str) -> tuple[int, str]:
            kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
            return kind, name

        assert sorted(bigmind_async.__all__, key=key) == bigmind_async.__all__

    def test_public_classes_are_exported(self) -> None:
        """The names sdk-design.md promises are public."""
        for name in ("AsyncBigMind", "AsyncPager", "Page", "APIResponse", "Timeout"):
            assert name in bigmind_async.__all__
