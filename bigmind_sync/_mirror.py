"""The one rule that keeps the facade honest: each sync method mirrors an async one.

A sync method is written out (so type checkers see real signatures) as a one-line forward to
the async method of the same name; :func:`mirrors` gives it that method's docstring, and
``tests/sync/test_parity.py`` fails if names, parameters or defaults ever differ.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["args_section", "mirrors"]

F = TypeVar("F", bound=Callable[..., Any])


def mirrors(source: object) -> Callable[[F], F]:
    """Copy ``source.__doc__`` (an async method or property) onto the decorated function."""

    def decorate(fn: F) -> F:
        fn.__doc__ = getattr(source, "__doc__", None)
        return fn

    return decorate


def args_section(source: object) -> str:
    """The ``Args:`` block of ``source``'s docstring (dedented), or ``""`` when it has none."""
    lines = inspect.cleandoc(getattr(source, "__doc__", None) or "").splitlines()
    if "Args:" not in lines:
        return ""
    block = lines[lines.index("Args:") :]
    end = next(
        (i for i in range(1, len(block)) if block[i] and not block[i].startswith(" ")),
        len(block),
    )
    return "\n".join(block[:end]).rstrip()
