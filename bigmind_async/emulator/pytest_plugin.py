"""pytest plugin: the ``bigmind_emulator`` fixture, a started ``ThreadedEmulator``.

Loaded automatically through the ``pytest11`` entry point, or with
``-p bigmind_async.emulator.pytest_plugin``. The fixture is synchronous, so it works in sync
and async tests alike (the server runs on its own thread). Configure it per test with the
``bigmind_emulator`` marker, whose keyword arguments go to ``Emulator``::

    @pytest.mark.bigmind_emulator(seed="demo", rate_limit=None)
    def test_something(bigmind_emulator): ...

Without a marker the emulator uses ``Emulator``'s defaults (no seed, 120 requests/minute).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from bigmind_async.emulator._threaded import ThreadedEmulator


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "bigmind_emulator(**kwargs): keyword arguments for the bigmind_emulator fixture's Emulator",
    )


@pytest.fixture
def bigmind_emulator(request: pytest.FixtureRequest) -> Iterator[ThreadedEmulator]:
    """A running Partner API emulator on a free loopback port (``.base_url``, ``.api_key``)."""
    from bigmind_async.emulator._threaded import ThreadedEmulator

    kwargs: dict[str, Any] = {}
    marker = request.node.get_closest_marker("bigmind_emulator")
    if marker is not None:
        kwargs.update(marker.kwargs)
    with ThreadedEmulator(**kwargs) as emu:
        yield emu
