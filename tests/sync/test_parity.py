"""The sync facade cannot drift from the async core: same names, parameters, defaults, docs."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

import bigmind_async
import bigmind_async.errors
import bigmind_async.webhooks
import bigmind_sync
from bigmind_async import (
    AsyncBigMind,
    AsyncPager,
    AsyncReports,
    AsyncReportsRaw,
    AsyncStudies,
    AsyncStudiesRaw,
)
from bigmind_async import RawResponses as AsyncRawResponses
from bigmind_sync import BigMind, Pager, RawResponses, Reports, ReportsRaw, Studies, StudiesRaw
from bigmind_sync._mirror import args_section

#: (async class, sync class): every public member of the first must be on the second.
PAIRS: list[tuple[type[Any], type[Any]]] = [
    (AsyncBigMind, BigMind),
    (AsyncStudies, Studies),
    (AsyncReports, Reports),
    (AsyncStudiesRaw, StudiesRaw),
    (AsyncReportsRaw, ReportsRaw),
    (AsyncRawResponses, RawResponses),
    (AsyncPager, Pager),
]

#: Async names and their sync counterparts where the two worlds spell them differently.
RENAMED = {"aclose": "close", "__aenter__": "__enter__", "__aexit__": "__exit__"}
#: Members whose docstring says "close" where the async one says "aclose".
OWN_DOCS = {(BigMind, "close"), (BigMind, "is_closed")}


def public_members(cls: type[Any]) -> dict[str, Any]:
    """Public attributes defined by ``cls`` (and its bases below ``object``), by name."""
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__[:-1]):
        for name, value in vars(klass).items():
            if not name.startswith("_") or name in ("__init__", *RENAMED, *RENAMED.values()):
                members[name] = value
    return members


def parameters(fn: Any) -> list[tuple[str, Any, Any, Any]]:
    """(name, kind, default, annotation) of every parameter (annotations are strings here)."""
    return [
        (p.name, p.kind, p.default, p.annotation) for p in inspect.signature(fn).parameters.values()
    ]


def instance_attributes(cls: type[Any]) -> set[str]:
    """Public attributes an instance gets in ``__init__`` (resources, ``page_size``)."""
    source = inspect.getsource(cls)
    return {
        line.split("self.", 1)[1].split("=", 1)[0].strip().split(":")[0]
        for line in source.splitlines()
        if line.strip().startswith("self.") and "=" in line and line.strip()[5] != "_"
    }


class TestSignatureParity:
    """``inspect.signature`` of every public method and property matches, pair by pair."""

    @pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
    def test_same_public_members(self, async_cls: type[Any], sync_cls: type[Any]) -> None:
        """Every public async member exists on the sync class, and nothing more."""
        expected = {RENAMED.get(n, n) for n in public_members(async_cls)}
        actual = set(public_members(sync_cls))
        assert sorted(expected) == sorted(actual)

    @pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
    def test_same_parameters(self, async_cls: type[Any], sync_cls: type[Any]) -> None:
        """Names, kinds, defaults and annotations of every parameter are the same."""
        sync_members = public_members(sync_cls)
        for name, member in public_members(async_cls).items():
            if name == "__init__" and async_cls is not AsyncBigMind:
                continue  # resources and pagers are built by the client, from different things
            if name.startswith("__a"):
                continue  # __aenter__/__aexit__: checked by test_context_manager
            counterpart = sync_members[RENAMED.get(name, name)]
            if isinstance(member, property):
                assert isinstance(counterpart, property), name
                continue
            assert callable(counterpart), name
            assert parameters(member) == parameters(counterpart), f"{sync_cls.__name__}.{name}"

    @pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
    def test_same_docstrings(self, async_cls: type[Any], sync_cls: type[Any]) -> None:
        """Each forwarding method carries the async method's docstring."""
        sync_members = public_members(sync_cls)
        for name, member in public_members(async_cls).items():
            sync_name = RENAMED.get(name, name)
            if name == "__init__" or name.startswith("__a") or (sync_cls, sync_name) in OWN_DOCS:
                continue
            assert inspect.getdoc(member) == inspect.getdoc(sync_members[sync_name]), name

    @pytest.mark.parametrize(("async_cls", "sync_cls"), PAIRS, ids=lambda c: c.__name__)
    def test_same_instance_attributes(self, async_cls: type[Any], sync_cls: type[Any]) -> None:
        """Attributes set per instance (``studies``, ``reports``, ``page_size``...) match."""
        assert instance_attributes(async_cls) == instance_attributes(sync_cls)

    def test_context_manager(self) -> None:
        """``with BigMind()`` mirrors ``async with AsyncBigMind()``."""
        assert parameters(AsyncBigMind.__aexit__) == parameters(BigMind.__exit__)

    def test_constructor_arguments_documented_as_in_async(self) -> None:
        """``help(BigMind)`` lists the async client's ``Args:`` block, word for word."""
        args = args_section(AsyncBigMind)
        assert args.startswith("Args:\n    api_key:")
        assert args in (BigMind.__doc__ or "")

    def test_close_is_documented_like_aclose(self) -> None:
        """The one renamed method says the same thing about views and idempotence."""
        words = " ".join((BigMind.close.__doc__ or "").split())
        assert "Idempotent; a view closes the client it came from" in words


class TestExports:
    """``bigmind_sync`` re-exports the core's models and errors: the same classes, not copies."""

    def test_all_names_exist(self) -> None:
        """Nothing in __all__ is missing."""
        assert [] == [n for n in bigmind_sync.__all__ if not hasattr(bigmind_sync, n)]

    def test_all_is_sorted(self) -> None:
        """__all__ is sorted the way ruff (RUF022) sorts it."""

        def key(name: str) -> tuple[int, str]:
            return (0 if name.isupper() else 1 if name[0].isupper() else 2), name

        assert sorted(bigmind_sync.__all__, key=key) == bigmind_sync.__all__

    def test_errors_are_the_core_classes(self) -> None:
        """``except bigmind_sync.NotFoundError`` catches what the core raises."""
        for name in bigmind_async.errors.__all__:
            if name[0].isupper():
                assert getattr(bigmind_sync, name) is getattr(bigmind_async.errors, name), name

    def test_models_are_the_core_classes(self) -> None:
        """Every model and helper the core exports (bar its async classes) is the same object."""
        async_only = {n for n in bigmind_async.__all__ if n.startswith("Async")}
        shared = [n for n in bigmind_async.__all__ if n not in async_only and n != "RawResponses"]
        assert [] == [
            n for n in shared if getattr(bigmind_sync, n) is not getattr(bigmind_async, n)
        ]

    def test_webhook_helpers(self) -> None:
        """``verify_signature`` / ``construct_event`` are the core's functions."""
        assert bigmind_sync.verify_signature is bigmind_async.webhooks.verify_signature
        assert bigmind_sync.construct_event is bigmind_async.webhooks.construct_event
